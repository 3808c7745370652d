"""The load generator: Docker-shaped GELF traffic, encoded once, and the processes that replay it.

What Docker's gelf log driver (go-gelf, FACTS.md) sends: ``version`` 1.1, ``host``, ``short_message``,
``timestamp`` in float seconds with millisecond precision, ``level`` 6 and the driver's ``_container_id``,
``_container_name``, ``_image_id``, ``_image_name``, ``_command``, ``_tag``, ``_created``, as compact JSON
(as Go's encoding/json writes it). Lines of 80-400 bytes of words, and about 5 % large messages: n/5 words
and n characters of random lower-case base64 (n = 6000-12000), which do not compress much: 6-12 KB
gzipped. Over UDP each message is gzipped at level 1 (Docker's default) and a payload above 1420 bytes is
chunked as go-gelf chunks it: datagrams of 1420 bytes, a 12-byte header and 1408 bytes of data (about 8
chunks a large message). Over TCP it is uncompressed JSON ending in one NUL byte, no large messages.

Every event's ``short_message`` starts with its number (unique within a build, so counts can be checked),
and its timestamp is the time of the build, so an index window of days around "now" takes it. Encoding is
spread over every core (each slice of events seeds its own generator, so the traffic is the same on any
machine): 200,000 UDP events took 7 s on our two idle cores (mostly gzip of the ordinary lines; the large
messages' bodies repeat, a few per slice, so that theirs is done once: see _BigGzip), 200,000 TCP frames 2 s.

The replay runs in a separate process (forked, so the encoded traffic is not copied or pickled) and does
little more than ``sendto``/``sendall``: the generator is never what is measured. It may loop over the
encoded events (then numbers repeat); chunked messages get a fresh message id every time they are sent.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gzip
import itertools
import multiprocessing
import os
import random
import socket
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

WORDS = [
    "GET", "POST", "/api/v1/users", "/health", "200", "404", "500", "upstream", "timeout", "connection",
    "reset", "request", "id", "took", "ms", "user", "session", "cache", "miss", "hit", "retry", "worker",
    "started", "finished",
]
# A random byte -> an index into WORDS (random words without a Python call per word).
_WORD_INDEX = bytes(b % len(WORDS) for b in range(256))
# go-gelf's chunking: a payload above CHUNKED_SIZE goes in datagrams of CHUNKED_SIZE bytes, of which the
# first 12 are the chunk header.
CHUNKED_SIZE = 1420
CHUNK_DATA = CHUNKED_SIZE - 12
# Source sockets the UDP replay rotates over, as many containers (or nginx's per-datagram ports) would:
# SO_REUSEPORT spreads datagrams over the workers by source address, so one socket would feed one worker.
SENDER_SOCKETS = 64
# Events sent back to back (from one source socket) before the pacing sleeps.
BURST = 100
# Events a generating process builds at a time (each slice with its own seeded generator).
SLICE = 10_000
# Distinct large-message bodies in a slice of events.
BIG_BODIES = 16
# gzip's header as Go writes it: deflate, no name, no time, level 1 ("fastest"), unknown OS.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
# fork: the children see the parent's encoded traffic as it is, without pickling hundreds of MB.
_FORK = multiprocessing.get_context("fork")


def _keep_freed_memory() -> None:
    """Let glibc keep freed memory instead of returning it to the kernel at once.

    Each gzip.compress allocates and frees deflate's ~256 KB of state; returned to the kernel every time, it
    page-faults back in at the next call, which on these VMs made compressing a 600-byte message cost 50-90 us
    instead of 10-30 us. (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD; a no-op where there is no glibc.)
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)
        libc.mallopt(-1, 256 << 20)


