"""The known-bad corpus (tests/vectors/bad/) at a live daemon over each transport that can carry it: each
case is rejected and counted by its reason, the worker stays up, and the good message sent after each one
gets through. Then what only a connection can do: a 100 MB frame with no end, clients that trickle a byte
a second, more connections than allowed, bombs posted over HTTP, a flood of chunk ids that never
complete."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest

from tests.conftest import ES
from tests.harness import rss_kib
from tests.helpers import VECTORS, gelf, read_vector

pytestmark = pytest.mark.integration

MANIFEST = json.loads((VECTORS / "bad" / "manifest.json").read_text())


def rejected_counts(log: str) -> Counter[str]:
    """The closing line's ``rejected: reason=n, ...;`` as a Counter."""
    line = re.search(r"rejected: ([^;]+);", log)
    assert line, log
    if line[1].strip() == "none":
        return Counter()
    return Counter({k: int(v) for k, v in (p.split("=") for p in line[1].split(", "))})


def post(port: int, body: bytes, timeout: float = 30) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/gelf", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code




@pytest.mark.parametrize("transport", ["udp", "tcp", "http"])
def test_every_case_is_rejected_by_its_reason_and_good_traffic_goes_on(elasticsearch: ES, daemon: Any,
                                                                      transport: str) -> None:
    index = f"bad-{transport}"
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": index,
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0"})
    cases = {name: e for name, e in MANIFEST.items() if transport in e["transports"]}
    expected: Counter[str] = Counter()
    kept = 0
    statuses: dict[str, int] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
            socket.create_connection(("127.0.0.1", d.tcp_port)) as t:
        for i, (name, e) in enumerate(sorted(cases.items())):
            good = gelf(f"good after {name}", _case=i)
            for payload in read_vector(f"bad/{name}"):
                if transport == "udp":
                    u.sendto(payload, ("127.0.0.1", d.udp_port))
                elif transport == "tcp":
                    t.sendall(payload + b"\0")
                else:
                    statuses[name] = post(d.http_port, payload)
            if e["outcome"] == "rejected":
                expected[e["reason"]] += 1
            else:
                kept += e.get("documents", 1)
                expected.update(e.get("rejected_objects", []))
            if transport == "udp":
                u.sendto(good, ("127.0.0.1", d.udp_port))
                time.sleep(0.02)
            elif transport == "tcp":
                t.sendall(good + b"\0")
            else:
                assert post(d.http_port, good) == 202
    if transport == "http":
        for name, e in cases.items():
            wanted = (400 if e.get("rejected_objects") else 202) if e["outcome"] == "kept" else \
                413 if "too_large" in e["reason"] else 400
            assert statuses[name] == wanted, name
    assert elasticsearch.wait_count(index, len(cases) + kept) == len(cases) + kept
    assert d.proc.poll() is None  # still up after all of it
    assert d.stop() == 0
    assert rejected_counts(d.text()) == expected
    docs = elasticsearch.search_all(index)
    goods = sorted(doc["message"] for doc in docs if doc["message"].startswith("good after "))
    assert goods == sorted(f"good after {name}" for name in cases)
    assert len(docs) == len(cases) + kept
    for doc in docs:
        assert not any(k.startswith("_") and k not in ("_id", "_index") for k in doc)
        assert doc["_index"] == index


def test_tcp_a_100_mb_frame_with_no_end_a_trickling_client_and_too_many_connections(elasticsearch: ES,
                                                                                    daemon: Any) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "bad-tcp-conn",
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_TCP_FRAME_TIMEOUT": "3",
                "GELFINGEST_TCP_MAX_CONNECTIONS": "20"})
    rss_before = rss_kib(d.proc.pid)
    peak = [rss_before]
    good = 0

    def sample() -> None:
        while d.proc.poll() is None and not done.is_set():
            peak[0] = max(peak[0], rss_kib(d.proc.pid))
            time.sleep(0.1)

    done = threading.Event()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # A well-behaved sender on its own connection all along.
    with socket.create_connection(("127.0.0.1", d.tcp_port)) as steady:
        steady.sendall(gelf("steady", _n=good) + b"\0")
        good += 1
        # 100 MB with no terminator, as fast as the daemon reads it; then the frame ends and a good one follows.
        with socket.create_connection(("127.0.0.1", d.tcp_port)) as big:
            block = b"x" * (1 << 20)
            for _ in range(100):
                big.sendall(block)
            big.sendall(b"\0" + gelf("after the huge frame") + b"\0")
            good += 1
            # A client that sends a byte a second never finishes its frame: closed after the frame timeout.
            with socket.create_connection(("127.0.0.1", d.tcp_port)) as slow:
                slow.settimeout(10)
                closed_after = None
                started = time.monotonic()
                for byte in gelf("trickled"):
                    try:
                        slow.sendall(bytes([byte]))
                        steady.sendall(gelf("steady", _n=good) + b"\0")
                        good += 1
                        time.sleep(1)
                    except OSError:
                        closed_after = time.monotonic() - started
                        break
                    if time.monotonic() - started > 12:
                        break
                if closed_after is None:
                    try:
                        closed_after = None if slow.recv(1) else time.monotonic() - started
                    except OSError:
                        closed_after = time.monotonic() - started
                assert closed_after is not None and closed_after < 10
            # More connections than allowed: the extra ones are closed at once; the others still work.
            extra = [socket.create_connection(("127.0.0.1", d.tcp_port)) for _ in range(25)]
            time.sleep(0.5)
            for s in extra:
                s.close()
            steady.sendall(gelf("steady", _n=good) + b"\0")
            good += 1
    done.set()
    assert elasticsearch.wait_count("bad-tcp-conn", good) == good
    assert d.proc.poll() is None
    assert d.stop() == 0
    counts = rejected_counts(d.text())
    assert counts["frame_too_large"] == 1
    assert counts["frame_timeout"] == 1
    # 2 connections of ours were open (the trickling one was closed); 20 allowed: 7 of the 25 extra refused.
    assert counts["too_many_connections"] == 7
    # Skipping a 100 MB frame holds none of it.
    assert peak[0] - rss_before < 64 * 1024, f"RSS grew {(peak[0] - rss_before) >> 10} MiB"


