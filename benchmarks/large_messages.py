"""Large messages through the pure core: CPU microseconds per KB of decompressed message.

    .venv/bin/python -m benchmarks.large_messages [--sizes 8 32 128] [--messages 300] [--runs 5]
                                                  [--profile KIND:SIZE]

Three kinds of log-like message, each of about 8, 32 and 128 KB of GELF JSON:

- ``trace``: a Java stack trace as Docker's gelf driver would send it once joined (``short_message`` with
  a newline between frames, tabs before ``at``), which compresses about 10 to 1;
- ``json``: one JSON log line (a structured logger's record with a nested payload), as the text of
  ``short_message`` (so every quote is escaped in the GELF JSON);
- ``suite``: the suite's own large message (benchmarks/traffic.py: words and random lower-case base64,
  which hardly compresses).

Each message carries Docker's driver fields, is gzipped at level 1 (Docker's default) and chunked as
go-gelf chunks (datagrams of 1420 bytes), and is fed to ``Ingest.take_many`` in reads of 512 datagrams, as
the UDP input feeds it. ``--plain`` also runs them uncompressed (chunked the same way). Best and median
of ``--runs`` runs, CPU time (``time.process_time``) divided by the messages and by their decompressed
KB (1 KB = 1,024 bytes of the GELF JSON). Every run checks that every message became one document.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.traffic import CHUNK_DATA
from gelfingest.core.ingest import Ingest, IngestSettings

KINDS = ("trace", "json", "suite")
READ = 512
DRIVER = {"_container_id": "4f0b6a1c" * 8, "_container_name": "orders-api-7", "_image_id": "sha256:" + "ab" * 32,
          "_image_name": "registry.example.com/orders-api:1.42.0", "_command": "java -jar /app/orders.jar",
          "_tag": "4f0b6a1c6a1c", "_created": "2026-11-30T08:12:44.123456789Z"}


def trace_text(size: int, rng: random.Random) -> str:
    packages = ["com.example.orders", "org.springframework.web.servlet", "org.apache.catalina.core",
                "io.netty.channel", "java.util.concurrent"]
    lines = ["java.lang.IllegalStateException: order 81231 could not be reserved: stock service answered 503"]
    while sum(len(line) + 1 for line in lines) < size:
        pkg = rng.choice(packages)
        cls = rng.choice(["Dispatcher", "Handler", "Service", "Invoker", "Worker", "Filter"])
        lines.append(f"\tat {pkg}.{cls}{rng.randint(1, 40)}.handle{rng.choice(['', 'Internal', 'Request'])}"
                     f"({cls}{rng.randint(1, 40)}.java:{rng.randint(20, 900)})")
        if rng.random() < 0.02:
            lines.append(f"Caused by: java.io.IOException: connection reset by peer {rng.randint(1, 10**6)}")
    return "\n".join(lines)


def json_text(size: int, rng: random.Random) -> str:
    record: dict[str, Any] = {"level": "info", "logger": "orders.api", "msg": "request served",
                              "trace_id": f"{rng.getrandbits(128):032x}", "items": []}
    while len(orjson.dumps(record)) < size:
        record["items"].append({"sku": f"SKU-{rng.randint(1, 10**6):07d}", "qty": rng.randint(1, 9),
                                "price": round(rng.random() * 100, 2), "warehouse": rng.choice(["fra", "ams"]),
                                "note": rng.choice(["", "gift", "express delivery", "fragile \"glass\""])})
    return orjson.dumps(record).decode()


def suite_text(size: int, rng: random.Random) -> str:
    words = ["GET", "POST", "/api/v1/users", "200", "upstream", "timeout", "request", "took", "ms", "cache"]
    head = " ".join(rng.choice(words) for _ in range(size // 30))
    return head + " " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(size - len(head)))


TEXT = {"trace": trace_text, "json": json_text, "suite": suite_text}


def message(kind: str, kb: int, k: int, rng: random.Random) -> bytes:
    """One GELF message of about ``kb`` KB (its JSON), number ``k`` at the start of its text."""
    doc = {"version": "1.1", "host": "docker-host-3", "short_message": "", "timestamp": 1764590000.0 + k / 1000,
           "level": 6, **DRIVER}
    overhead = len(orjson.dumps(doc))
    body = TEXT[kind](kb * 1024 - overhead, rng)
    doc["short_message"] = f"#{k} " + body
    data = orjson.dumps(doc)
    return data


def chunked(payload: bytes, message_id: int) -> list[bytes]:
    parts = [payload[i:i + CHUNK_DATA] for i in range(0, len(payload), CHUNK_DATA)]
    if len(parts) == 1:
        return parts
    assert len(parts) <= 128, len(parts)
    mid = message_id.to_bytes(8, "big")
    return [b"\x1e\x0f" + mid + bytes((n, len(parts))) + part for n, part in enumerate(parts)]


def encoded(kinds: Sequence[str], kb: int, messages: int, compress: bool) -> tuple[list[list[bytes]], int]:
    """``messages`` messages of these kinds in turn (a few distinct bodies of each, every message
    numbered), each as its datagrams; and the messages' decompressed bytes."""
    rngs = {kind: random.Random(kb * 7 + KINDS.index(kind)) for kind in kinds}
    bodies = {kind: [message(kind, kb, 0, rngs[kind]) for _ in range(8)] for kind in kinds}
    out: list[list[bytes]] = []
    total = 0
    for k in range(messages):
        kind = kinds[k % len(kinds)]
        data = bodies[kind][k // len(kinds) % 8].replace(b'"#0 ', f'"#{k} '.encode(), 1)
        total += len(data)
        payload = gzip.compress(data, 1, mtime=0) if compress else data
        out.append(chunked(payload, (kb << 40) + k))
    return out, total


def build(kind: str, kb: int, messages: int, compress: bool) -> tuple[list[bytes], int]:
    """The datagrams of ``messages`` messages of one kind, in order, and their decompressed bytes."""
    per_message, total = encoded([kind], kb, messages, compress)
    return [d for datagrams in per_message for d in datagrams], total


def run(datagrams: list[bytes], messages: int) -> float:
    ingest = Ingest(IngestSettings(document_id_prefix="bench-"))
    sources = ["172.17.0.1"] * READ
    now = 1764590000.0
    docs = 0
    start = time.process_time()
    for i in range(0, len(datagrams), READ):
        read = datagrams[i:i + READ]
        batches, rejected = ingest.take_many(read, sources[: len(read)], now)
        assert not rejected, rejected[:2]
        docs += sum(len(b) for b in batches)
    last = ingest.flush()
    took = time.process_time() - start
    docs += len(last) if last is not None else 0
    assert docs == messages, (docs, messages)
    return took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128], metavar="KB")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="also uncompressed")
    parser.add_argument("--profile", metavar="KIND:KB", help="cProfile one case (gzip), and stop")
    args = parser.parse_args(argv)
    if args.profile:
        kind, kb = args.profile.split(":")
        datagrams, _ = build(kind, int(kb), args.messages, True)
        profiler = cProfile.Profile()
        profiler.runcall(run, datagrams, args.messages)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
        return 0
    print("encoding kind    KB  chunks/msg   us/message (best, median)    us/KB (best, median)")
    for compress in [True, False] if args.plain else [True]:
        for kind in KINDS:
            for kb in args.sizes:
                datagrams, total = build(kind, kb, args.messages, compress)
                times = sorted(run(datagrams, args.messages) for _ in range(args.runs))
                best, median = times[0], times[len(times) // 2]
                per_kb = total / 1024 / 1e6
                print(f"{'gzip' if compress else 'plain':8} {kind:6} {kb:4} {len(datagrams) / args.messages:10.1f}"
                      f"   {best / args.messages * 1e6:9.1f} {median / args.messages * 1e6:9.1f}"
                      f"          {best / per_kb:7.2f} {median / per_kb:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
