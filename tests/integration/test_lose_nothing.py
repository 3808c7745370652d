"""Nothing is lost and nothing is indexed twice: Elasticsearch outages, 429 storms, mapping conflicts,
shutdowns and crashes, all against a real Elasticsearch (one of its own here, stopped and started by the
tests, and the session's one where nothing is stopped).

Every message carries a unique ``_tid``; at the end the index must hold each one exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gelfingest.local_es import LocalElasticsearch
from gelfingest.storage.spool import scan
from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_es() -> Iterator[tuple[LocalElasticsearch, ES]]:
    """An Elasticsearch these tests may stop, start and reconfigure; it is started by each test that needs it."""
    server = LocalElasticsearch()
    try:
        yield server, ES(server.url)
    finally:
        server.cleanup()


def ensure_running(server: LocalElasticsearch, **settings: Any) -> None:
    if server.settings != settings or server.process is None:
        server.stop()
        server.settings = dict(settings)
        server.start()


def tids(es: ES, index: str) -> Counter[str]:
    """Every document's ``tid`` in ``index`` (all of them, through a scroll), counted."""
    es.call("POST", f"/{index}/_refresh")
    result = es.call("POST", f"/{index}/_search?scroll=1m&ignore_unavailable=true",
                     {"size": 5000, "_source": ["tid"], "query": {"match_all": {}}})
    found: Counter[str] = Counter()
    while result.get("hits", {}).get("hits"):
        found.update(h["_source"]["tid"] for h in result["hits"]["hits"])
        result = es.call("POST", "/_search/scroll", {"scroll": "1m", "scroll_id": result["_scroll_id"]})
    return found