def test_http_bombs_oversize_bodies_slow_clients_and_too_many_connections(elasticsearch: ES, daemon: Any) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "bad-http-conn",
                "GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_HTTP_READ_TIMEOUT": "2",
                "GELFINGEST_HTTP_IDLE_TIMEOUT": "3", "GELFINGEST_HTTP_MAX_CONNECTIONS": "10"})
    port = d.http_port
    rss_before = rss_kib(d.proc.pid)
    for name in ("gzip_bomb_1gib", "zlib_bomb_1gib"):
        assert post(port, read_vector(f"bad/{name}")[0]) == 413
    assert post(port, b"x" * (9 << 20)) == 413  # over the 8 MiB body cap as sent
    assert rss_kib(d.proc.pid) - rss_before < 96 * 1024
    # A body announced as 1000 bytes that trickles: 408 after the read timeout.
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /gelf HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        slow.settimeout(10)
        started = time.monotonic()
        answer = b""
        while not answer:
            slow.sendall(b" ")
            try:
                answer = slow.recv(100)
            except TimeoutError:
                break
            except BlockingIOError:
                pass
            time.sleep(0.5)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 8
    # Headers that never end: the connection is closed after the idle timeout.
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /gelf HTTP/1.1\r\n")
        slow.settimeout(15)
        started = time.monotonic()
        while True:
            try:
                slow.sendall(b"X")
                if slow.recv(100) == b"":
                    break
            except TimeoutError:
                pytest.fail("a request whose headers never end was never closed")
            except OSError:
                break
        assert time.monotonic() - started < 12
    # More connections than allowed: the extra ones are closed at once, the good client still gets through.
    extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(15)]
    time.sleep(0.5)
    closed = 0
    for s in extra:
        s.settimeout(1)
        try:
            closed += s.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        except TimeoutError:
            pass
    for s in extra:
        s.close()
    assert closed >= 5
    time.sleep(0.5)
    assert post(port, gelf("good after all that")) == 202
    assert elasticsearch.wait_count("bad-http-conn", 1) == 1
    assert d.proc.poll() is None
    assert d.stop() == 0
    counts = rejected_counts(d.text())
    assert counts["decompressed_too_large"] == 2
    assert counts["body_too_large"] == 1
    assert counts["body_timeout"] == 1
    assert counts["too_many_connections"] >= 5


def test_a_flood_of_chunk_ids_stays_within_its_bound_and_a_real_chunked_message_gets_through(
        elasticsearch: ES, daemon: Any) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "bad-chunk-flood",
                "GELFINGEST_MAX_PENDING_CHUNKED": "1000", "GELFINGEST_METRICS": "127.0.0.1:0",
                "GELFINGEST_MAX_DATAGRAM": "8192"})
    metrics_port = int(re.search(r"metrics=\S+:(\d+)", d.text())[1])  # type: ignore[index]
    import os

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for i in range(30_000):
            u.sendto(b"\x1e\x0f" + os.urandom(8) + bytes([0, 2]) + b"x" * 200, ("127.0.0.1", d.udp_port))
            if i % 200 == 0:
                time.sleep(0.005)
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        pending = int(float(re.search(r"^gelfingest_chunks_pending_messages (\S+)", text, re.M)[1]))  # type: ignore[index]
        evicted = int(float(re.search(r'^gelfingest_chunked_messages_total\{outcome="evicted"\} (\S+)', text,
                                      re.M)[1]))  # type: ignore[index]
        assert pending <= 1000
        assert evicted > 20_000
        # A real chunked message (two chunks) still completes, and an oversize datagram is refused.
        body = gelf("chunked after the flood", _pad="y" * 3000)
        msg_id = b"REALMSG1"
        u.sendto(b"\x1e\x0f" + msg_id + bytes([0, 2]) + body[:2000], ("127.0.0.1", d.udp_port))
        u.sendto(b"\x1e\x0f" + msg_id + bytes([1, 2]) + body[2000:], ("127.0.0.1", d.udp_port))
        u.sendto(gelf("too big", _pad="z" * 9000), ("127.0.0.1", d.udp_port))
    assert elasticsearch.wait_count("bad-chunk-flood", 1) == 1
    assert d.proc.poll() is None
    assert d.stop() == 0
    assert rejected_counts(d.text())["datagram_too_large"] == 1
    assert elasticsearch.search_all("bad-chunk-flood")[0]["message"] == "chunked after the flood"
