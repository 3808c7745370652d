"""What duplicate protection costs: Elasticsearch's indexing rate for the same documents with ids it picks
(op_type index) and with ids from our sequence (op_type create), and how fast it answers a resend (409s);
and Elasticsearch's CPU-seconds (its process tree, from /proc) per 100,000 documents of each.

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
from tests.harness import tree_cpu_seconds

# As the daemon draws it: 8 URL-safe base64 characters (core/bulk.py, document_ids).
PREFIX = "bEnCh-42"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "document_ids.json")
    args = parser.parse_args()
    es = LocalElasticsearch(heap="1g")
    es.start()
    assert es.process is not None
    pid = es.process.pid
    rates: dict[str, list[float]] = {"auto ids (index)": [], "sequence ids (create)": [], "resend (all 409)": []}
    # Elasticsearch's CPU-seconds per 100,000 documents of each, after the warm-up.
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    datagrams = udp_datagrams(args.events)
    try:
        # A JVM warms up: the first bulk requests are slower whichever way they come. Not measured.
        warm, _ = encoded_bodies(datagrams[: len(datagrams) // 2], f"warmup-{time.time_ns()}", None)
        post_bulks(es.url, warm, args.concurrency)
        for r in range(args.rounds):
            order = [None, PREFIX] if r % 2 == 0 else [PREFIX, None]
            for prefix in order:
                bodies, n = encoded_bodies(datagrams, f"ids-{time.time_ns()}", prefix)
                name = "auto ids (index)" if prefix is None else "sequence ids (create)"
                before = tree_cpu_seconds(pid)
                seconds = post_bulks(es.url, bodies, args.concurrency)
                rates[name].append(n / seconds)
                cpu[name].append((tree_cpu_seconds(pid) - before) * 100_000 / n)
                if prefix is not None:
                    before = tree_cpu_seconds(pid)
                    seconds = post_bulks(es.url, bodies, args.concurrency, allow_409=True)
                    rates["resend (all 409)"].append(n / seconds)
                    cpu["resend (all 409)"].append((tree_cpu_seconds(pid) - before) * 100_000 / n)
    finally:
        es.cleanup()
    auto = statistics.median(rates["auto ids (index)"])
    auto_cpu = statistics.median(cpu["auto ids (index)"])
    results = [{"ids": name, "events": args.events, "rounds": args.rounds,
                "median_docs_per_second": round(statistics.median(v)), "runs": [round(x) for x in v],
                "vs_auto_ids": round(statistics.median(v) / auto, 2),
                "es_cpu_s_per_100k": [round(c, 2) for c in cpu[name]],
                "es_cpu_vs_auto_ids": round(statistics.median(cpu[name]) / auto_cpu, 2)}
               for name, v in rates.items()]
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
