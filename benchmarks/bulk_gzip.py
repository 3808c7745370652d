"""Would gzip request bodies (Logstash's default, level 1) help the daemon feed a local Elasticsearch?

    .venv/bin/python -m benchmarks.bulk_gzip [--events 60000] [--rounds 2]

The suite's Docker-shaped documents, encoded by the pure core as the daemon sends them, posted to a local
Elasticsearch by a minimal keep-alive client, 2 requests at a time: plain and gzip (level 1) bodies in
alternating rounds, each into a fresh index. Prints Elasticsearch's docs/s for each and what compressing
costs the sender per document (CPU time of gzip level 1), as a table and JSON.
"""

from __future__ import annotations

import argparse
import gzip
import secrets
import sys
import time
from pathlib import Path

from benchmarks.measure import NDJSON, RESULTS, encoded_bodies, es_call, es_count, post_bulks, report
from benchmarks.traffic import udp_datagrams
from gelfingest.local_es import LocalElasticsearch


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
        warm, _ = encoded_bodies(datagrams, "warmup", secrets.token_hex(4) + "-")
        post_bulks(es.url, warm, 2)
        es_call(es.url, "DELETE", "/warmup")
        for r in range(args.rounds):
            # Alternating which goes first, so a server still warming up favours neither.
            for kind in ("plain", "gzip") if r % 2 == 0 else ("gzip", "plain"):
                index = f"gz-{kind}-{r}-{time.time_ns()}"
                bodies, n = encoded_bodies(datagrams, index, secrets.token_hex(4) + "-")
                headers = dict(NDJSON)
                cpu = 0.0
                if kind == "gzip":
                    t = time.process_time()
                    bodies = [gzip.compress(b, 1) for b in bodies]
                    cpu = time.process_time() - t
                    headers["content-encoding"] = "gzip"
                size = sum(map(len, bodies))
                seconds = post_bulks(es.url, bodies, 2, headers=headers)
                assert es_count(es.url, index) == n
                es_call(es.url, "DELETE", f"/{index}")
                results.append({"round": r, "bodies": kind, "docs": n, "mib_posted": round(size / 2**20, 1),
                                "es_docs_per_s": round(n / seconds),
                                "compress_us_per_doc": round(cpu / n * 1e6, 1)})
    finally:
        es.cleanup()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
