"""What duplicate protection costs: Elasticsearch's indexing rate for the same documents with ids it picks
(op_type index) and with ids from our sequence (op_type create), and how fast it answers a resend (409s).

    .venv/bin/python -m benchmarks.document_ids [--events 100000] [--rounds 2]

Starts its own local Elasticsearch and warms it up; each round posts the same Docker-shaped traffic (encoded by our pure
core, 5000 documents a request, 2 requests at once) into a fresh index both ways, alternating which goes
first, then posts the create bodies again to measure a replay of what is already there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.measure import RESULTS, encoded_bodies, post_bulks, report
from benchmarks.traffic import udp_datagrams
from gelfingest.local_es import LocalElasticsearch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "document_ids.json")
    args = parser.parse_args()
    es = LocalElasticsearch(heap="1g")
    es.start()
    rates: dict[str, list[float]] = {"auto ids (index)": [], "sequence ids (create)": [], "resend (all 409)": []}
    datagrams = udp_datagrams(args.events)
    try:
        # A JVM warms up: the first bulk requests are slower whichever way they come. Not measured.
        warm, _ = encoded_bodies(datagrams[: len(datagrams) // 2], f"warmup-{time.time_ns()}", None)
        post_bulks(es.url, warm, args.concurrency)
        for r in range(args.rounds):
            order = [None, "bench-"] if r % 2 == 0 else ["bench-", None]
            for prefix in order:
                bodies, n = encoded_bodies(datagrams, f"ids-{time.time_ns()}", prefix)
                seconds = post_bulks(es.url, bodies, args.concurrency)
                rates["auto ids (index)" if prefix is None else "sequence ids (create)"].append(n / seconds)
                if prefix is not None:
                    seconds = post_bulks(es.url, bodies, args.concurrency, allow_409=True)
                    rates["resend (all 409)"].append(n / seconds)
    finally:
        es.cleanup()
    auto = statistics.median(rates["auto ids (index)"])
    results = [{"ids": name, "events": args.events, "rounds": args.rounds,
                "median_docs_per_second": round(statistics.median(v)), "runs": [round(x) for x in v],
                "vs_auto_ids": round(statistics.median(v) / auto, 2)} for name, v in rates.items()]
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
