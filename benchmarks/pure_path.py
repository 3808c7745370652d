"""The pure data path in one process, stage by stage: microseconds per event, no sockets, no server.

    .venv/bin/python benchmarks/pure_path.py [--events 30000]

Same Docker-shaped traffic as the suite (benchmarks/traffic.py). Best of 5 runs per figure.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.traffic import build_traffic
from gelfingest.gelf import GelfDecoder
from gelfingest.ingest import Ingest
from gelfingest.payload import decompress


def best_us(fn: Callable[[Any], object], items: Sequence[Any], per: int | None = None) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / (per or len(items)) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    args = parser.parse_args()
    datagrams, _ = build_traffic(args.events)
    whole = [d for d in datagrams if d[:2] != b"\x1e\x0f"]
    plain = [decompress(d) for d in whole]

    def ingest_all(_: object) -> None:
        ingest = Ingest()
        for d in datagrams:
            ingest.datagram(d, "172.17.0.1", 1_763_900_000.0)

    decoder = GelfDecoder()
    rows = [
        ("whole path (Ingest.datagram), per event", best_us(ingest_all, [None], per=args.events)),
        ("decompress (unchunked messages)", best_us(decompress, whole)),
        ("  of which zlib.decompress alone", best_us(lambda d: zlib.decompress(d, 31), whole)),
        ("GELF decode and mapping", best_us(lambda p: decoder.decode(p, "172.17.0.1", 1.0), plain)),
        ("  of which orjson.loads alone", best_us(orjson.loads, plain)),
    ]
    for label, us in rows:
        print(f"{label:42} {us:7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
