"""The pure data path in one process, stage by stage: microseconds per event, no sockets, no server.

    .venv/bin/python -m benchmarks.pure_path [--events 30000]

Same Docker-shaped traffic as the suite (benchmarks/traffic.py), fed as the UDP input feeds it. Best of 5
runs per figure (CPU time of a noisy machine: compare runs made together, not across days).
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from zlib_ng import zlib_ng

from benchmarks.traffic import udp_events
from gelfingest.core.decompress import DEFAULT_MAX_MESSAGE_SIZE, decompress
from gelfingest.core.ecs import EcsMapper
from gelfingest.core.gelf import GelfDecoder
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.inputs.udp import DRAIN_PER_WAKEUP


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
    events = udp_events(args.events)
    datagrams = [d for e in events for d in e]
    small = [e[0] for e in events if len(e) == 1]
    chunked = [d for e in events if len(e) > 1 for d in e]
    plain = [decompress(d) for d in small]

    def ingest_all(traffic: list[bytes], expected: int,
                   settings: IngestSettings | None = None) -> Callable[[object], None]:
        """The whole path as the UDP input drives it: bursts of up to 512 datagrams, one now each. Every
        event must come out decoded: a core that rejected them would look fast."""
        def run(_: object) -> None:
            ingest = Ingest(settings)  # a new one each time: a chunk seen before is a duplicate
            sources = ["172.17.0.1"] * DRAIN_PER_WAKEUP
            for i in range(0, len(traffic), DRAIN_PER_WAKEUP):
                burst = traffic[i : i + DRAIN_PER_WAKEUP]
                ingest.take_many(burst, sources[: len(burst)], 1_763_900_000.0)
            assert ingest.decoded == expected, (ingest.decoded, expected)
        return run

    decoder, mapper = GelfDecoder(), EcsMapper()
    docs = [decoder.decode(p, "172.17.0.1", 1.0)[0] for p in plain]
    n_chunked = len(events) - len(small)
    cap = DEFAULT_MAX_MESSAGE_SIZE + 1
    rows = [
        ("whole path (Ingest.take_many), per event",
         best_us(ingest_all(datagrams, args.events), [None], per=args.events)),
        ("  small (unchunked) events", best_us(ingest_all(small, len(small)), [None], per=len(small))),
        ("  chunked events", best_us(ingest_all(chunked, n_chunked), [None], per=n_chunked)),
        ("whole path, ids from the sequence (default)", best_us(
            ingest_all(datagrams, args.events, IngestSettings(document_id_prefix="Ab3-")), [None],
            per=args.events)),
        ("  the same, --schema ecs", best_us(
            ingest_all(datagrams, args.events, IngestSettings(document_id_prefix="Ab3-", schema="ecs")), [None],
            per=args.events)),
        ("decompress (small events)", best_us(decompress, small)),
        # The inflate decompress makes (a stream object, stopped at the cap), with each library.
        ("  its inflate, zlib-ng", best_us(lambda d: zlib_ng.decompressobj(31).decompress(d, cap), small)),
        ("  the same inflate, stdlib zlib", best_us(lambda d: zlib.decompressobj(31).decompress(d, cap), small)),
        ("GELF decode and mapping (small events)", best_us(lambda p: decoder.decode(p, "172.17.0.1", 1.0), plain)),
        ("  of which orjson.loads alone", best_us(orjson.loads, plain)),
        ("ECS mapping alone (--schema ecs, small events)", best_us(lambda d: mapper.document(d, 1, "t"), docs)),
    ]
    for label, us in rows:
        print(f"{label:47} {us:7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
