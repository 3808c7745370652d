"""GELF over UDP into the real Elasticsearch: every payload kind, chunking cases, sequences, the template."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ES
from tests.helpers import assert_progression, chunk, compress, free_tcp_port, gelf, read_vector

pytestmark = pytest.mark.integration


def send(port: int, datagrams: list[bytes], pause_every: int = 200) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, d in enumerate(datagrams):
            s.sendto(d, ("127.0.0.1", port))
            if i % pause_every == pause_every - 1:
                time.sleep(0.002)


def noise(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def test_every_payload_kind_lands_with_its_fields_and_sequence(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    # Counter mode: the numbers are exactly seed + n*iterator, n = 0, 1, 2 ... in the order received.
    d = daemon({"SEQUENCE_SEED": "5", "SEQUENCE_ITERATOR": "3", "GELFINGEST_SEQUENCE_MODE": "counter",
                "GELFINGEST_INDEX": "e2e-kinds-%Y.%m.%d",
                "GELFINGEST_CHUNK_TIMEOUT": "1", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    ts = float(int(time.time()) - 3600)  # within --index-max-age: each event names its index by its own day
    expected: dict[str, dict] = {}
    datagrams: list[bytes] = []

    def message(name: str, short: str | None = None, **extra: object) -> bytes:
        nonlocal ts
        ts += 0.001
        expected[name] = {"message": short or name, "ts": ts, **extra}
        return gelf(short or name, timestamp=round(ts, 3), level=6, _case=name, _container_name="web-1",
                    _flag=True, _nested={"k": [1, 2]}, **extra)

    datagrams.append(message("plain"))
    datagrams.append(compress(message("gzip-1"), "gzip", 1))
    for level in (1, 6, 9):
        datagrams.append(compress(message(f"zlib-{level}"), "zlib", level))
    datagrams.append(compress(message("full", full_message="line1\nline2", facility="app"), "gzip"))
    big = noise(12_000, 1)
    in_order = chunk(compress(message("chunked-in-order", "in-order " + big), "gzip"))
    shuffled = chunk(compress(message("chunked-shuffled", "shuffled " + big), "zlib"))
    random.Random(2).shuffle(shuffled)
    dups = chunk(compress(message("chunked-duplicates", "dups " + big), "gzip"))
    dups = dups[:4] + dups[:4] + dups[4:] + dups[-1:]
    # Uncompressed, padded with JSON whitespace to exactly 2 * 1408 bytes: go-gelf's empty third chunk.
    exact = message("chunked-header-only", "h" * 2000)
    header_only = chunk(exact + b" " * (2 * 1408 - len(exact)))
    assert len(header_only) == 3 and len(header_only[-1]) == 12
    # The set with a missing chunk must never produce a document; it expires after 1 s.
    incomplete = chunk(compress(gelf("incomplete " + big, _case="incomplete"), "gzip"))[:-1]
    garbage = [b"", b"x", b"{not json", b"\x1e\x0f\x00", b"\x1e\x0f" + bytes(8) + b"\x05\x02", b"[1]",
               compress(b'{"short_message": ""}', "gzip")]
    datagrams += in_order + shuffled + dups + header_only + incomplete
    mixed: list[bytes] = []
    for i, dgram in enumerate(datagrams):
        mixed.append(dgram)
        if i < len(garbage):
            mixed.append(garbage[i])
    send(d.udp_port, mixed)
    time.sleep(2.5)  # past the chunk timeout, so the sweep runs
    assert d.stop() == 0
    log = d.text()

    docs = elasticsearch.search_all("e2e-kinds-*")
    by_case = {doc["case"]: doc for doc in docs}
    assert set(by_case) == set(expected)
    assert "incomplete" not in by_case
    for name, want in expected.items():
        doc = by_case[name]
        assert doc["message"].strip() == want["message"].strip(), name
        assert doc["host"] == "test-host"
        assert doc["level"] == 6
        assert doc["version"] == "1.1"
        assert doc["source_host"] == "127.0.0.1"
        assert doc["container_name"] == "web-1"
        assert doc["flag"] is True
        assert doc["nested"] == {"k": [1, 2]}
        ms = round(want["ts"] * 1000)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        assert doc["@timestamp"] == iso, name
        assert doc["_index"] == time.strftime("e2e-kinds-%Y.%m.%d", time.gmtime(ms // 1000))
    assert by_case["full"]["full_message"] == "line1\nline2"
    assert by_case["full"]["facility"] == "app"

    sequences = sorted(doc["sequence"] for doc in docs)
    assert sequences == [5 + 3 * n for n in range(len(expected))]
    # The garbage was counted by reason and did not stop anything.
    assert "rejected:" in log
    for reason in ("empty", "invalid_json", "chunk_too_short", "not_an_object", "missing_short_message"):
        assert f"{reason}=" in log, reason
    assert "1 expired" in log
    assert "duplicate chunks" in log and "5 duplicate chunks" in log  # one after completion


def test_template_maps_sequence_as_long(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_INDEX": "e2e-tpl-%Y.%m", "GELFINGEST_TEMPLATE_NAME": "e2e-tpl",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    send(d.udp_port, [gelf("templated", _container_id="abc", _created="2026-11-23T08:00:00.123456789Z")])
    time.sleep(1)
    assert d.stop() == 0
    template = elasticsearch.call("GET", "/_index_template/e2e-tpl")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["e2e-tpl-*"]
    mapping = elasticsearch.call("GET", "/e2e-tpl-*/_mapping")
    (props,) = [m["mappings"]["properties"] for m in mapping.values()]
    assert props["sequence"]["type"] == "long"
    assert props["@timestamp"]["type"] == "date"
    assert props["message"]["type"] == "text"
    assert props["container_id"]["type"] == "keyword"
    assert props["host"]["type"] == props["container_name"]["type"] == "keyword"


def test_ecs_schema_lands_with_its_own_template_and_types(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    """--schema ecs against the real server: Docker's and graypy's datagrams as sent, a chunked one, and a
    value of the wrong type for its ECS home; the template maps every field with its ECS type."""
    d = daemon({"GELFINGEST_SCHEMA": "ecs", "GELFINGEST_INDEX": "e2e-ecs-%Y.%m", "SEQUENCE_SEED": "2",
                "SEQUENCE_ITERATOR": "2", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    datagrams = read_vector("gogelf_gzip_l1") + read_vector("graypy_zlib") + read_vector("gogelf_gzip_chunked_8")
    datagrams.append(compress(gelf("wrong type", level=3, _pid="not-a-pid", _container_name="db-1"), "gzip"))
    send(d.udp_port, datagrams)
    time.sleep(1)
    assert d.stop() == 0
    template = elasticsearch.call("GET", "/_index_template/gelfingest-ecs")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["e2e-ecs-*"]
    elasticsearch.call("POST", "/e2e-ecs-*/_refresh")
    result = elasticsearch.call("POST", "/e2e-ecs-*/_search", {
        "size": 10, "sort": [{"event.sequence": "asc"}], "query": {"match_all": {}}})
    docs = [hit["_source"] for hit in result["hits"]["hits"]]
    assert_progression([doc["event"]["sequence"] for doc in docs], 4, seed=2, iterator=2)
    docker, graypy, chunked, wrong = docs
    assert docker["container"]["name"] == "web-1" and docker["container"]["image"]["name"] == "nginx:1.25"
    assert docker["log"]["level"] == "info" and docker["host"]["name"] == "docker-host"
    assert docker["source"]["ip"] == "127.0.0.1" and docker["gelf"]["tag"] == "3f4e5d6c7b8a"
    assert graypy["process"]["pid"] == 3600 and graypy["log"]["level"] == "warning"
    assert chunked["message"].startswith("gogelf chunked 0 ") and len(chunked["message"]) == 14000
    assert wrong["gelf"]["pid"] == "not-a-pid" and wrong["container"]["name"] == "db-1"
    assert wrong["log"]["level"] == "err"
    # Searchable the ECS way: a term on the keyword, a range on the ip.
    hits = elasticsearch.call("POST", "/e2e-ecs-*/_search", {"query": {"bool": {"filter": [
        {"term": {"log.level": "warning"}}, {"term": {"source.ip": "127.0.0.0/8"}}]}}})
    assert hits["hits"]["total"]["value"] == 1
    mapping = elasticsearch.call("GET", "/e2e-ecs-*/_mapping")
    (props,) = [m["mappings"]["properties"] for m in mapping.values()]
    assert "sequence" not in props
    assert props["event"]["properties"]["sequence"]["type"] == "long"
    assert props["event"]["properties"]["ingested"]["type"] == "date"
    assert props["log"]["properties"]["level"]["type"] == "keyword"
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["container"]["properties"]["name"]["type"] == "keyword"
    assert props["gelf"]["properties"]["created"]["type"] == "date"
    assert props["gelf"]["properties"]["command"]["type"] == "keyword"
    assert props["gelf"]["properties"]["pid"]["type"] == "keyword"


def test_shutdown_flushes_what_is_in_memory(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_INDEX": "e2e-flush", "GELFINGEST_BATCH_MAX_AGE": "3600",
                "GELFINGEST_BATCH_MAX_DOCS": "700", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    send(d.udp_port, [compress(gelf(f"flush {i}", _i=i), "gzip") for i in range(2000)])
    # No pause: what is still in the socket's buffer when the signal comes has reached us too.
    assert d.stop(timeout=60) == 0
    docs = elasticsearch.search_all("e2e-flush")
    assert sorted(doc["i"] for doc in docs) == list(range(2000))
    assert_progression([doc["sequence"] for doc in docs], 2000)
    assert "2000 delivered to elasticsearch" in d.text()


def test_events_go_to_the_index_of_their_own_day(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    """Within a week of now, an event's own day names its index; an older one goes to today's, keeping its
    @timestamp (a sender cannot create an index for every day of the calendar)."""
    d = daemon({"GELFINGEST_INDEX": "e2e-days-%Y.%m.%d", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    midnight = int(time.time()) // 86400 * 86400
    send(d.udp_port, [gelf("before midnight", timestamp=midnight - 0.001), gelf("after", timestamp=midnight),
                      gelf("from 2023", timestamp=1700006400.0)])
    time.sleep(1)
    assert d.stop() == 0
    docs = elasticsearch.search_all("e2e-days-*")
    day = lambda t: time.strftime("e2e-days-%Y.%m.%d", time.gmtime(t))  # noqa: E731
    today = day(time.time())
    assert {doc["message"]: doc["_index"] for doc in docs} == {
        "before midnight": day(midnight - 1), "after": day(midnight), "from 2023": today}
    assert {doc["message"]: doc["@timestamp"] for doc in docs}["from 2023"] == "2023-11-15T00:00:00.000Z"


def test_unreachable_elasticsearch_at_shutdown_spools_and_says_so(daemon) -> None:  # type: ignore[no-untyped-def]
    dead = free_tcp_port()
    d = daemon({"ELASTICSEARCH_HOSTS": f"http://127.0.0.1:{dead}", "GELFINGEST_SHUTDOWN_TIMEOUT": "2",
                "GELFINGEST_RETRY_INITIAL": "0.1"})
    send(d.udp_port, [gelf(f"lost {i}") for i in range(10)])
    time.sleep(1)
    assert d.stop() == 0
    log = d.text()
    assert "Elasticsearch unavailable" in log
    # On disk for the next start, whether spooling began before the signal or at shutdown.
    assert re.search(r"spool: 10 events written \(\d+ bytes\), 0 read back and sent, 10 left on disk", log), log


@pytest.mark.parametrize(("env", "needle"), [({"SEQUENCE_SEED": "abc"}, "SEQUENCE_SEED"),
                                             ({"SEQUENCE_ITERATOR": "0"}, "SEQUENCE_ITERATOR"),
                                             ({"SEQUENCE_SEED": "-3"}, "SEQUENCE_SEED")])
def test_bad_sequence_settings_stop_the_start_with_one_line(env: dict[str, str], needle: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "gelfingest"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_stdout_output_writes_one_document_a_line(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_OUTPUT": "stdout"})
    send(d.udp_port, [gelf("to stdout", _x=1), compress(gelf("second"), "zlib")])
    time.sleep(1)
    assert d.stop() == 0
    time.sleep(0.2)
    docs = [json.loads(line) for line in d.stdout]
    assert [doc["message"] for doc in docs] == ["to stdout", "second"]
    assert docs[0]["sequence"] < docs[1]["sequence"]


def test_a_mapping_conflict_moves_that_field_of_that_event_only_and_says_why(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_INDEX": "e2e-conflict", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    elasticsearch.call("PUT", "/e2e-conflict", {"mappings": {"properties": {"num": {"type": "long"}}}})
    send(d.udp_port, [gelf("good 1", _num=1), gelf("bad", _num="not a number"), gelf("good 2", _num=2)])
    time.sleep(1)
    assert d.stop() == 0
    docs = {doc["message"]: doc for doc in elasticsearch.search_all("e2e-conflict")}
    assert sorted(docs) == ["bad", "good 1", "good 2"]
    assert docs["good 1"]["num"] == 1 and "gelfingest_conflict" not in docs["good 1"]
    assert "num" not in docs["bad"] and json.loads(docs["bad"]["gelfingest_conflict"]) == {"num": "not a number"}
    assert docs["bad"]["tags"] == ["_mappingconflict"]
    log = d.text()
    assert "1 events had a field that did not fit the mapping of their index" in log
    assert "latest: [num] in e2e-conflict: failed to parse field [num] of type [long]" in log
    assert "3 delivered to elasticsearch, 0 failed, 0 to the dead-letter queue" in log


def test_elasticsearch_down_at_start_then_up_loses_nothing(daemon) -> None:  # type: ignore[no-untyped-def]
    from gelfingest.local_es import LocalElasticsearch

    server = LocalElasticsearch()  # its own folder: the server user cannot enter pytest's tmp_path
    es = ES(server.url)
    d = daemon({"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_INDEX": "e2e-late", "GELFINGEST_RETRY_INITIAL": "0.2",
                "GELFINGEST_RETRY_MAX": "2", "GELFINGEST_BATCH_MAX_DOCS": "100"})
    try:
        send(d.udp_port, [compress(gelf(f"early {i}", _i=i), "gzip") for i in range(500)])
        time.sleep(1.5)
        server.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and es.count("e2e-late") < 500:
            time.sleep(1)
        assert d.stop() == 0
        docs = es.search_all("e2e-late")
        assert sorted(doc["i"] for doc in docs) == list(range(500))  # each exactly once
        log = d.text()
        assert "Elasticsearch unavailable" in log
        assert "Elasticsearch takes everything again" in log
    finally:
        server.cleanup()


def test_json_log_format_is_one_object_a_line(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_OUTPUT": "null", "GELFINGEST_LOG_FORMAT": "json"})
    send(d.udp_port, [b"not gelf", gelf("fine")])
    time.sleep(0.5)
    assert d.stop() == 0
    entries = [json.loads(line) for line in d.log if line.strip()]
    assert {e["level"] for e in entries} >= {"info", "warning"}
    assert any("listening on udp=" in e["message"] for e in entries)
    assert any(e["level"] == "warning" and "invalid_json" in e["message"] for e in entries)
    assert all(e["time"].endswith("+00:00") for e in entries)


def test_a_taken_port_stops_the_start_cleanly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "gelfingest"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_TCP": f"127.0.0.1:{port}",
                                   "GELFINGEST_HTTP": "off", "ELASTICSEARCH_HOSTS": f"http://127.0.0.1:{port}",
                                   "GELFINGEST_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 1
    assert "cannot start" in proc.stderr and "address already in use" in proc.stderr
    assert "Unclosed" not in proc.stderr and "Traceback" not in proc.stderr