def wait_for(es: ES, index: str, n: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = es.count(index)
        if count >= n:
            return count
        time.sleep(1)
    return count


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


class TcpSender(threading.Thread):
    """A steady GELF TCP client: ``rate`` messages a second, each with a unique ``_tid``."""

    def __init__(self, port: int, prefix: str, rate: float, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.port, self.prefix, self.rate, self.limit = port, prefix, rate, limit
        self.sent: list[str] = []
        self.broken = False
        self.stopping = threading.Event()

    def run(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port))
        n = 0
        started = time.monotonic()
        while not self.stopping.is_set() and (self.limit is None or n < self.limit):
            tid = f"{self.prefix}{n}"
            try:
                sock.sendall(gelf(f"tcp line {n}", _tid=tid) + b"\0")
            except OSError:
                self.broken = True  # the daemon went away (a test that stops it)
                break
            self.sent.append(tid)
            n += 1
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sock.close()


class HttpSender(threading.Thread):
    """A steady GELF HTTP client that sends a message again when told 503 (as graypy's users would)."""

    def __init__(self, port: int, prefix: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.port, self.prefix, self.rate = port, prefix, rate
        self.accepted: list[str] = []
        self.accepted_at: list[float] = []
        self.refused = 0
        self.retry_after: set[str | None] = set()
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        started = time.monotonic()
        while not self.stopping.is_set():
            tid = f"{self.prefix}{n}"
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/gelf", method="POST",
                                         data=gelf(f"http line {n}", _tid=tid))
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if resp.status == 202:
                        self.accepted.append(tid)
                        self.accepted_at.append(time.monotonic())
                        n += 1
            except urllib.error.HTTPError as exc:
                self.refused += 1
                self.retry_after.add(exc.headers.get("Retry-After"))
                time.sleep(float(exc.headers.get("Retry-After", "1")) / 5)
                continue
            except OSError:
                break  # the daemon went away
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def spool_line(d: Any) -> tuple[int, int]:
    """(events written to the spool, events read back) from the daemon's closing spool line."""
    m = re.search(r"spool: (\d+) events written \(\d+ bytes\), (\d+) read back", d.text())
    return (int(m[1]), int(m[2])) if m else (0, 0)


def test_an_outage_under_tcp_and_http_load_loses_nothing_and_duplicates_nothing(
        own_es: tuple[LocalElasticsearch, ES], daemon) -> None:  # type: ignore[no-untyped-def]
    server, es = own_es
    ensure_running(server)
    d = daemon({"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_INDEX": "outage", "GELFINGEST_TCP": "127.0.0.1:0",
                "GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_SPOOL_AFTER": "2", "GELFINGEST_RETRY_INITIAL": "0.2",
                "GELFINGEST_RETRY_MAX": "2", "GELFINGEST_BATCH_MAX_DOCS": "200", "GELFINGEST_QUEUE_BATCHES": "4"})
    tcp = TcpSender(d.tcp_port, "t", rate=150)
    http = HttpSender(d.http_port, "h", rate=40)
    tcp.start()
    http.start()
    time.sleep(5)
    server.stop()
    down = time.monotonic()
    time.sleep(30)
    during = metrics(d.http_port)
    started = time.monotonic()
    server.start()
    up = time.monotonic()
    print(f"\nElasticsearch took {up - started:.1f} s to start again", flush=True)
    time.sleep(5)
    print(f"\n{time.monotonic() - up:.1f} s after the restart: senders told to stop", flush=True)
    tcp.stopping.set()
    http.stopping.set()
    tcp.join(30)
    http.join(30)
    print(f"{time.monotonic() - up:.1f} s: senders stopped", flush=True)
    sent = tcp.sent + http.accepted
    count = wait_for(es, "outage", len(sent))
    print(f"{time.monotonic() - up:.1f} s: {count} of {len(sent)} in the index", flush=True)
    assert d.stop() == 0
    found = tids(es, "outage")
    missing = set(sent) - set(found)
    assert not missing, f"{len(missing)} of {len(sent)} lost, e.g. {sorted(missing)[:5]}"
    assert max(found.values()) == 1 and len(found) == len(sent) == count  # each exactly once
    assert during["gelfingest_spooling"] == 1 and during["gelfingest_spool_written_events_total"] > 0
    assert during["gelfingest_elasticsearch_available"] == 0
    written, read = spool_line(d)
    assert written > 0 and read > 0
    log = d.text()
    # One line when the outage starts (a restarting server may open a second short one), not one a request.
    assert 1 <= log.count("Elasticsearch unavailable") <= 3 and "spool drained" in log
    print(f"\noutage {up - down:.0f} s (30 s stopped + restart): sent {len(sent)} (tcp {len(tcp.sent)}, http "
          f"{len(http.accepted)}, {http.refused} http 503s resent), spooled {written}, read back from the spool "
          f"{read}, indexed {count}, each exactly once")


def test_started_while_elasticsearch_is_down_then_it_comes_a_minute_later(
        own_es: tuple[LocalElasticsearch, ES], daemon) -> None:  # type: ignore[no-untyped-def]
    server, es = own_es
    server.stop()
    server.settings = {}
    d = daemon({"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_INDEX": "late", "GELFINGEST_TCP": "127.0.0.1:0",
                "GELFINGEST_SPOOL_AFTER": "2", "GELFINGEST_RETRY_INITIAL": "0.2", "GELFINGEST_RETRY_MAX": "2",
                "GELFINGEST_BATCH_MAX_DOCS": "100"})
    tcp = TcpSender(d.tcp_port, "late", rate=20)
    tcp.start()
    time.sleep(60)
    server.start()
    tcp.stopping.set()
    tcp.join(30)
    count = wait_for(es, "late", len(tcp.sent))
    assert d.stop() == 0
    found = tids(es, "late")
    assert set(found) == set(tcp.sent) and max(found.values()) == 1 and count == len(tcp.sent)
    assert spool_line(d)[0] > 0


def test_a_mapping_conflict_goes_to_the_dead_letter_queue_and_replays_after_the_fix(
        elasticsearch: ES, daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "dlq-test", "GELFINGEST_TCP": "127.0.0.1:0"}
    d = daemon(env, data_dir=tmp_path / "data")
    sender = socket.create_connection(("127.0.0.1", d.tcp_port))
    sender.sendall(gelf("level as a number", _tid="n", _detail=5, _count=1) + b"\0")
    time.sleep(1)  # the numbers are mapped first
    # Two fields that do not fit: Elasticsearch names the first, and the re-send with it moved (once) is
    # refused for the second, so the event goes to the dead-letter queue as it was sent.
    sender.sendall(b"".join(gelf(f"good {i}", _tid=f"g{i}") + b"\0" for i in range(3))
                   + gelf("level as an object", _tid="o", _detail={"code": 7, "text": "x"}, _count="many") + b"\0"
                   + gelf("good after", _tid="g3") + b"\0")
    sender.close()
    wait_for(elasticsearch, "dlq-test", 5, timeout=20)
    time.sleep(1)
    assert d.stop() == 0
    assert set(tids(elasticsearch, "dlq-test")) == {"n", "g0", "g1", "g2", "g3"}
    assert "1 to the dead-letter queue" in d.text()

    def gelfingest(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gelfingest", "dlq", *args], capture_output=True, text=True,
                              env={**os.environ, **env, "GELFINGEST_DATA_DIR": str(tmp_path / "data")}, timeout=120)

    inspected = gelfingest("inspect")
    (letter,) = [json.loads(line) for line in inspected.stdout.splitlines()]
    assert letter["document"]["tid"] == "o" and letter["document"]["detail"] == {"code": 7, "text": "x"}
    assert letter["document"]["count"] == "many" and "gelfingest_conflict" not in letter["document"]
    assert letter["status"] == 400 and letter["error"]["type"] == "mapper_parsing_exception"
    assert letter["resent"]["field"] == "detail" and "[count]" in letter["resent"]["error"]["reason"]
    assert letter["index"] == "dlq-test" and letter["op_type"] == "create" and letter["id"]
    assert "1 dead letters in 1 files" in inspected.stderr

    # Replayed unchanged, it is refused again, and kept.
    again = gelfingest("replay")
    assert again.returncode == 1 and "1 refused again" in again.stderr
    assert [json.loads(x)["document"]["tid"] for x in gelfingest("inspect").stdout.splitlines()] == ["o"]

    # The fix: a template that maps detail as an object and count as a string, for the index the letters are
    # replayed into.
    elasticsearch.call("PUT", "/_index_template/dlq-fixed", {
        "index_patterns": ["dlq-fixed*"], "priority": 500,
        "template": {"mappings": {"properties": {"detail": {"type": "object", "enabled": False},
                                                 "count": {"type": "keyword"}}}}})
    fixed = gelfingest("replay", "--to-index", "dlq-fixed")
    assert fixed.returncode == 0, fixed.stderr
    assert "1 indexed, 0 already there, 0 refused again" in fixed.stderr
    docs = elasticsearch.search_all("dlq-fixed")
    assert [(doc["tid"], doc["detail"]) for doc in docs] == [("o", {"code": 7, "text": "x"})]
    assert docs[0]["_id"] == letter["id"]
    assert gelfingest("inspect").stdout == ""


def test_sigterm_under_load_delivers_everything_it_took(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "sigterm",
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0"})
    tcp = TcpSender(d.tcp_port, "t", rate=3000)
    http = HttpSender(d.http_port, "h", rate=200)
    tcp.start()
    http.start()
    time.sleep(3)
    assert d.stop(signal.SIGTERM) == 0
    tcp.stopping.set()
    http.stopping.set()
    tcp.join(30)
    http.join(30)
    decoded = int(re.search(r"(\d+) events decoded", d.text())[1])  # type: ignore[index]
    found = tids(elasticsearch, "sigterm")
    assert set(http.accepted) <= set(found)  # every message answered 202 is in
    assert len(found) == decoded > 5000 and max(found.values()) == 1
    assert spool_line(d) == (0, 0)


def test_a_second_signal_spools_at_once_and_the_next_start_sends_it(
        elasticsearch: ES, daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Small batches, one at a time: Elasticsearch has a backlog when the signals come.
    env = {"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "impatient", "GELFINGEST_TCP": "127.0.0.1:0",
           "GELFINGEST_BATCH_MAX_DOCS": "20", "GELFINGEST_ELASTICSEARCH_CONCURRENCY": "1",
           "GELFINGEST_QUEUE_BATCHES": "1000"}
    d = daemon(env, data_dir=tmp_path)
    TcpSender(d.tcp_port, "i", rate=20000, limit=20000).run()
    started = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    assert d.stop() == 0
    assert time.monotonic() - started < 10
    decoded = int(re.search(r"(\d+) events decoded", d.text())[1])  # type: ignore[index]
    spooled = re.search(r"(\d+) events not delivered before a second signal are in the spool", d.text())
    assert spooled, d.text()
    again = daemon(env, data_dir=tmp_path)
    assert f"{spooled[1]} events in" in again.text()
    count = wait_for(elasticsearch, "impatient", decoded)
    assert again.stop() == 0
    found = tids(elasticsearch, "impatient")
    assert count == len(found) == decoded and max(found.values()) == 1


def test_kill_9_while_spooling_then_a_restart_sends_it_once_and_skips_a_torn_tail(
        own_es: tuple[LocalElasticsearch, ES], daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, es = own_es
    server.stop()
    server.settings = {}
    env = {"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0",
           "GELFINGEST_SPOOL_AFTER": "1", "GELFINGEST_BATCH_MAX_DOCS": "100", "GELFINGEST_RETRY_INITIAL": "0.2",
           "GELFINGEST_RETRY_MAX": "1"}
    runs = {"whole": tmp_path / "whole", "torn": tmp_path / "torn"}
    sent: dict[str, list[str]] = {}
    for name, data_dir in runs.items():
        d = daemon({**env, "GELFINGEST_INDEX": f"crash-{name}"}, data_dir=data_dir)
        sender = TcpSender(d.tcp_port, f"{name}-", rate=2000, limit=3000)
        sender.run()
        sent[name] = sender.sent
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and metrics(d.http_port)["gelfingest_spool_events"] < 3000:
            time.sleep(0.2)
        assert metrics(d.http_port)["gelfingest_spool_events"] == 3000
        d.proc.kill()
        d.proc.wait()
    # A crash in the middle of a write: the last record of the last segment is cut short.
    segment = sorted((runs["torn"] / "spool" / "0").glob("*.seg"))[-1]
    data = segment.read_bytes()
    records, _ = scan(data)
    offset, _, torn_items, _ = records[-1]
    segment.write_bytes(data[:offset + 30])
    server.start()
    for name, data_dir in runs.items():
        d = daemon({**env, "GELFINGEST_INDEX": f"crash-{name}"}, data_dir=data_dir)
        expected = len(sent[name]) - (torn_items if name == "torn" else 0)
        count = wait_for(es, f"crash-{name}", expected)
        time.sleep(1)
        m = metrics(d.http_port)
        assert d.stop() == 0
        found = tids(es, f"crash-{name}")
        assert count == len(found) == expected and max(found.values()) == 1
        assert set(found) <= set(sent[name])
        log = d.text()
        if name == "torn":
            assert m["gelfingest_spool_torn_records_total"] == 1
            assert re.search(r"spool: \S+ is torn at byte \d+ \(record of \d+ bytes cut short at 10\)", log)
        else:
            assert m["gelfingest_spool_torn_records_total"] == 0
            assert "3000 events in" in log and "left by an earlier run are sent first" in log
        assert not list((data_dir / "spool" / "0").glob("*.seg"))


def test_a_real_429_storm_loses_nothing_and_duplicates_nothing(
        own_es: tuple[LocalElasticsearch, ES], daemon) -> None:  # type: ignore[no-untyped-def]
    server, es = own_es
    # Two write threads on these 2 cores, and a queue of one: concurrent bulks get 429 per item.
    ensure_running(server, **{"thread_pool.write.queue_size": 1})
    try:
        d = daemon({"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_INDEX": "storm", "GELFINGEST_TCP": "127.0.0.1:0",
                    "GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_ELASTICSEARCH_CONCURRENCY": "8",
                    "GELFINGEST_BATCH_MAX_DOCS": "50", "GELFINGEST_RETRY_INITIAL": "0.05",
                    "GELFINGEST_RETRY_MAX": "0.5"})
        senders = [TcpSender(d.tcp_port, f"s{k}-", rate=5000, limit=5000) for k in range(3)]
        for s in senders:
            s.start()
        for s in senders:
            s.join(120)
        sent = [tid for s in senders for tid in s.sent]
        count = wait_for(es, "storm", len(sent))
        m = metrics(d.http_port)
        assert d.stop() == 0
        found = tids(es, "storm")
        assert set(found) == set(sent) and max(found.values()) == 1 and count == len(sent) == 15000
        assert m["gelfingest_items_retried_total"] > 0, "no 429 happened: the test proved nothing"
        assert m["gelfingest_elasticsearch_incidents_total"] < 10  # one line per storm, not per request
        log = d.text()
        assert "429" in log
        print(f"\n429 storm: {len(sent)} sent, {int(m['gelfingest_items_retried_total'])} items answered 429 and "
              f"sent again, {int(m['gelfingest_elasticsearch_incidents_total'])} incidents, {count} indexed once each")
    finally:
        server.stop()  # the next user of own_es starts it with the settings it wants


class PythonOtlpSender(threading.Thread):
    """OpenTelemetry's Python SDK logging through its OTLP/HTTP exporter (protobuf, gzip) at a steady rate,
    each record with a unique ``tid``; what each export the SDK makes came to, as the exporter says it."""

    def __init__(self, port: int, prefix: str, rate: float) -> None:
        super().__init__(daemon=True)
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogExporter
        from opentelemetry.sdk.resources import Resource

        self.prefix, self.rate = prefix, rate
        self.stopping = threading.Event()
        self.exports: list[tuple[bool, float, list[str]]] = []
        exports = self.exports
        inner = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs", compression=Compression.Gzip,
                                timeout=10)

        class Recording(LogExporter):
            def export(self, batch: Any) -> Any:
                result = inner.export(batch)
                exports.append((result.name == "SUCCESS", time.monotonic(),
                                [r.log_record.attributes["tid"] for r in batch]))
                return result

            def shutdown(self) -> None:
                inner.shutdown()  # type: ignore[no-untyped-call]

            def force_flush(self, timeout_millis: int = 30_000) -> bool:
                return True

        self.provider = LoggerProvider(resource=Resource.create({"service.name": "durable-python"}))
        self.provider.add_log_record_processor(BatchLogRecordProcessor(Recording(), schedule_delay_millis=100,
                                                                       max_export_batch_size=20))
        self.logger = logging.getLogger(f"durable-{prefix}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=self.provider))

    def run(self) -> None:
        n = 0
        started = time.monotonic()
        while not self.stopping.is_set():
            pad = f"{n}-{os.urandom(80).hex()}"  # as hard to compress as real ids: the small spool fills
            self.logger.info("python line %d", n, extra={"tid": f"{self.prefix}{n}", "pad": pad})
            n += 1
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        threading.Thread(target=self.provider.shutdown, daemon=True).start()  # its retries may take 10 s


def exported(exports: Iterable[tuple[bool, float, list[str]]]) -> tuple[list[str], list[float]]:
    """The records of the exports answered success, and when each export was answered."""
    ok = [(at, tids) for success, at, tids in exports if success]
    return [tid for _, tids in ok for tid in tids], [at for at, _ in ok]


def test_durable_answers_survive_an_outage_a_full_spool_and_kill_9(  # type: ignore[no-untyped-def]
        own_es: tuple[LocalElasticsearch, ES], daemon, otel_node: Path, tmp_path: Path) -> None:
    """Both OpenTelemetry exporters and a GELF HTTP sender, with answers that mean durable: Elasticsearch is
    stopped for 20 s (the spool takes the events and the senders are told success; the spool is small, full
    after some 8 s, and then the answer is 503 with Retry-After), then the daemon is killed with SIGKILL. After
    a restart, every event whose request was answered success is in Elasticsearch, once."""
    server, es = own_es
    ensure_running(server)
    env = {"ELASTICSEARCH_HOSTS": server.url, "GELFINGEST_INDEX": "durable", "GELFINGEST_HTTP": "127.0.0.1:0",
           "GELFINGEST_OTLP": "127.0.0.1:0", "GELFINGEST_SPOOL_AFTER": "1", "GELFINGEST_SPOOL_MAX_BYTES": "320KiB",
           "GELFINGEST_RETRY_INITIAL": "0.2", "GELFINGEST_RETRY_MAX": "1"}
    data_dir = tmp_path / "data"
    d = daemon(env, data_dir=data_dir)
    python = PythonOtlpSender(d.otlp_port, "p", rate=150)
    node = subprocess.Popen(["node", str(otel_node / "durable.js"), f"http://127.0.0.1:{d.otlp_port}/v1/logs", "n",
                             "150"], stdout=subprocess.PIPE, text=True)
    http = HttpSender(d.http_port, "h", rate=40)
    python.start()
    http.start()
    time.sleep(4)
    server.stop()
    down = time.monotonic()
    time.sleep(20)
    during = metrics(d.http_port)
    d.proc.kill()
    killed = time.monotonic()
    d.proc.wait()
    python.stop()
    http.stopping.set()
    node.terminate()
    node_out, _ = node.communicate(timeout=30)
    http.join(30)
    node_exports = [(line["ok"], line["at"] / 1000, line["tids"]) for line in map(json.loads, node_out.splitlines())]
    python_ok, python_at = exported(python.exports)
    node_ok, _ = exported(node_exports)
    told_safe = python_ok + node_ok + http.accepted
    # While Elasticsearch was down, the senders were told success (the spool had their events), and once the
    # small spool was full, 503 with Retry-After.
    assert any(down + 2 < at < killed for at in python_at), python.exports[-5:]
    assert any(down + 2 < at < killed for at in http.accepted_at)
    assert len(node_ok) > 0
    assert during["gelfingest_elasticsearch_available"] == 0
    otlp_refused = during['gelfingest_otlp_responses_total{code="503"}']
    assert otlp_refused > 0, during
    assert http.refused > 0 and http.retry_after == {"1"}
    assert during['gelfingest_http_acks_total{outcome="durable"}'] > 0
    server.start()
    again = daemon(env, data_dir=data_dir)
    count = wait_for(es, "durable", len(told_safe), timeout=120)
    assert again.stop() == 0
    found = tids(es, "durable")
    missing = set(told_safe) - set(found)
    assert not missing, f"{len(missing)} of {len(told_safe)} told safe are lost, e.g. {sorted(missing)[:5]}"
    assert max(found.values()) == 1
    print(f"\ndurable answers: told safe {len(told_safe)} (python {len(python_ok)}, node {len(node_ok)}, gelf http "
          f"{len(http.accepted)}), {otlp_refused:.0f} OTLP and "
          f"{http.refused} GELF 503s while the spool was full, {count} in the index after kill -9 and a restart, "
          f"none lost, none twice")
