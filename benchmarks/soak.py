"""Soak test: gelfingest under good traffic mixed with garbage, against a real Elasticsearch, for minutes.

    .venv/bin/python benchmarks/soak.py [--seconds 300] [--workers 2] [--rate 1000]

The daemon runs with ``--workers N`` against a throw-away local Elasticsearch. Separate processes send
- good Docker-shaped GELF, each message with a unique ``_tid``: UDP (gzip, about 5 % chunked), TCP (JSON and
  a NUL) and HTTP (POST, 202 expected, resent after Retry-After on 503), ``--rate`` messages/s in all;
- garbage: every case of the known-bad corpus (tests/vectors/bad/) over each transport its manifest lists,
  random datagrams, a flood of chunks with random ids that never complete, a TCP frame of 100 MiB with no
  terminator (followed on the same connection by a good message), gzip/zlib bombs (1 GiB of zeros) over TCP
  and HTTP now and then, clients trickling one byte a second over TCP and HTTP, and idle TCP connections.

At the end every good message must be in the index exactly once (TCP and HTTP: no loss at all; UDP: loss
shows in the kernel's drop counter too), the rejections by reason must match the garbage sent (the expected
counts come from the daemon's own pure core, fed the same bytes), and the workers must have stayed up with a
flat RSS. Printed as a table; the JSON and the daemon's log go to benchmarks/results/soak-<time>.json/.log.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.client
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import RESULTS, cpu_seconds, es_call, es_count  # noqa: E402
from benchmarks.traffic import CHUNKED_SIZE, WORDS, chunks_of, docker_event  # noqa: E402
from gelfingest.core.errors import GelfError  # noqa: E402
from gelfingest.core.framing import (  # noqa: E402
    DEFAULT_MAX_FRAME,
    Deframer,
    http_body_messages,
)
from gelfingest.core.ingest import Ingest  # noqa: E402
from gelfingest.local_es import LocalElasticsearch  # noqa: E402
from gelfingest.net import free_port  # noqa: E402
from tests.helpers import read_vector  # noqa: E402

BAD = ROOT / "tests" / "vectors" / "bad"
HTTP_MAX_BODY = 8 * 1024 * 1024  # the daemon's default --http-max-body
# Outcomes of the pure core that are not rejections.
NOT_REJECTED = ("kept", "pending")
# Groups of good messages: the tid is "<group>:<n>".
GROUPS = ("udp", "tcp", "http", "tcp_slow", "http_slow", "tcp_after_huge_frame")

Outcome = tuple[Counter[str], Counter[str]]  # (outcomes: reason, "kept" or "pending"), dropped fields by reason


# -- what the daemon's pure core makes of some bytes ---------------------------------------------------------

def outcomes(payloads: list[bytes]) -> Outcome:
    """Feed datagrams (or TCP frames, or HTTP lines) to a fresh pure core, in order, as a worker does."""
    ingest = Ingest()
    out: Counter[str] = Counter()
    now = time.time()
    for payload in payloads:
        before = ingest.decoded
        try:
            ingest.datagram(payload, "127.0.0.1", now)
        except GelfError as err:
            out[err.reason] += 1
            continue
        out["kept" if ingest.decoded > before else "pending"] += 1
    return out, Counter(dict(ingest.decoder.dropped_fields))


def tcp_outcome(stream: bytes) -> tuple[Outcome, int]:
    """A TCP stream cut as the daemon cuts it (NUL framing): the frames' outcomes, and the frames skipped."""
    deframer = Deframer("nul", DEFAULT_MAX_FRAME)
    frames = deframer.feed(stream)
    return outcomes(frames), deframer.oversize


def http_outcome(body: bytes) -> tuple[int, Outcome]:
    """The status a POST /gelf of this body gets, and the outcomes (a refused body counts under its reason)."""
    try:
        messages = http_body_messages(body, "", HTTP_MAX_BODY)
    except GelfError as err:
        return (413 if err.reason == "decompressed_too_large" else 400), (Counter({err.reason: 1}), Counter())
    if not messages:
        return 400, (Counter({"empty": 1}), Counter())
    result, dropped = outcomes(messages)
    rejected = sum(n for k, n in result.items() if k not in NOT_REJECTED)
    return (400 if rejected else 202), (result, dropped)


def scaled(outcome: Outcome, times: int, into: Outcome) -> None:
    for _ in range(times):
        into[0].update(outcome[0])
        into[1].update(outcome[1])


# -- traffic ---------------------------------------------------------------------------------------------

