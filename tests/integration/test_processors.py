"""Processors (--processors) in the daemon, against the real Elasticsearch and real clients: Docker's
go-gelf sending what containers print (JSON lines whose types conflict, probe lines, secrets), graypy's
extra fields, a reload on SIGHUP, and a file that cannot run."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import graypy
import pytest
import zstandard

from gelfingest.metrics import merge
from gelfingest.storage.snapshots import read_snapshots
from gelfingest.storage.spool import HEADER, scan
from tests.conftest import ES
from tests.integration.test_interop import gogelf_send  # noqa: F401 (the built sender, a shared fixture)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The file compose.yml mounts: what a user starts from.
EXAMPLE = ROOT / "docker" / "processors.yml"
CARD = "4111 1111 1111 1111"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNl"
PASSWORD = "hunter2-correct-horse"


def _lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_containers_json_probes_and_secrets_through_the_example_file(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, gogelf_send: Path, tmp_path: Path) -> None:  # noqa: F811
    index = "proc-example"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_PROCESSORS": str(EXAMPLE)})
    # Two services whose JSON disagrees on the type of status; probes; secrets in text and under keys.
    billing = [json.dumps({"status": 200, "msg": f"paid {i}", "password": PASSWORD}) for i in range(20)]
    search = [json.dumps({"status": {"code": 503, "why": "busy"}, "msg": f"query {i}"}) for i in range(20)]
    probes = ['10.1.0.1 - - "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"'] * 15
    texts = [f"charged card {CARD} for order {i}" for i in range(5)] + [
        f"Authorization: Bearer {TOKEN}", "user mail alice@example.com signed in"]
    for container, lines in (("billing", billing + probes[:5]), ("search", search + probes[5:]),
                             ("shop", texts)):
        subprocess.run([str(gogelf_send), "-addr", f"127.0.0.1:{d.udp_port}",
                        "-lines", str(_lines(tmp_path / f"{container}.txt", lines)), "-container", container],
                       check=True)
    since = time.time()
    counters = d.settled(since, timeout=20)
    assert d.stop() == 0
    docs = elasticsearch.search_all(index)
    # Every line but the probes, the second service's conflicting status included.
    assert len(docs) == 20 + 20 + len(texts), d.text()
    assert counters.dropped == 15 and counters.failed == 0
    assert not any("healthz" in doc["message"] for doc in docs)
    by_msg = {doc["json"]["msg"]: doc for doc in docs if "json" in doc and "msg" in doc["json"]}
    assert by_msg["paid 3"]["json"]["status"] == 200
    assert by_msg["paid 3"]["container_name"] == "app-billing"
    # The JSON's password is gone from the decoded field and from the message it came from.
    stored = json.dumps(docs)
    for secret in (CARD, CARD.replace(" ", ""), TOKEN, PASSWORD, "alice@example.com"):
        assert secret not in stored
        assert secret not in d.text()
    # The second service's object status is kept as its JSON, out of the mapping's way, tagged.
    query = by_msg["query 3"]
    assert "_mappingconflict" in query["tags"]
    assert json.loads(query["gelfingest_conflict"]) == {"json.status": {"code": 503, "why": "busy"}}
    assert "status" not in query["json"]
    dlq = list((d.data_dir / "dlq").rglob("*")) if (d.data_dir / "dlq").exists() else []
    assert not [p for p in dlq if p.is_file() and p.stat().st_size]


def test_graypy_extra_fields_named_as_secrets_are_redacted(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, tmp_path: Path) -> None:
    index = "proc-graypy"
    rules = _lines(tmp_path / "p.yml", [
        "processors:",
        "  - redact:",
        "      fields: [message]",
        "      keys: '(?i)password|api_key'",
        "  - add_tags:",
        "      tags: [python]",
    ])
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_PROCESSORS": str(rules)})
    handler = graypy.GELFUDPHandler("127.0.0.1", d.udp_port)
    logger = logging.getLogger("proc-graypy")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning("login for bob", extra={"password": PASSWORD, "api_key": "AKIAIOSFODNN7EXAMPLE",
                                           "user": "bob"})
    handler.close()
    since = time.time()
    d.settled(since)
    assert d.stop() == 0
    snapshot = merge(read_snapshots(d.data_dir))
    assert snapshot["gelfingest_processor_redacted"][2]["outcome=replaced"] == 2  # password and api_key
    (doc,) = elasticsearch.search_all(index)
    assert doc["user"] == "bob" and doc["tags"] == ["python"]
    assert PASSWORD not in json.dumps(doc) and "AKIAIOSFODNN7EXAMPLE" not in json.dumps(doc)
    assert doc["password"] != PASSWORD and doc["password"]


def test_sighup_reloads_a_valid_file_and_keeps_the_running_one_for_an_invalid_one(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, tmp_path: Path) -> None:
    index = "proc-reload"
    rules = _lines(tmp_path / "p.yml", ["processors:", "  - add_tags:", "      tags: [first]"])
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_PROCESSORS": str(rules)})

    def send(text: str) -> None:
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(json.dumps({"version": "1.1", "host": "h", "short_message": text}).encode(),
                     ("127.0.0.1", d.udp_port))
        time.sleep(0.3)

    def wait_for(line: str) -> None:
        deadline = time.monotonic() + 10
        while line not in d.text():
            assert time.monotonic() < deadline, d.text()
            time.sleep(0.05)

    send("one")
    _lines(rules, ["processors:", "  - add_tags:", "      tags: [second]", "  - drop_event:",
                   "      when: {contains: {message: drop}}"])
    d.proc.send_signal(signal.SIGHUP)
    wait_for("processors loaded from")
    send("two")
    send("drop me")
    _lines(rules, ["processors:", "  - add_tagz:", "      tags: [third]"])
    d.proc.send_signal(signal.SIGHUP)
    wait_for("the processors stay as they were")
    send("three")
    d.settled(time.time())
    assert d.stop() == 0
    tags = {doc["message"]: doc["tags"] for doc in elasticsearch.search_all(index)}
    assert tags == {"one": ["first"], "two": ["second"], "three": ["second"]}
    assert f"{rules}:2: unknown processor 'add_tagz'" in d.text()


@pytest.mark.parametrize(("lines", "problem"), [
    (["processors:", "  - drop_evnt: {}"], ":2: unknown processor 'drop_evnt'"),
    (["processors:", "  - rename:", "      fields:", "        - from: a", "          to: b",
      "      ignore_mising: true"], ":6: rename: unknown parameter 'ignore_mising'"),
    (["processors:", "  - drop_event:", "      when:", "        regexp:", "          message: '(a)\\1'"],
     ":5:"),
    (["processors:", "  - drop_event:", "    when: {}"], ":2:"),
])
def test_a_file_that_cannot_run_stops_the_start_with_one_line(tmp_path: Path, lines: list[str],
                                                              problem: str) -> None:
    path = _lines(tmp_path / "bad.yml", lines)
    out = subprocess.run([sys.executable, "-m", "gelfingest", "--processors", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"gelfingest: --processors / GELFINGEST_PROCESSORS: {path}{problem}"), line
    assert "Traceback" not in out.stderr


def test_hostile_lines_cost_bounded_time_and_other_streams_keep_flowing(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, tmp_path: Path) -> None:
    import urllib.request

    index = "proc-hostile"
    rules = _lines(tmp_path / "p.yml", [
        "processors:",
        "  - drop_event:",
        "      when:",
        "        regexp:",
        "          message: '^(a+)+$'",  # Python's re would backtrack for ever on 'aaaa...!'
        "  - decode_json_fields:",
        "      fields: [message]",
        "      target: json",
        "  - redact: {}",
    ])
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_PROCESSORS": str(rules), "GELFINGEST_HTTP": "127.0.0.1:0"})

    def post(message: str, container: str) -> None:
        body = json.dumps({"version": "1.1", "host": "h", "short_message": message,
                           "_container_name": container}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}/gelf", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=30) as answer:
            assert answer.status == 202

    hostile = [
        json.dumps({f"k{i}": i for i in range(100_000)}),          # about 1 MiB, 100,000 keys
        "[" * 10_000 + "]" * 10_000,                               # 10,000 levels
        "a" * 200_000 + "!",                                       # built for a backtracking regex
        " ".join(f"4111111111111111 a{i}@example.com" for i in range(30_000)),  # redact at ~1 MiB
    ]
    started = time.monotonic()
    for i, line in enumerate(hostile):
        post(line, "attacker")
        post(f"good line {i}", "web")
    took = time.monotonic() - started
    d.settled(time.time(), timeout=30)
    assert d.stop() == 0
    docs = elasticsearch.search_all(index)
    good = sorted(doc["message"] for doc in docs if doc.get("container_name") == "web")
    assert good == [f"good line {i}" for i in range(len(hostile))]
    bad = [doc for doc in docs if doc.get("container_name") == "attacker"]
    assert len(bad) == len(hostile)  # none dropped by the regexp: RE2 answers, and the line does not match
    assert all("json" not in doc for doc in bad)
    # The two JSON ones failed to decode, bounded, and are kept as they came, tagged.
    assert sum("_jsonparsefailure" in doc.get("tags", []) for doc in bad) == 2
    assert "4111111111111111" not in json.dumps(docs)
    assert not d.errors()
    print(f"4 hostile lines and 4 good ones through the daemon in {took:.2f} s")


def test_a_redacted_secret_is_in_no_file_the_daemon_writes_while_elasticsearch_is_down(  # type: ignore[no-untyped-def]
        daemon, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody answers on: Elasticsearch is down
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    rules = _lines(tmp_path / "p.yml", ["processors:", "  - redact:", "      keys: '(?i)password'"])
    d = daemon({"ELASTICSEARCH_HOSTS": down, "GELFINGEST_PROCESSORS": str(rules), "GELFINGEST_SPOOL_AFTER": "0.5",
                "GELFINGEST_RETRY_INITIAL": "0.2", "GELFINGEST_RETRY_MAX": "0.5"}, data_dir=tmp_path / "data")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(200):
            s.sendto(json.dumps({"version": "1.1", "host": "h", "short_message": f"paid with {CARD} #{i}",
                                 "_password": PASSWORD, "_n": i}).encode(), ("127.0.0.1", d.udp_port))
    deadline = time.monotonic() + 20
    while "spooling" not in d.text() and time.monotonic() < deadline:
        time.sleep(0.1)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.stop() == 0  # a second signal: what is in memory goes to the spool at once
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    # Every file as it is, and the spool's records as they are replayed (zstd-compressed on disk).
    contents = [p.read_bytes() for p in files]
    for segment in (p for p in files if p.suffix == ".seg"):
        data = segment.read_bytes()
        records, _ = scan(data)
        contents += [zstandard.ZstdDecompressor().decompress(data[offset + HEADER.size:offset + HEADER.size + n],
                                                             max_output_size=raw)
                     for offset, n, _, raw in records]
    replayed = b"".join(contents)
    assert replayed.count(b"[REDACTED:credit_card]") == 200, d.text()  # all spooled, all redacted
    for secret in (CARD, PASSWORD):
        assert secret.encode() not in replayed
        assert secret not in d.text()
