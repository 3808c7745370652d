"""What --elasticsearch-compression gzip (level 1, Logstash's default) costs and saves, both ways.

    .venv/bin/python -m benchmarks.bulk_gzip [--events 60000] [--rounds 2]

The suite's Docker-shaped documents, encoded by the pure core as the daemon sends them, posted to a local
Elasticsearch by a minimal keep-alive client, 2 requests at a time: plain and gzip bodies (compressed by
the daemon's own ``gzip_body``) in alternating rounds, each into a fresh index. Prints, for each: the
bytes on the wire, Elasticsearch's docs/s, what compressing costs the sender per document (its CPU time)
and what Elasticsearch spends per document (the CPU time of its process over the posts), as a table and
JSON.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

from benchmarks.measure import NDJSON, RESULTS, encoded_bodies, es_call, es_count, post_bulks, report
from benchmarks.traffic import udp_datagrams
from gelfingest.core.bulk import ID_PREFIX_BYTES, gzip_body, id_prefix
from gelfingest.local_es import LocalElasticsearch
from tests.harness import tree_cpu_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "bulk_gzip.json")
    args = parser.parse_args()
    datagrams = udp_datagrams(args.events)
    results = []
    es = LocalElasticsearch(heap="1g")
    es.start()
    try:
        warm, _ = encoded_bodies(datagrams, "warmup", id_prefix(secrets.token_bytes(ID_PREFIX_BYTES)))
        post_bulks(es.url, warm, 2)
        es_call(es.url, "DELETE", "/warmup")
        for r in range(args.rounds):
            # Alternating which goes first, so a server still warming up favours neither.
            for kind in ("plain", "gzip") if r % 2 == 0 else ("gzip", "plain"):
                index = f"gz-{kind}-{r}-{time.time_ns()}"
                bodies, n = encoded_bodies(datagrams, index, id_prefix(secrets.token_bytes(ID_PREFIX_BYTES)))
                headers = dict(NDJSON)
                cpu = 0.0
                if kind == "gzip":
                    t = time.process_time()
                    bodies = [gzip_body(b) for b in bodies]
                    cpu = time.process_time() - t
                    headers["content-encoding"] = "gzip"
                size = sum(map(len, bodies))
                assert es.process is not None
                es_cpu = tree_cpu_seconds(es.process.pid)
                seconds = post_bulks(es.url, bodies, 2, headers=headers)
                es_cpu = tree_cpu_seconds(es.process.pid) - es_cpu
                assert es_count(es.url, index) == n
                es_call(es.url, "DELETE", f"/{index}")
                results.append({"round": r, "bodies": kind, "docs": n, "mib_posted": round(size / 2**20, 1),
                                "es_docs_per_s": round(n / seconds),
                                "bytes_per_doc": round(size / n), "compress_us_per_doc": round(cpu / n * 1e6, 1),
                                "es_cpu_us_per_doc": round(es_cpu / n * 1e6, 1)})
    finally:
        es.cleanup()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