def good_message(rng: random.Random, tid: str, n: int, big: bool = False) -> dict[str, Any]:
    """Docker's gelf driver's shape (as traffic.docker_event), with a unique ``_tid``."""
    size = rng.randrange(80, 400)
    text = (f"{tid} " + " ".join(rng.choice(WORDS) for _ in range(size // 5)))[:size]
    if big:
        noise = rng.randrange(6000, 12000)
        text += " " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(noise))
    return {**docker_event(n, text, time.time()), "_tid": tid}


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg).encode()


class Pacer:
    """The n-th event goes at start + n/rate; after a stall of over a second it does not burst to catch up."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.base = 0

    def wait(self, n: int) -> None:
        due = self.start + (n - self.base) / self.rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > 1.0:
            self.start, self.base = now, n


class Ticker:
    """How many events of a steady ``rate`` are due by now (no burst after a stall)."""

    def __init__(self, rate: float, offset: float = 0.0) -> None:
        self.rate = rate
        self.next = time.monotonic() + offset

    def due(self, now: float) -> int:
        if self.rate <= 0:
            return 0
        if now - self.next > 1.0:
            self.next = now
        n = 0
        while self.next <= now:
            n += 1
            self.next += 1 / self.rate
        return n


def peer_state(sock: socket.socket) -> str:
    """open (silent), closed (FIN or reset) or spoke (the server sent something, e.g. an HTTP answer)."""
    # Python waits for a socket with a timeout to become readable before recv, whatever the flags: so none.
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return "open"
    except OSError:
        return "closed"
    finally:
        sock.settimeout(timeout)
    return "spoke" if data else "closed"


def http_status(sock: socket.socket, timeout: float = 10.0) -> int | None:
    """Read an HTTP answer's status line (None when the server closed without one)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    m = re.match(rb"HTTP/1\.\d (\d{3})", data)
    return int(m[1]) if m else None


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def run_threads(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


# -- the sender processes: each puts one result dict on the queue when told to stop ----------------------------

def good_udp(port: int, rate: float, stop: Any, results: Any) -> None:
    rng = random.Random(11)
    # Many source ports, as many containers: SO_REUSEPORT spreads datagrams over the workers by source.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(32)]
    sent: list[str] = []
    datagrams = chunked = errors = n = 0
    pacer = Pacer(rate)
    while not stop.is_set():
        tid = f"udp:{n}"
        payload = gzip.compress(encode(good_message(rng, tid, n, big=rng.random() < 0.05)), 1)
        parts = chunks_of(payload, rng) if len(payload) > CHUNKED_SIZE else [payload]
        try:
            for part in parts:
                socks[n % len(socks)].sendto(part, ("127.0.0.1", port))
            sent.append(tid)
            datagrams += len(parts)
            chunked += len(parts) > 1
        except OSError:
            errors += 1
        n += 1
        pacer.wait(n)
    results.put({"sender": "good udp", "good": {"udp": sent},
                 "info": {"udp_datagrams": datagrams, "udp_chunked_messages": chunked, "udp_send_errors": errors}})


def good_tcp(port: int, rate: float, stop: Any, results: Any, connections: int = 4) -> None:
    rng = random.Random(12)
    conns: list[socket.socket | None] = [None] * connections
    sent: list[str] = []
    ambiguous: list[str] = []
    errors: Counter[str] = Counter()
    pacer = Pacer(rate)
    n = 0
    while not stop.is_set():
        k = n % connections
        tid = f"tcp:{n}"
        frame = encode(good_message(rng, tid, n)) + b"\0"
        try:
            conn = conns[k] = conns[k] or connect(port)
            conn.sendall(frame)
            sent.append(tid)
        except OSError as exc:
            # Perhaps partly written: it may or may not arrive; never a good message to count as lost.
            ambiguous.append(tid)
            errors[type(exc).__name__] += 1
            if conns[k] is not None:
                conns[k].close()  # type: ignore[union-attr]
            conns[k] = None
            time.sleep(0.1)
        n += 1
        pacer.wait(n)
    for c in conns:
        if c is not None:
            c.close()
    results.put({"sender": "good tcp", "good": {"tcp": sent}, "ambiguous": {"tcp": ambiguous},
                 "info": {"tcp_errors": dict(errors)}})


def good_http(port: int, rate: float, stop: Any, results: Any, threads: int = 2) -> None:
    outs: list[dict[str, Any]] = []

    def worker(k: int) -> None:
        rng = random.Random(100 + k)
        out: dict[str, Any] = {"sent": [], "ambiguous": [], "refused": [], "statuses": Counter(), "503": 0,
                               "errors": Counter()}
        outs.append(out)
        conn: http.client.HTTPConnection | None = None
        pacer = Pacer(rate / threads)
        n = 0
        while not stop.is_set():
            tid = f"http:{k}.{n}"
            body = encode(good_message(rng, tid, n))
            headers = {"Content-Type": "application/json"}
            if n % 4 == 3:
                body, headers["Content-Encoding"] = gzip.compress(body, 1), "gzip"
            status = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    conn.request("POST", "/gelf", body, headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as exc:
                    # The request may have been taken before the connection broke: a resend may duplicate it.
                    out["errors"][type(exc).__name__] += 1
                    out["ambiguous"].append(tid)
                    if conn is not None:
                        conn.close()
                    conn, status = None, None
                    time.sleep(0.2)
                    continue
                if status != 503:
                    break
                out["503"] += 1
                time.sleep(float(resp.getheader("Retry-After") or 1))
            out["statuses"][status] += 1
            (out["sent"] if status == 202 else out["refused"]).append(tid)
            n += 1
            pacer.wait(n)
        if conn is not None:
            conn.close()

    for t in run_threads([functools.partial(worker, k) for k in range(threads)]):
        t.join()
    statuses: Counter[Any] = Counter()
    for o in outs:
        statuses.update(o["statuses"])
    results.put({"sender": "good http",
                 "good": {"http": [tid for o in outs for tid in o["sent"]]},
                 "ambiguous": {"http": [tid for o in outs for tid in o["ambiguous"]]},
                 "info": {"http_statuses": {str(k): v for k, v in statuses.items()},
                          "http_503_resent": sum(o["503"] for o in outs),
                          "http_refused_tids": [tid for o in outs for tid in o["refused"]][:20],
                          "http_errors": dict(sum((o["errors"] for o in outs), Counter()))}})


def garbage_udp(port: int, corpus: list[tuple[str, list[bytes]]], corpus_rate: float, random_rate: float,
                flood_rate: float, stop: Any, results: Any) -> None:
    rng = random.Random(21)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]
    addr = ("127.0.0.1", port)
    sent: Counter[str] = Counter()
    random_outcome: Outcome = (Counter(), Counter())
    tick_corpus, tick_random, tick_flood = Ticker(corpus_rate), Ticker(random_rate), Ticker(flood_rate)
    i = errors = 0
    while not stop.is_set():
        now = time.monotonic()
        try:
            for _ in range(tick_corpus.due(now)):
                name, datagrams = corpus[i % len(corpus)]
                # A chunked case gets a message id of its own at each send: the same id again within the
                # chunk timeout is a duplicate chunk of a completed message, ignored rather than rejected.
                mid = rng.randbytes(8)
                for d in datagrams:
                    if d[:2] == b"\x1e\x0f" and len(d) >= 12:
                        d = d[:2] + mid + d[10:]
                    socks[i % len(socks)].sendto(d, addr)
                sent[f"udp corpus {name}"] += 1
                i += 1
            for _ in range(tick_random.due(now)):
                d = rng.randbytes(rng.randrange(1, 1500))
                socks[rng.randrange(len(socks))].sendto(d, addr)
                sent["udp random bytes"] += 1
                scaled(outcomes([d]), 1, random_outcome)
            for _ in range(tick_flood.due(now)):
                count = rng.randrange(2, 129)
                chunk = (b"\x1e\x0f" + rng.randbytes(8) + bytes([rng.randrange(count), count])
                         + rng.randbytes(rng.randrange(500, 1400)))
                socks[rng.randrange(len(socks))].sendto(chunk, addr)
                sent["udp chunk never completed"] += 1
        except OSError:
            errors += 1
        time.sleep(0.005)
    results.put({"sender": "garbage udp", "garbage": dict(sent),
                 "expected": {"random": [dict(random_outcome[0]), dict(random_outcome[1])]},
                 "info": {"garbage_udp_errors": errors}})


def slow_tcp(port: int, k: int, long: bool, stop: Any, out: dict[str, Any]) -> None:
    """One byte a second; a short message (about 45 s) completes, a long one (about 95 s) runs into the
    daemon's --tcp-frame-timeout. When told to stop, the rest goes at once."""
    n = 0
    while not stop.is_set():
        tid = f"tcp_slow:{k}.{n}"
        n += 1
        data = json.dumps({"short_message": "slow" + ("w" * 50 if long else ""), "_tid": tid},
                          separators=(",", ":")).encode() + b"\0"
        try:
            sock = connect(port)
        except OSError:
            out["connect_errors"] += 1
            stop.wait(1)
            continue
        started, i, cut = time.monotonic(), 0, False
        with sock:
            while i < len(data):
                if stop.is_set():
                    with contextlib.suppress(OSError):
                        sock.sendall(data[i:])
                        i = len(data)
                    break
                if peer_state(sock) != "open":
                    cut = True
                    break
                try:
                    sock.send(data[i : i + 1])
                except OSError:
                    cut = True
                    break
                i += 1
                stop.wait(1.0)
        if cut or i < len(data):
            out["cut"].append(round(time.monotonic() - started, 1))
        else:
            out["sent"].append(tid)


def slow_http(port: int, k: int, mode: str, stop: Any, out: dict[str, Any]) -> None:
    """One byte a second: of the whole request (mode "headers") or of the body after the headers ("body")."""
    n = 0
    while not stop.is_set():
        tid = f"http_slow:{k}.{n}"
        n += 1
        body = json.dumps({"short_message": "slow", "_tid": tid}, separators=(",", ":")).encode()
        head = (f"POST /gelf HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        try:
            sock = connect(port)
        except OSError:
            out["connect_errors"] += 1
            stop.wait(1)
            continue
        started = time.monotonic()
        with sock:
            try:
                trickle = head + body
                if mode == "body":
                    sock.sendall(head)
                    trickle = body
                i = 0
                while i < len(trickle) and not stop.is_set() and peer_state(sock) == "open":
                    sock.send(trickle[i : i + 1])
                    i += 1
                    stop.wait(1.0)
                if stop.is_set() and peer_state(sock) == "open":
                    sock.sendall(trickle[i:])
                    i = len(trickle)
            except OSError:
                pass
            status = http_status(sock)
        elapsed = round(time.monotonic() - started)
        out["outcomes"][f"{mode}: {status or 'closed, no answer'}"] += 1
        out["seconds"].setdefault(f"{mode}: {status or 'closed, no answer'}", []).append(elapsed)
        if status == 202:
            out["sent"].append(tid)


def huge_frames(port: int, mib: int, first: float, every: float, stop: Any, out: dict[str, Any]) -> None:
    """``mib`` MiB with no terminator (about 25 MiB/s), then a NUL and a good message, on one connection."""
    block = b"A" * (1 << 20)
    head = (b'{"short_message": "' + block)[: 1 << 20]
    n = 0
    try:
        sock = connect(port)
    except OSError as exc:
        out["error"] = repr(exc)
        return
    with sock:
        due = time.monotonic() + first
        while not stop.wait(max(0.0, due - time.monotonic())):
            try:
                for i in range(mib):
                    sock.sendall(head if i == 0 else block)
                    time.sleep(0.04)
                tid = f"tcp_after_huge_frame:{n}"
                sock.sendall(b"\0" + encode(good_message(random.Random(n), tid, n)) + b"\0")
            except OSError as exc:
                out["error"] = repr(exc)
                return
            out["frames"].append(mib << 20)
            out["sent"].append(tid)
            n += 1
            due += every
        out["connection_at_end"] = peer_state(sock)


def garbage_tcp(port: int, burst: bytes, rotation: list[tuple[str, bytes]], burst_rate: float, bomb_every: float,
                huge_mib: int, huge_every: float, huge_first: float, slow: int, idle: int,
                stop: Any, results: Any) -> None:
    sent: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    lock = threading.Lock()

    def count(kind: str, error: bool = False) -> None:
        with lock:
            (errors if error else sent)[kind] += 1

    def bursts() -> None:
        tick = Ticker(burst_rate)
        while not stop.wait(0.05):
            for _ in range(tick.due(time.monotonic())):
                try:
                    with connect(port) as s:
                        s.sendall(burst)
                    count("tcp corpus burst")
                except OSError:
                    count("tcp corpus burst", error=True)

    def bombs() -> None:
        i = 0
        while not stop.wait(bomb_every if i else bomb_every / 2):
            name, data = rotation[i % len(rotation)]
            i += 1
            try:
                with connect(port) as s:
                    s.sendall(data + b"\0")
                count(f"tcp {name}")
            except OSError:
                count(f"tcp {name}", error=True)

    huge: dict[str, Any] = {"frames": [], "sent": []}
    slows: list[dict[str, Any]] = [{"sent": [], "cut": [], "connect_errors": 0} for _ in range(slow)]
    targets: list[Callable[[], None]] = [bursts, bombs, lambda: huge_frames(port, huge_mib, huge_first, huge_every,
                                                                            stop, huge)]
    targets += [functools.partial(slow_tcp, port, k, k % 2 == 1, stop, slows[k]) for k in range(slow)]
    threads = run_threads(targets)
    idlers: list[socket.socket] = []
    for _ in range(idle):
        try:
            idlers.append(connect(port))
        except OSError:
            count("tcp idle connection", error=True)
        time.sleep(0.005)
    stop.wait()
    idle_states = Counter(peer_state(s) for s in idlers)
    for s in idlers:
        s.close()
    for t in threads:
        t.join(60)
    sent["tcp idle connection"] = len(idlers)
    sent["tcp huge frame (no terminator)"] = len(huge["frames"])
    sent["tcp slow client, cut by the daemon"] = sum(len(s["cut"]) for s in slows)
    results.put({"sender": "garbage tcp", "garbage": dict(sent),
                 "good": {"tcp_slow": [t for s in slows for t in s["sent"]], "tcp_after_huge_frame": huge["sent"]},
                 "info": {"tcp_garbage_errors": dict(errors), "idle_connections_at_end": dict(idle_states),
                          "huge_frames_bytes": huge["frames"], "huge_frame_error": huge.get("error"),
                          "huge_frame_connection_at_end": huge.get("connection_at_end"),
                          "slow_tcp_cut_after_seconds": [s["cut"] for s in slows],
                          "slow_tcp_connect_errors": sum(s["connect_errors"] for s in slows)}})


def garbage_http(port: int, corpus: list[tuple[str, bytes]], rotation: list[tuple[str, bytes]], rate: float,
                 bomb_every: float, slow: int, stop: Any, results: Any) -> None:
    statuses: Counter[str] = Counter()  # "case status"
    lock = threading.Lock()

    def post(conn: http.client.HTTPConnection, name: str, body: bytes) -> None:
        try:
            conn.request("POST", "/gelf", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status: Any = resp.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            status = type(exc).__name__
        with lock:
            statuses[f"{name} {status}"] += 1

    def cases() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        tick, i = Ticker(rate), 0
        while not stop.wait(0.01):
            for _ in range(tick.due(time.monotonic())):
                name, body = corpus[i % len(corpus)]
                i += 1
                post(conn, name, body)
        conn.close()

    def bombs() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = 0
        while not stop.wait(bomb_every):
            name, body = rotation[i % len(rotation)]
            i += 1
            post(conn, name, body)
        conn.close()

    slows: list[dict[str, Any]] = [{"sent": [], "outcomes": Counter(), "seconds": {}, "connect_errors": 0}
                                   for _ in range(slow)]
    targets: list[Callable[[], None]] = [cases, bombs]
    targets += [functools.partial(slow_http, port, k, "body" if k % 2 else "headers", stop, slows[k])
                for k in range(slow)]
    for t in run_threads(targets):
        t.join()
    sent: Counter[str] = Counter()
    for key, n in statuses.items():
        sent[f"http {key.rsplit(' ', 1)[0]}"] += n
    slow_outcomes: Counter[str] = Counter()
    slow_seconds: dict[str, list[int]] = {}
    for s in slows:
        slow_outcomes.update(s["outcomes"])
        for key, secs in s["seconds"].items():
            slow_seconds.setdefault(key, []).extend(secs)
    sent["http slow client"] = sum(slow_outcomes.values())
    results.put({"sender": "garbage http", "garbage": dict(sent), "good": {"http_slow": [t for s in slows
                                                                                         for t in s["sent"]]},
                 "info": {"http_garbage_statuses": dict(statuses), "slow_http_outcomes": dict(slow_outcomes),
                          "slow_http_seconds": slow_seconds}})


# -- watching the daemon -----------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def role(pid: int, supervisor: int) -> str:
    if pid == supervisor:
        return "supervisor"
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return f"worker {args[args.index(b'--worker-index') + 1].decode()}" if b"--worker-index" in args else "child"


def rss_kib(pid: int) -> int:
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m[1]) if m else 0


def parse_metrics(text: str) -> dict[str, dict[str, float]]:
    """{name: {label value (of the one label, or the label string): value}}."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$", line)
        if not m or line.startswith("#"):
            continue
        labels = re.findall(r'(\w+)="([^"]*)"', m[2] or "")
        key = labels[0][1] if len(labels) == 1 else ",".join(f"{k}={v}" for k, v in labels)
        out.setdefault(m[1], {})[key] = float(m[3])
    return out


def get_metrics(port: int) -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return parse_metrics(resp.read().decode())


def one(metrics: dict[str, dict[str, float]], name: str) -> float:
    return sum(metrics.get(name, {}).values())


GAUGES_MAX = ("gelfingest_chunks_pending_messages", "gelfingest_chunks_pending_bytes", "gelfingest_queue_events",
              "gelfingest_queue_batches", "gelfingest_spool_bytes", "gelfingest_spooling")


class Sampler(threading.Thread):
    """Every ``interval`` s: VmRSS and CPU of the supervisor and each worker; every ``metrics_every`` s:
    /metrics (the gauges' maxima, and a few series)."""

    def __init__(self, supervisor: int, http_port: int, interval: float = 0.5, metrics_every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.supervisor, self.http_port = supervisor, http_port
        self.interval, self.metrics_every = interval, metrics_every
        self.t0 = time.monotonic()
        self.procs: dict[int, dict[str, Any]] = {}
        self.maxima: dict[str, float] = {}
        self.es_unavailable_samples = 0
        self.series: list[dict[str, float]] = []
        self.metrics_errors = 0
        self.stopping = threading.Event()

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        for pid in [self.supervisor, *children(self.supervisor)]:
            p = self.procs.get(pid)
            if p is None:
                p = self.procs[pid] = {"role": role(pid, self.supervisor), "first": now, "rss": [], "cpu": 0.0}
            try:
                p["rss"].append((round(now, 1), rss_kib(pid)))
                p["cpu"] = cpu_seconds(pid)
                p["last"] = now
            except OSError:
                pass

    def run(self) -> None:
        next_metrics = 0.0
        while not self.stopping.wait(self.interval):
            self.sample()
            now = time.monotonic() - self.t0
            if now < next_metrics:
                continue
            next_metrics = now + self.metrics_every
            try:
                m = get_metrics(self.http_port)
            except (OSError, ValueError):
                self.metrics_errors += 1
                continue
            for name in GAUGES_MAX:
                self.maxima[name] = max(self.maxima.get(name, 0.0), one(m, name))
            self.es_unavailable_samples += one(m, "gelfingest_elasticsearch_available") < 1
            self.series.append({"t": round(now), "pending_chunked": one(m, "gelfingest_chunks_pending_messages"),
                                "queue_events": one(m, "gelfingest_queue_events"),
                                "rejected": one(m, "gelfingest_rejected_total"),
                                "indexed": one(m, "gelfingest_documents_indexed_total")})

    def by_role(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {}
        for pid, p in sorted(self.procs.items(), key=lambda kv: kv[1]["first"]):
            roles.setdefault(p["role"], []).append(pid)
        return roles

    def latest_rss_mib(self) -> dict[str, float]:
        out = {}
        for name, pids in self.by_role().items():
            rss = self.procs[pids[-1]]["rss"]
            out[name] = round(rss[-1][1] / 1024, 1) if rss else 0.0
        return out


# -- Elasticsearch -----------------------------------------------------------------------------------------

def scan(url: str, index: str) -> tuple[Counter[str], Counter[int], int]:
    """Every document's tid and sequence, through a scroll; and the documents without a tid."""
    tids: Counter[str] = Counter()
    sequences: Counter[int] = Counter()
    untagged = 0
    es_call(url, "POST", f"/{index}/_refresh")
    result = es_call(url, "POST", f"/{index}/_search?scroll=2m",
                     {"size": 10000, "_source": ["tid", "sequence"], "sort": ["_doc"]})
    while hits := result["hits"]["hits"]:
        for h in hits:
            src = h["_source"]
            if "tid" in src:
                tids[src["tid"]] += 1
            else:
                untagged += 1
            if "sequence" in src:
                sequences[src["sequence"]] += 1
        result = es_call(url, "POST", "/_search/scroll", {"scroll": "2m", "scroll_id": result["_scroll_id"]})
    with contextlib.suppress(OSError):
        es_call(url, "DELETE", "/_search/scroll", {"scroll_id": result["_scroll_id"]})
    return tids, sequences, untagged


def wait_settled(url: str, index: str, quiet_checks: int = 3, every: float = 2.0, timeout: float = 300) -> int:
    """Refresh and count until the count has not moved for ``quiet_checks`` checks in a row."""
    deadline = time.monotonic() + timeout
    last, same = -1, 0
    while time.monotonic() < deadline:
        count = es_count(url, index)
        same = same + 1 if count == last else 0
        if same >= quiet_checks:
            break
        last = count
        time.sleep(every)
    return last


# -- the daemon's log --------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\S+ \S+) (\w+) (\[[^]]+\] )?(\S+): (.*)$")


def analyse_log(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    patterns: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    summaries: dict[str, list[float]] = {}
    firsts: Counter[str] = Counter()
    other = 0
    for line in lines:
        m = LOG_LINE.match(line)
        if not m:
            other += 1
            patterns[re.sub(r"\d+", "N", line)[:150]] += 1
            continue
        stamp, level, who, _name, msg = m.groups()
        who = (who or "").strip()
        levels[level] += 1
        shape = re.sub(r"\b[0-9a-f]{8,}\b", "H", msg)
        shape = re.sub(r"\((\w+=\d+, )*\w+=\d+\)", "(reason=N, …)", shape)
        shape = re.sub(r"latest: .*", "latest: …", shape)
        shape = re.sub(r"\d+(\.\d+)?", "N", shape)
        patterns[f"{level} {shape[:150]}"] += 1
        if "more messages in" in msg and msg.startswith("rejected "):
            t = time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
            summaries.setdefault(who or "-", []).append(t)
        elif msg.startswith("rejected a message from"):
            firsts[who or "-"] += 1
    gaps = {w: round(min(b - a for a, b in itertools.pairwise(ts)), 1) if len(ts) > 1 else None
            for w, ts in summaries.items()}
    return {"lines": len(lines), "levels": dict(levels), "unparsed_lines": other,
            "noisiest": patterns.most_common(8), "rejection_first_lines": dict(firsts),
            "rejection_summary_lines": {w: len(ts) for w, ts in summaries.items()},
            "rejection_summary_min_gap_seconds": gaps}


def closing_totals(text: str) -> dict[str, Any]:
    """The workers' closing lines: events decoded and delivered, and rejections by reason, summed."""
    decoded = delivered = 0
    rejected: Counter[str] = Counter()
    for m in re.finditer(r"stopped: .*?(\d+) events decoded, (\d+) delivered to .*?; rejected: ([^;]*);", text):
        decoded += int(m[1])
        delivered += int(m[2])
        if m[3] != "none":
            rejected.update({k: int(v) for k, v in (p.split("=") for p in m[3].split(", "))})
    return {"decoded": decoded, "delivered": delivered, "rejected": dict(rejected)}


# -- the run -----------------------------------------------------------------------------------------------


def load_corpus() -> dict[str, tuple[list[bytes], dict[str, Any]]]:
    manifest = json.loads((BAD / "manifest.json").read_text())
    return {name: (read_vector(f"bad/{name}"), expected) for name, expected in manifest.items()
            if (BAD / f"{name}.dgrams").exists()}


class Plan:
    """The garbage to send, and what the pure core makes of each piece (computed once)."""

    def __init__(self) -> None:
        corpus = load_corpus()
        self.cases = {name: e for name, (_, e) in corpus.items()}
        self.udp = [(name, d) for name, (d, e) in corpus.items() if "udp" in e["transports"]]
        self.udp_outcome = {name: outcomes(d) for name, d in self.udp}
        # TCP: one burst a connection of every case the manifest says TCP carries whole; a payload with a NUL
        # in it (compressed data) cannot be one NUL-ended frame, so those go in the rotation of now-and-then
        # sends with the 1 GiB bombs, cut by the framing into many garbage frames.
        tcp = [(name, b"".join(d)) for name, (d, e) in corpus.items() if "tcp" in e["transports"]]
        clean = [(name, p) for name, p in tcp if b"\0" not in p]
        self.burst_cases = [name for name, _ in clean]
        self.burst = b"".join(p + b"\0" for _, p in clean)
        (self.burst_outcome, _) = tcp_outcome(self.burst)
        bombs = [n for n in ("gzip_bomb_1gib", "zlib_bomb_1gib") if n in corpus]
        with_nul = [name for name, p in tcp if b"\0" in p]
        self.tcp_rotation = [(n, b"".join(corpus[n][0])) for n in dict.fromkeys([*bombs, *with_nul])]
        self.tcp_rotation_outcome = {n: tcp_outcome(p + b"\0")[0] for n, p in self.tcp_rotation}
        http = [(name, b"\n".join(d)) for name, (d, e) in corpus.items() if "http" in e["transports"]]
        self.http = [(n, p) for n, p in http if n not in bombs]
        self.http_rotation = [(n, p) for n, p in http if n in bombs] or [(n, b"".join(corpus[n][0])) for n in bombs]
        self.http_outcome = {n: http_outcome(p) for n, p in [*self.http, *self.http_rotation]}


def good_summary(sent: dict[str, list[str]], ambiguous: dict[str, list[str]],
                 found: Counter[str]) -> dict[str, dict[str, Any]]:
    by_group: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for tid, n in found.items():
        by_group.setdefault(tid.split(":", 1)[0], Counter())[tid] = n
    out = {}
    for group in GROUPS:
        tids = set(sent.get(group, []))
        got = by_group[group]
        maybe = set(ambiguous.get(group, []))
        lost = tids - set(got)
        out[group] = {
            "sent": len(tids), "indexed": sum(1 for t in tids if t in got), "lost": len(lost),
            "duplicates": sum(n - 1 for n in got.values() if n > 1),
            "unexpected": sum(1 for t in got if t not in tids and t not in maybe),
            "ambiguous_sent": len(maybe), "ambiguous_indexed": sum(1 for t in maybe if t in got),
            "lost_examples": sorted(lost)[:5],
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / f"soak-{stamp}.log"
    index = f"soak-{stamp}"
    plan = Plan()
    es = LocalElasticsearch(heap=args.es_heap)
    data_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    procs: list[multiprocessing.Process] = []
    stop = multiprocessing.Event()
    daemon: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    report: dict[str, Any] = {}
    try:
        es.start()
        udp_port, tcp_port, http_port = (free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM),
                                         free_port(socket.SOCK_STREAM))
        env = {**os.environ, "ELASTICSEARCH_HOSTS": es.url, "GELFINGEST_UDP": f"127.0.0.1:{udp_port}",
               "GELFINGEST_TCP": f"127.0.0.1:{tcp_port}", "GELFINGEST_HTTP": f"127.0.0.1:{http_port}",
               "GELFINGEST_DATA_DIR": str(data_dir), "GELFINGEST_WORKERS": str(args.workers),
               "GELFINGEST_INDEX": index}
        with open(log_path, "wb") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "gelfingest"], env=env, cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            text = log_path.read_text(errors="replace")
            if text.count(" listening on ") >= args.workers:
                with contextlib.suppress(OSError), urllib.request.urlopen(
                        f"http://127.0.0.1:{http_port}/readyz", timeout=5) as resp:
                    if resp.status == 200:
                        break
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gelfingest did not start (see {log_path}):\n{text[-3000:]}")
            time.sleep(0.2)
        print(f"soak: {args.seconds} s, {args.workers} workers, {args.rate:g} good messages/s; Elasticsearch "
              f"{es.url}, index {index}; daemon log {log_path.relative_to(ROOT)}", flush=True)
        results: Any = multiprocessing.Queue()
        r = args.rate
        specs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (good_udp, (udp_port, r * 0.4)), (good_tcp, (tcp_port, r * 0.4)), (good_http, (http_port, r * 0.2)),
            (garbage_udp, (udp_port, plan.udp, args.garbage_rate * 0.3, args.garbage_rate * 0.2,
                           args.chunk_flood_rate)),
            (garbage_tcp, (tcp_port, plan.burst, plan.tcp_rotation, args.garbage_rate * 0.01, args.bomb_every,
                           args.huge_frame_mib, args.huge_frame_every, min(5.0, args.seconds / 5), args.slow_clients,
                           args.idle_connections)),
            (garbage_http, (http_port, plan.http, plan.http_rotation, args.garbage_rate * 0.1, args.bomb_every,
                            args.slow_clients)),
        ]
        for target, params in specs:
            p = multiprocessing.Process(target=target, args=(*params, stop, results), daemon=True)
            p.start()
            procs.append(p)
        sampler = Sampler(daemon.pid, http_port)
        sampler.start()
        t0 = time.monotonic()
        next_progress = t0 + 60
        died = None
        while (now := time.monotonic()) < t0 + args.seconds:
            if daemon.poll() is not None:
                died = f"the daemon exited with {daemon.returncode} after {now - t0:.0f} s"
                print(died, flush=True)
                break
            if now >= next_progress:
                next_progress += 60
                rss = ", ".join(f"{k} {v:g}" for k, v in sampler.latest_rss_mib().items())
                print(f"  {now - t0:4.0f} s: {es_count(es.url, index)} documents; RSS MiB: {rss}", flush=True)
            time.sleep(0.5)
        stop.set()
        collected: list[dict[str, Any]] = []
        for _ in procs:
            try:
                collected.append(results.get(timeout=180))
            except Exception:  # a sender that hung: reported, not fatal
                break
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()
        settled = wait_settled(es.url, index)
        final_metrics: dict[str, dict[str, float]] = {}
        with contextlib.suppress(OSError, ValueError):
            time.sleep(1.5)  # every worker's snapshot is at most 1 s old
            final_metrics = get_metrics(http_port)
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
        exit_code = None
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                exit_code = daemon.wait(120)
            except subprocess.TimeoutExpired:
                daemon.kill()
                exit_code = daemon.wait()
        else:
            exit_code = daemon.returncode
        tids, sequences, untagged = scan(es.url, index)
        report = build_report(args, plan, index, log_path, collected, final_metrics, sampler, tids, sequences,
                              untagged, settled, exit_code, died, data_dir)
        report["run"]["started"] = stamp
        report["senders"]["burst_cases"] = len(plan.burst_cases)
        return report
    finally:
        stop.set()
        for p in procs:
            if p.is_alive():
                p.terminate()
        if sampler is not None:
            sampler.stopping.set()
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        es.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def build_report(args: argparse.Namespace, plan: Plan, index: str, log_path: Path, collected: list[dict[str, Any]],
                 metrics: dict[str, dict[str, float]], sampler: Sampler, tids: Counter[str],
                 sequences: Counter[int], untagged: int, settled: int, exit_code: int | None, died: str | None,
                 data_dir: Path) -> dict[str, Any]:
    sent: dict[str, list[str]] = {}
    ambiguous: dict[str, list[str]] = {}
    garbage: Counter[str] = Counter()
    info: dict[str, Any] = {}
    random_outcome: Outcome = (Counter(), Counter())
    for c in collected:
        for g, t in c.get("good", {}).items():
            sent.setdefault(g, []).extend(t)
        for g, t in c.get("ambiguous", {}).items():
            ambiguous.setdefault(g, []).extend(t)
        garbage.update(c.get("garbage", {}))
        info.update(c.get("info", {}))
        if "random" in c.get("expected", {}):
            random_outcome = (Counter(c["expected"]["random"][0]), Counter(c["expected"]["random"][1]))
    # What the garbage should have produced, by the pure core (UDP: if no datagram dropped).
    expected: Outcome = (Counter(), Counter())
    for name, outcome in plan.udp_outcome.items():
        scaled(outcome, garbage[f"udp corpus {name}"], expected)
    scaled(random_outcome, 1, expected)
    expected[0]["pending"] += garbage["udp chunk never completed"]
    scaled(plan.burst_outcome, garbage["tcp corpus burst"], expected)
    for name, outcome in plan.tcp_rotation_outcome.items():
        scaled(outcome, garbage[f"tcp {name}"], expected)
    expected[0]["frame_too_large"] += sum(1 for b in info.get("huge_frames_bytes", []) if b > DEFAULT_MAX_FRAME)
    expected[0]["frame_timeout"] += garbage["tcp slow client, cut by the daemon"]
    # HTTP: a request answered 503 (queue full) was not read; one that failed was not answered.
    http_got = {k: v for k, v in info.get("http_garbage_statuses", {}).items() if k.rsplit(" ", 1)[1].isdigit()
                and not k.endswith(" 503")}
    http_expected_status: Counter[str] = Counter()
    for name, (status, outcome) in plan.http_outcome.items():
        n = sum(v for k, v in http_got.items() if k.rsplit(" ", 1)[0] == name)
        scaled(outcome, n, expected)
        http_expected_status[f"{name} {status}"] += n
    slow_http = Counter(info.get("slow_http_outcomes", {}))
    expected[0]["body_timeout"] += sum(n for k, n in slow_http.items() if k.endswith(": 408"))
    http_status_mismatch = {k: {"expected": http_expected_status[k], "got": http_got.get(k, 0)}
                            for k in {**http_expected_status, **http_got}
                            if http_got.get(k, 0) != http_expected_status[k]}
    rejected_metrics = metrics.get("gelfingest_rejected_total", {})
    reasons = sorted(set(rejected_metrics) | {k for k, v in expected[0].items() if k not in NOT_REJECTED and v})
    rejected = {r: {"metrics": int(rejected_metrics.get(r, 0)), "expected": expected[0][r]} for r in reasons}
    dropped_metrics = metrics.get("gelfingest_dropped_fields_total", {})
    dropped = {r: {"metrics": int(dropped_metrics.get(r, 0)), "expected": expected[1][r]}
               for r in sorted(set(dropped_metrics) | set(expected[1]))}
    good = good_summary(sent, ambiguous, tids)
    log_text = log_path.read_text(errors="replace")
    roles = sampler.by_role()
    processes: dict[str, Any] = {}
    for name, pids in sorted(roles.items()):
        samples = [s for pid in pids for s in sampler.procs[pid]["rss"]]
        t_end = max((t for t, _ in samples), default=0.0)
        series: dict[str, float] = {}
        for t, kib in samples:
            series.setdefault(str(int(t // 10 * 10)), round(kib / 1024, 1))
        processes[name] = {
            "pids": pids, "restarts": len(pids) - 1,
            "cpu_seconds": round(sum(sampler.procs[p]["cpu"] for p in pids), 1),
            # Medians of the samples in a window: after the warm-up (10-20 % of the run), and at the end.
            "rss_mib_warm": median_mib([kib for t, kib in samples if t_end * 0.1 <= t <= t_end * 0.2]),
            "rss_mib_end": median_mib([kib for t, kib in samples if t >= t_end * 0.9]),
            "rss_mib_peak": round(max((kib for _, kib in samples), default=0) / 1024, 1),
            "rss_mib_every_10s": series,
        }
    chunks = metrics.get("gelfingest_chunked_messages_total", {})
    dlq = list((data_dir / "dlq").glob("*")) if (data_dir / "dlq").exists() else []
    kept_expected = expected[0]["kept"]
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    return {
        "run": {"seconds": args.seconds, "workers": args.workers, "rate": args.rate, "index": index,
                "log": str(log_path.relative_to(ROOT)), "commit": commit, "daemon_died": died},
        "good": good,
        "udp_kernel_drops": int(one(metrics, "gelfingest_udp_kernel_drops_total")),
        "index": {"documents_when_settled": settled, "documents_with_tid": sum(tids.values()),
                  "documents_without_tid": untagged, "kept_corpus_expected": kept_expected,
                  "sequences": len(sequences), "sequence_duplicates": sum(n - 1 for n in sequences.values() if n > 1)},
        "garbage_sent": dict(sorted(garbage.items())),
        "rejected": rejected,
        "dropped_fields": dropped,
        "http_garbage_status_mismatch": http_status_mismatch,
        "chunks": {"max_pending_messages": int(sampler.maxima.get("gelfingest_chunks_pending_messages", 0)),
                   "max_pending_bytes": int(sampler.maxima.get("gelfingest_chunks_pending_bytes", 0)),
                   **{k: int(v) for k, v in chunks.items()},
                   "duplicate_chunks": int(one(metrics, "gelfingest_duplicate_chunks_total"))},
        "tcp": {"oversize_frames": int(one(metrics, "gelfingest_tcp_oversize_frames_total")),
                "connections": int(one(metrics, "gelfingest_tcp_connections_total")),
                "connections_refused": int(one(metrics, "gelfingest_tcp_connections_refused_total"))},
        "http_responses": {k: int(v) for k, v in metrics.get("gelfingest_http_responses_total", {}).items()},
        "queue": {"max_events": int(sampler.maxima.get("gelfingest_queue_events", 0)),
                  "max_spool_bytes": int(sampler.maxima.get("gelfingest_spool_bytes", 0)),
                  "ever_spooling": bool(sampler.maxima.get("gelfingest_spooling", 0)),
                  "es_unavailable_samples": sampler.es_unavailable_samples,
                  "items_failed": int(one(metrics, "gelfingest_items_failed_total")),
                  "dead_lettered": int(one(metrics, "gelfingest_dead_lettered_total")), "dlq_files": len(dlq),
                  "items_retried": int(one(metrics, "gelfingest_items_retried_total")),
                  "documents_already_there": int(one(metrics, "gelfingest_documents_already_there_total"))},
        "processes": processes,
        "daemon": {"exit_code": exit_code, "restart_lines": log_text.count("; restarting it"),
                   "closing_totals": closing_totals(log_text), "log": analyse_log(log_text),
                   "metrics_errors": sampler.metrics_errors},
        "senders": info,
        "metrics_series": sampler.series[:: max(1, len(sampler.series) // 60)],
    }


def median_mib(kib: list[int]) -> float:
    return round(sorted(kib)[len(kib) // 2] / 1024, 1) if kib else 0.0


def print_report(rep: dict[str, Any]) -> None:
    def row(*cells: Any, widths: tuple[int, ...] = (26, 9, 9, 7, 6, 6)) -> None:
        print("  ".join(f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}" for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                       strict=False))))

    run, good = rep["run"], rep["good"]
    print(f"\nsoak {run['started']}: {run['seconds']} s, {run['workers']} workers, {run['rate']:g} good msg/s, "
          f"commit {run['commit']}")
    row("good messages", "sent", "indexed", "lost", "dup", "other")
    for group, g in good.items():
        other = g["unexpected"] + g["ambiguous_indexed"]
        row(f"  {group}", g["sent"], g["indexed"], g["lost"], g["duplicates"], other)
    s = rep["senders"]
    idx = rep["index"]
    print(f"  udp kernel drops {rep['udp_kernel_drops']}; http 503s resent {s.get('http_503_resent', 0)}; "
          f"sequences {idx['sequences']}, duplicated {idx['sequence_duplicates']}; docs without tid "
          f"{idx['documents_without_tid']} (kept corpus cases, expected {idx['kept_corpus_expected']})")
    print("garbage sent")
    garbage = rep["garbage_sent"]
    udp_corpus = sum(v for k, v in garbage.items() if k.startswith("udp corpus "))
    http_cases = {k: v for k, v in garbage.items() if k.startswith("http ") and k != "http slow client"}
    print(f"  udp corpus cases {udp_corpus} ({sum(1 for k in garbage if k.startswith('udp corpus '))} cases); "
          f"random datagrams {garbage.get('udp random bytes', 0)}; never-completed chunks "
          f"{garbage.get('udp chunk never completed', 0)}")
    known = ("tcp corpus burst", "tcp huge frame (no terminator)", "tcp idle connection",
             "tcp slow client, cut by the daemon")
    tcp_rot = ", ".join(f"{k[4:]} {v}" for k, v in garbage.items() if k.startswith("tcp ") and k not in known)
    huge = s.get("huge_frames_bytes") or [0]
    slow_cut = sorted({x for xs in s.get("slow_tcp_cut_after_seconds", []) for x in xs})
    print(f"  tcp corpus bursts {garbage.get('tcp corpus burst', 0)} ({rep['senders'].get('burst_cases', '?')} cases "
          f"each); now and then: {tcp_rot}")
    print(f"  tcp huge frames {garbage.get('tcp huge frame (no terminator)', 0)} x {huge[0] >> 20} MiB (connection "
          f"at end: {s.get('huge_frame_connection_at_end')}); idle connections "
          f"{garbage.get('tcp idle connection', 0)} (at end: {s.get('idle_connections_at_end')}); slow clients cut "
          f"by the daemon {garbage.get('tcp slow client, cut by the daemon', 0)} "
          f"(after {slow_cut[:1]}..{slow_cut[-1:]} s)")
    slow_http = ", ".join(f"{k} x{len(v)} after {min(v)}-{max(v)} s"
                          for k, v in sorted(s.get("slow_http_seconds", {}).items()))
    print(f"  http corpus posts {sum(http_cases.values())} ({len(http_cases)} cases incl. bombs); slow clients: "
          f"{slow_http}")
    print(f"  {'rejected (metrics)':<24}  {'count':>9}  {'expected':>9}")
    for reason, v in rep["rejected"].items():
        flag = "" if v["metrics"] == v["expected"] else "  <- differs"
        print(f"    {reason:<22}  {v['metrics']:>9}  {v['expected']:>9}{flag}")
    print("  dropped fields: " + ", ".join(f"{r} {v['metrics']} (expected {v['expected']})"
                                           for r, v in rep["dropped_fields"].items()))
    if rep["http_garbage_status_mismatch"]:
        print(f"  http answers not as expected: {rep['http_garbage_status_mismatch']}")
    c, t, q = rep["chunks"], rep["tcp"], rep["queue"]
    print(f"chunks: max pending {c['max_pending_messages']} messages / {c['max_pending_bytes'] / 2**20:.1f} MiB; "
          f"completed {c.get('completed', 0)}, expired {c.get('expired', 0)}, evicted {c.get('evicted', 0)}")
    print(f"tcp: {t['connections']} connections, {t['connections_refused']} refused, {t['oversize_frames']} oversize "
          f"frames; http answers {rep['http_responses']}")
    print(f"output: max queue {q['max_events']} events, spooled {q['ever_spooling']}, retried {q['items_retried']}, "
          f"failed {q['items_failed']}, dead letters {q['dead_lettered']}")
    print(f"{'process':<12}  {'pids':<14}  {'restarts':>8}  {'cpu s':>7}  {'RSS MiB warm':>12}  {'end':>6}  "
          f"{'peak':>6}")
    for name, p in rep["processes"].items():
        pids = ",".join(map(str, p["pids"]))
        print(f"{name:<12}  {pids:<14}  {p['restarts']:>8}  {p['cpu_seconds']:>7}  {p['rss_mib_warm']:>12}  "
              f"{p['rss_mib_end']:>6}  {p['rss_mib_peak']:>6}")
    d = rep["daemon"]
    log = d["log"]
    print(f"daemon: exit {d['exit_code']}, restart lines {d['restart_lines']}; log {log['lines']} lines "
          f"{log['levels']}; rejection lines: first-of-reason {log['rejection_first_lines']}, summaries "
          f"{log['rejection_summary_lines']} (min gap s {log['rejection_summary_min_gap_seconds']})")
    ct = d["closing_totals"]
    print(f"  workers' closing lines: {ct['decoded']} decoded, {ct['delivered']} delivered, "
          f"{sum(ct['rejected'].values())} rejected (metrics: {sum(v['metrics'] for v in rep['rejected'].values())}); "
          f"documents in the index {rep['index']['sequences']}")
    print("noisiest log lines:")
    for shape, n in log["noisiest"][:5]:
        print(f"  {n:>6}  {shape[:140]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000, help="good messages/s, all transports (40/40/20 %%)")
    parser.add_argument("--garbage-rate", type=float, default=200,
                        help="corpus and random garbage a second (UDP 50 %%, HTTP 10 %%, TCP bursts 1 %%)")
    parser.add_argument("--chunk-flood-rate", type=float, default=150, help="never-completed chunks a second")
    parser.add_argument("--bomb-every", type=float, default=20, help="seconds between bombs, on TCP and on HTTP")
    parser.add_argument("--huge-frame-mib", type=int, default=100)
    parser.add_argument("--huge-frame-every", type=float, default=60)
    parser.add_argument("--slow-clients", type=int, default=4, help="per transport (TCP, HTTP)")
    parser.add_argument("--idle-connections", type=int, default=300)
    parser.add_argument("--es-heap", default="1g")
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/soak-<time>.json")
    args = parser.parse_args()
    rep = run(args)
    path = args.json or RESULTS / f"soak-{rep['run']['started']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rep, indent=1, default=str) + "\n")
    print_report(rep)
    print(f"JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    bad = any(g["lost"] or g["duplicates"] for k, g in rep["good"].items() if k != "udp")
    return 1 if bad or rep["daemon"]["exit_code"] != 0 or rep["run"]["daemon_died"] else 0


if __name__ == "__main__":
    sys.exit(main())
