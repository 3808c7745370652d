"""Would gzip request bodies (Logstash's default, level 1) help the daemon feed a local Elasticsearch?

    python benchmarks/bulk_gzip.py [--events 60000] [--rounds 2]

The suite's Docker-shaped documents, encoded by the pure core as the daemon sends them, posted to a local
Elasticsearch by a minimal keep-alive client, 2 requests at a time: plain and gzip (level 1) bodies in
alternating rounds, each into a fresh index. Prints Elasticsearch's docs/s for each and what compressing
costs the sender per document (CPU time of gzip level 1), as a table and JSON.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import secrets
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import RESULTS, encoded_bodies, es_call, es_count, report
from benchmarks.traffic import udp_events
from gelfingest.bulk import BULK_FILTER_PATH
from gelfingest.local_es import LocalElasticsearch


def post(es_url: str, bodies: Sequence[bytes], headers: dict[str, str], concurrency: int = 2) -> float:
    url = urllib.parse.urlsplit(es_url)
    lock = threading.Lock()
    queue: Iterator[bytes] = iter(bodies)

    def poster() -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                conn.request("POST", f"/_bulk?filter_path={BULK_FILTER_PATH}", body, headers)
                response = conn.getresponse()
                answer = json.loads(response.read())
                if response.status != 200 or answer["errors"]:
                    raise RuntimeError(str(answer)[:300])
        finally:
            conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(poster) for _ in range(concurrency)]:
            done.result()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "bulk_gzip.json")
    args = parser.parse_args()
    datagrams = [d for e in udp_events(args.events) for d in e]
    plain_headers = {"content-type": "application/x-ndjson", "accept": "application/json"}
    results = []
    es = LocalElasticsearch(heap="1g")
    es.start()
    try:
        warm, _ = encoded_bodies(datagrams, "warmup", secrets.token_hex(4) + "-")
        post(es.url, warm, plain_headers)
        es_call(es.url, "DELETE", "/warmup")
        for r in range(args.rounds):
            for kind in ("plain", "gzip"):
                index = f"gz-{kind}-{r}-{time.time_ns()}"
                bodies, n = encoded_bodies(datagrams, index, secrets.token_hex(4) + "-")
                headers = dict(plain_headers)
                cpu = 0.0
                if kind == "gzip":
                    t = time.process_time()
                    bodies = [gzip.compress(b, 1) for b in bodies]
                    cpu = time.process_time() - t
                    headers["content-encoding"] = "gzip"
                size = sum(map(len, bodies))
                seconds = post(es.url, bodies, headers)
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
