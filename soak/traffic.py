"""The soak's traffic: the good senders and the garbage senders, each a process of its own, and their pacing.

Each sender runs until ``stop`` (a multiprocessing.Event) is set, then puts one result dict on ``results`` (a
multiprocessing.Queue): ``good`` (the tids sent, by group: GROUPS), ``ambiguous`` (tids that may or may not
have arrived: a connection broke while sending them), ``garbage`` (how many of each kind were sent),
``expected`` (the pure core's outcomes of the random garbage) and ``info`` (anything else worth reporting).
The corpus of bad input and its expected outcomes are soak/corpus.py's.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.client
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.traffic import CHUNKED_SIZE, WORDS, chunks_of, docker_event
from soak.corpus import Outcome, outcomes, scaled

# Groups of good messages: the tid is "<group>:<n>".
GROUPS = ("udp", "tcp", "http", "tcp_slow", "http_slow", "tcp_after_huge_frame")


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


def post_good(conn: http.client.HTTPConnection | None, port: int, tid: str, body: bytes, headers: dict[str, str],
               out: dict[str, Any]) -> tuple[http.client.HTTPConnection | None, int | None]:
    """POST one good message until it gets an answer other than 503 (resent after Retry-After), for up to 60 s;
    the connection to go on with, and the answer's status (None: no answer)."""
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
    return conn, status


def good_http_thread(port: int, rate: float, k: int, stop: Any, outs: list[dict[str, Any]]) -> None:
    """One of good_http's threads: ``rate`` messages a second over one keep-alive connection, a quarter gzipped."""
    rng = random.Random(100 + k)
    out: dict[str, Any] = {"sent": [], "ambiguous": [], "refused": [], "statuses": Counter(), "503": 0,
                           "errors": Counter()}
    outs.append(out)
    conn: http.client.HTTPConnection | None = None
    pacer = Pacer(rate)
    n = 0
    while not stop.is_set():
        tid = f"http:{k}.{n}"
        body = encode(good_message(rng, tid, n))
        headers = {"Content-Type": "application/json"}
        if n % 4 == 3:
            body, headers["Content-Encoding"] = gzip.compress(body, 1), "gzip"
        conn, status = post_good(conn, port, tid, body, headers, out)
        out["statuses"][status] += 1
        (out["sent"] if status == 202 else out["refused"]).append(tid)
        n += 1
        pacer.wait(n)
    if conn is not None:
        conn.close()


def good_http(port: int, rate: float, stop: Any, results: Any, threads: int = 2) -> None:
    outs: list[dict[str, Any]] = []
    for t in run_threads([functools.partial(good_http_thread, port, rate / threads, k, stop, outs)
                          for k in range(threads)]):
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


class Tally:
    """What the threads of one sender sent, and failed to send, by kind."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()

    def count(self, kind: str, error: bool = False) -> None:
        with self.lock:
            (self.errors if error else self.sent)[kind] += 1


def tcp_bursts(port: int, burst: bytes, rate: float, stop: Any, tally: Tally) -> None:
    """The TCP corpus burst, ``rate`` times a second, each on a connection of its own."""
    tick = Ticker(rate)
    while not stop.wait(0.05):
        for _ in range(tick.due(time.monotonic())):
            try:
                with connect(port) as s:
                    s.sendall(burst)
                tally.count("tcp corpus burst")
            except OSError:
                tally.count("tcp corpus burst", error=True)


def tcp_rotation(port: int, rotation: list[tuple[str, bytes]], every: float, stop: Any, tally: Tally) -> None:
    """The rotation (the bombs, the cases with a NUL in them) in turn, one every ``every`` s (the first after half
    of it), each on a connection of its own and ended by a NUL."""
    i = 0
    while not stop.wait(every if i else every / 2):
        name, data = rotation[i % len(rotation)]
        i += 1
        try:
            with connect(port) as s:
                s.sendall(data + b"\0")
            tally.count(f"tcp {name}")
        except OSError:
            tally.count(f"tcp {name}", error=True)


def garbage_tcp(port: int, burst: bytes, rotation: list[tuple[str, bytes]], burst_rate: float, bomb_every: float,
                huge_mib: int, huge_every: float, huge_first: float, slow: int, idle: int,
                stop: Any, results: Any) -> None:
    tally = Tally()
    sent, errors = tally.sent, tally.errors
    huge: dict[str, Any] = {"frames": [], "sent": []}
    slows: list[dict[str, Any]] = [{"sent": [], "cut": [], "connect_errors": 0} for _ in range(slow)]
    targets: list[Callable[[], None]] = [
        functools.partial(tcp_bursts, port, burst, burst_rate, stop, tally),
        functools.partial(tcp_rotation, port, rotation, bomb_every, stop, tally),
        functools.partial(huge_frames, port, huge_mib, huge_first, huge_every, stop, huge),
    ]
    targets += [functools.partial(slow_tcp, port, k, k % 2 == 1, stop, slows[k]) for k in range(slow)]
    threads = run_threads(targets)
    idlers: list[socket.socket] = []
    for _ in range(idle):
        try:
            idlers.append(connect(port))
        except OSError:
            tally.count("tcp idle connection", error=True)
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


def post_garbage(conn: http.client.HTTPConnection, name: str, body: bytes, tally: Tally) -> None:
    """POST one case; counted as "<case> <status>" (or the exception's name when there was no answer)."""
    try:
        conn.request("POST", "/gelf", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        status: Any = resp.status
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        status = type(exc).__name__
    tally.count(f"{name} {status}")


def http_cases(port: int, corpus: list[tuple[str, bytes]], rate: float, stop: Any, tally: Tally) -> None:
    """The HTTP corpus in turn, ``rate`` cases a second, over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tick, i = Ticker(rate), 0
    while not stop.wait(0.01):
        for _ in range(tick.due(time.monotonic())):
            name, body = corpus[i % len(corpus)]
            i += 1
            post_garbage(conn, name, body, tally)
    conn.close()


def http_rotation(port: int, rotation: list[tuple[str, bytes]], every: float, stop: Any, tally: Tally) -> None:
    """The bombs in turn, one every ``every`` s, over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = 0
    while not stop.wait(every):
        name, body = rotation[i % len(rotation)]
        i += 1
        post_garbage(conn, name, body, tally)
    conn.close()


def garbage_http(port: int, corpus: list[tuple[str, bytes]], rotation: list[tuple[str, bytes]], rate: float,
                 bomb_every: float, slow: int, stop: Any, results: Any) -> None:
    tally = Tally()
    statuses = tally.sent  # "case status"
    slows: list[dict[str, Any]] = [{"sent": [], "outcomes": Counter(), "seconds": {}, "connect_errors": 0}
                                   for _ in range(slow)]
    targets: list[Callable[[], None]] = [functools.partial(http_cases, port, corpus, rate, stop, tally),
                                         functools.partial(http_rotation, port, rotation, bomb_every, stop, tally)]
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