def docker_event(i: int, text: str, now: float) -> dict[str, Any]:
    """Event ``i`` as Docker's gelf driver sends it."""
    return {
        "version": "1.1", "host": "docker-host", "short_message": text, "timestamp": round(now, 3), "level": 6,
        "_container_id": "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e",
        "_container_name": f"web-{i % 7}", "_image_id": "sha256:0123456789abcdef0123456789abcdef",
        "_image_name": "nginx:1.25", "_command": "nginx -g daemon off;", "_tag": "3f4e5d6c7b8a",
        "_created": "2026-11-23T08:00:00.123456789Z",
    }


def _words(rng: random.Random, count: int) -> str:
    return " ".join(map(WORDS.__getitem__, rng.randbytes(count).translate(_WORD_INDEX)))


def line_text(rng: random.Random, i: int) -> str:
    """An ordinary log line: its number and words, 80-400 characters."""
    n = rng.randrange(80, 400)
    return (f"{i} " + _words(rng, n // 5))[:n]


def big_body(rng: random.Random) -> str:
    """The body of a large message: n/5 words and n characters of random lower-case base64 (n = 6000-12000),
    about 5.2 bits a character, as incompressible as random [a-z0-9]."""
    n = rng.randrange(6000, 12000)
    return _words(rng, n // 5) + " " + base64.b64encode(rng.randbytes(n * 3 // 4 + 3)).decode("ascii").lower()[:n]


def chunks_of(payload: bytes, rng: random.Random, size: int = CHUNK_DATA) -> list[bytes]:
    """GELF chunks: magic, an 8-byte message id, sequence number and count, then ``size`` bytes of data."""
    mid = rng.randbytes(8)
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    return [b"\x1e\x0f" + mid + struct.pack("BB", k, len(parts)) + p for k, p in enumerate(parts)]


def _deflate(data: bytes, finish: bool) -> bytes:
    """Raw deflate at level 1. Unfinished, it ends in a full flush: byte-aligned, and nothing compressed
    after it refers back to it, so another stream may follow."""
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if finish else zlib.Z_FULL_FLUSH)


class _BigGzip:
    """gzip level 1 of large messages whose bodies repeat (a few per slice of events): the part after a
    message's number is compressed once per distinct content and each message compresses only its head.
    The result is one gzip member as any other (the head's blocks, then the body's), a few bytes longer;
    compressing 20 KB a message instead would make generation twice as slow."""

    def __init__(self) -> None:
        self.tails: dict[bytes, bytes] = {}

    def __call__(self, json: bytes, head: int) -> bytes:
        front, tail = json[:head], json[head:]
        if (deflated := self.tails.get(tail)) is None:
            deflated = self.tails[tail] = _deflate(tail, finish=True)
        crc = zlib.crc32(tail, zlib.crc32(front))
        return _GZIP_HEADER + _deflate(front, finish=False) + deflated + struct.pack("<II", crc, len(json))


def _udp_slice(first: int, last: int, chunked_share: float, seed: int, now: float,
               compress: bool) -> list[tuple[bytes, ...]]:
    _keep_freed_memory()
    rng = random.Random(seed * 1_000_003 + first)
    bodies = [big_body(rng) for _ in range(BIG_BODIES)]
    big_gzip = _BigGzip()
    out: list[tuple[bytes, ...]] = []
    for i in range(first, last):
        if rng.random() < chunked_share:
            json = orjson.dumps(docker_event(i, f"{i} {rng.choice(bodies)}", now))
            payload = big_gzip(json, json.index(b'"short_message":"') + len(f'"short_message":"{i} '))
        else:
            json = orjson.dumps(docker_event(i, line_text(rng, i), now))
            payload = gzip.compress(json, 1) if compress else json
        out.append(tuple(chunks_of(payload, rng)) if len(payload) > CHUNKED_SIZE else (payload,))
    return out


def _tcp_slice(first: int, last: int, seed: int, now: float) -> list[bytes]:
    rng = random.Random(seed * 1_000_003 + first)
    return [orjson.dumps(docker_event(i, line_text(rng, i), now)) + b"\0" for i in range(first, last)]


def _in_slices(build: Callable[..., list[T]], events: int, *args: object) -> list[T]:
    """``build(first, last, *args)`` over slices of ``events``, on every core (the result is the same on any
    number of cores: each slice seeds its own generator)."""
    slices = [(first, min(first + SLICE, events), *args) for first in range(0, events, SLICE)]
    with _FORK.Pool(min(len(slices), os.cpu_count() or 1) or 1) as pool:
        return [item for part in pool.starmap(build, slices) for item in part]


def udp_events(events: int, chunked_share: float = 0.05, seed: int = 1,
               compress: bool = True) -> list[tuple[bytes, ...]]:
    """``events`` Docker-shaped UDP events, each as the datagrams that carry it (one, or its chunks); the
    small ones gzipped at level 1 as Docker's driver sends them, or (``compress`` false) plain JSON."""
    return _in_slices(_udp_slice, events, chunked_share, seed, time.time(), compress)


def udp_datagrams(events: int, chunked_share: float = 0.05) -> list[bytes]:
    """The datagrams of ``events`` UDP events, in send order."""
    return [d for event in udp_events(events, chunked_share) for d in event]


def tcp_frames(events: int, seed: int = 1) -> list[bytes]:
    """``events`` Docker-shaped GELF TCP frames (no large ones): uncompressed JSON and a NUL byte."""
    return _in_slices(_tcp_slice, events, seed, time.time())


@dataclass(frozen=True, slots=True)
class Sent:
    """What a replay put on the wire."""

    events: int
    datagrams: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _replay_udp(port: int, events: Sequence[tuple[bytes, ...]], count: int, rate: float,
                seconds: Synchronized[float]) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SENDER_SOCKETS)]
    # A chunked message gets a new id each time it goes, as go-gelf draws one per message: the daemon
    # ignores chunks of an id it has just completed, so a replayed id would be taken for a duplicate.
    ids = itertools.count(int.from_bytes(os.urandom(8), "little"))
    try:
        addr = ("127.0.0.1", port)
        n = len(events)
        start = time.perf_counter()
        for first in range(0, count, BURST):
            send = socks[(first // BURST) % SENDER_SOCKETS].sendto
            for k in range(first, min(first + BURST, count)):
                event = events[k % n]
                if len(event) == 1:
                    send(event[0], addr)
                    continue
                mid = (next(ids) % 2**64).to_bytes(8, "little")
                for chunk in event:
                    send(chunk[:2] + mid + chunk[10:], addr)
            if rate:
                ahead = (first + BURST) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        seconds.value = time.perf_counter() - start
    finally:
        for s in socks:
            s.close()


def send_udp(port: int, events: Sequence[tuple[bytes, ...]], count: int, rate: float = 0.0) -> Sent:
    """Send ``count`` events (looping over ``events``) from another process, at ``rate`` events/s in bursts
    of BURST, or as fast as it can (``rate`` 0); return once all are sent."""
    seconds = _FORK.Value("d", 0.0)
    proc = _FORK.Process(target=_replay_udp, args=(port, events, count, rate, seconds))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the UDP sender exited with {proc.exitcode}")
    full, rest = divmod(count, len(events))
    datagrams = [len(e) for e in events]
    sizes = [sum(map(len, e)) for e in events]
    return Sent(count, full * sum(datagrams) + sum(datagrams[:rest]), full * sum(sizes) + sum(sizes[:rest]),
                seconds.value)


def _write_tcp(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(payload)


def send_tcp(port: int, frames: Sequence[bytes], connections: int) -> Sent:
    """Write the frames over ``connections`` connections at once (one process each), as fast as they take
    them; return once all are written."""
    payloads = [b"".join(frames[k::connections]) for k in range(connections)]
    procs = [_FORK.Process(target=_write_tcp, args=(port, p)) for p in payloads]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - start
    if failed := [p.exitcode for p in procs if p.exitcode != 0]:
        raise RuntimeError(f"TCP writers exited with {failed}")
    return Sent(len(frames), len(frames), sum(map(len, payloads)), seconds)
