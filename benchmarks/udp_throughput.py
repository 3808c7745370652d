"""UDP throughput of gelfingest, into the null output or a real Elasticsearch.

    .venv/bin/python benchmarks/udp_throughput.py [--output null|elasticsearch] [--events N] [--rate R]

Traffic is pre-encoded once (Docker-shaped GELF: the driver's `_container_*` fields, 80-400 byte lines,
gzip level 1 as Docker's default, about 5 % of messages large enough to be chunked) and replayed from a
separate process, so the generator is not what is measured. Figures: events sent, delivered, lost;
events per CPU-second of gelfingest (its own utime+stime from /proc, so the figure holds on a shared
2-core machine); wall-clock events/s; peak RSS. Printed as a table and as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gelfingest.local_es import LocalElasticsearch  # noqa: E402
from gelfingest.metrics import udp_kernel_drops  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
WORDS = [
    "GET", "POST", "/api/v1/users", "/health", "200", "404", "500", "upstream", "timeout", "connection",
    "reset", "request", "id", "took", "ms", "user", "session", "cache", "miss", "hit", "retry", "worker",
    "started", "finished",
]


def docker_message(rng: random.Random, i: int, big: bool) -> bytes:
    n = rng.randrange(80, 400) if not big else rng.randrange(6000, 12000)
    text = f"{i} " + " ".join(rng.choice(WORDS) for _ in range(n // 5))
    if big:
        text += " " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))
    msg = {
        "version": "1.1", "host": "docker-host", "short_message": text[:n] if not big else text,
        "timestamp": round(time.time(), 3), "level": 6,
        "_container_id": "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e",
        "_container_name": f"web-{i % 7}", "_image_id": "sha256:0123456789abcdef0123456789abcdef",
        "_image_name": "nginx:1.25", "_command": "nginx -g daemon off;", "_tag": "3f4e5d6c7b8a",
        "_created": "2026-11-23T08:00:00.123456789Z",
    }
    return gzip.compress(json.dumps(msg).encode(), 1)


def chunks_of(payload: bytes, rng: random.Random, size: int = 1408) -> list[bytes]:
    mid = rng.randbytes(8)
    parts = [payload[i : i + size] for i in range(0, len(payload), size)]
    return [b"\x1e\x0f" + mid + struct.pack("BB", k, len(parts)) + p for k, p in enumerate(parts)]


def build_traffic(events: int, chunked_share: float = 0.05) -> tuple[list[bytes], int]:
    rng = random.Random(1)
    datagrams: list[bytes] = []
    for i in range(events):
        payload = docker_message(rng, i, rng.random() < chunked_share)
        datagrams.extend(chunks_of(payload, rng) if len(payload) > 1420 else [payload])
    return datagrams, sum(len(d) for d in datagrams)


# Source sockets the sender rotates over, as many containers (or nginx's per-datagram ports) would:
# SO_REUSEPORT spreads by source address, so one socket would feed only one worker.
SENDER_SOCKETS = 64


def sender(port: int, datagrams: list[bytes], rate: float, done: Any) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(SENDER_SOCKETS)]
    try:
        addr = ("127.0.0.1", port)
        start = time.perf_counter()
        burst = 100
        for i in range(0, len(datagrams), burst):
            s = socks[(i // burst) % SENDER_SOCKETS]
            for d in datagrams[i : i + burst]:
                s.sendto(d, addr)
            if rate:
                ahead = (i + burst) / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        done.value = time.perf_counter() - start
    finally:
        for s in socks:
            s.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """The process and its children (the supervisor and its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(c) for c in children)]


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def peak_rss_mib(pid: int) -> float:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m[1]) / 1024 if m else 0.0


def udp_drops() -> int:
    return udp_kernel_drops(None)


def wait_until_idle(pid: int, interval: float = 0.2, quiet: float = 0.01) -> tuple[float, float]:
    """Wait until gelfingest (and its workers) stop using CPU.

    Returns their CPU seconds then, and the perf_counter time of the last sample in which they were busy
    (the end of the work, to within ``interval``).
    """
    last, last_busy = -1.0, time.perf_counter()
    while True:
        time.sleep(interval)
        cpu = tree_cpu_seconds(pid)
        if cpu - last < quiet:
            return cpu, last_busy
        last, last_busy = cpu, time.perf_counter()


def run(output: str, events: int, rate: float, es_url: str | None, workers: int = 1,
        document_id: str = "sequence") -> dict[str, Any]:
    datagrams, nbytes = build_traffic(events)
    index = f"bench-{int(time.time())}"
    env = {**os.environ, "GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_TCP": "off",
           "GELFINGEST_HTTP": "off", "GELFINGEST_OUTPUT": output,
           "GELFINGEST_INDEX": index, "GELFINGEST_DATA_DIR": tempfile.mkdtemp(prefix="bench-"),
           "GELFINGEST_BATCH_MAX_AGE": "0.5", "GELFINGEST_WORKERS": str(workers),
           "GELFINGEST_DOCUMENT_ID": document_id}
    if es_url:
        env["ELASTICSEARCH_HOSTS"] = es_url
    proc = subprocess.Popen([sys.executable, "-m", "gelfingest"], env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    port, listening = 0, 0
    while listening < workers:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("gelfingest did not start")
        if m := re.search(r"listening on udp=\S+:(\d+)", line):
            port = int(m[1])
            listening += 1
    time.sleep(0.5)
    cpu0, drops0 = tree_cpu_seconds(proc.pid), udp_drops()
    done = multiprocessing.Value("d", 0.0)
    t0 = time.perf_counter()
    p = multiprocessing.Process(target=sender, args=(port, datagrams, rate, done))
    p.start()
    p.join()
    # Let it finish what is in its socket buffer and batches.
    last, busy_until = wait_until_idle(proc.pid)
    wall = busy_until - t0
    rss = max(peak_rss_mib(p) for p in process_tree(proc.pid)[-workers:])
    # Before the socket closes: its row, and its drop counter, leave /proc/net/udp with it.
    drops = udp_drops() - drops0
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    cpu_used = last - cpu0
    delivered = sum(int(m[2]) for m in re.finditer(r"(\d+) events decoded, (\d+) delivered", err))
    if es_url:
        urllib.request.urlopen(urllib.request.Request(f"{es_url}/{index}/_refresh", method="POST")).read()
        with urllib.request.urlopen(f"{es_url}/{index}/_count") as r:
            delivered = json.loads(r.read())["count"]
    return {
        "output": output, "workers": workers, "offered_rate": rate or "max", "events_sent": events,
        "datagrams_sent": len(datagrams),
        "mib_sent": round(nbytes / 2**20, 1), "send_seconds": round(done.value, 2),
        "events_delivered": delivered, "events_lost": events - delivered,
        "kernel_udp_drops": drops,
        "gelfingest_cpu_seconds": round(cpu_used, 2),
        "events_per_cpu_second": round(delivered / cpu_used) if cpu_used else None,
        "wall_events_per_second": round(delivered / wall) if wall > 0 else None,
        "peak_rss_mib_per_worker": round(rss, 1),
    }


def encoded_bodies(events: int, index: str, id_prefix: str | None = None) -> tuple[list[bytes], int]:
    """Bulk bodies for Docker-shaped traffic, encoded by our pure core (with ids from the sequence or not)."""
    from gelfingest.ingest import Ingest, IngestSettings

    datagrams, _ = build_traffic(events)
    ingest = Ingest(IngestSettings(index_pattern=index, document_id_prefix=id_prefix))
    bodies = [b.body() for d in datagrams if (b := ingest.datagram(d, "127.0.0.1", time.time()))]
    if (tail := ingest.flush()) is not None:
        bodies.append(tail.body())
    return bodies, ingest.decoded


def post_bulks(es_url: str, bodies: list[bytes], concurrency: int, allow_409: bool = False) -> float:
    """Post the bodies, ``concurrency`` at a time; return the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    path = "/_bulk?filter_path=errors,items.*.status" if allow_409 else "/_bulk?filter_path=errors"

    def post(body: bytes) -> None:
        req = urllib.request.Request(es_url + path, data=body, method="POST",
                                     headers={"content-type": "application/x-ndjson"})
        with urllib.request.urlopen(req, timeout=300) as r:
            answer = json.loads(r.read())
            if allow_409 and answer["errors"]:
                assert all(next(iter(i.values()))["status"] in (201, 409) for i in answer["items"])
            else:
                assert answer["errors"] is False, answer

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, bodies))
    return time.perf_counter() - t0


def raw_bulk_ceiling(es_url: str, events: int, concurrency: int = 2, id_prefix: str | None = None) -> dict[str, Any]:
    """The same documents, encoded by our pure core, posted by a minimal client: Elasticsearch's own limit."""
    index = f"ceiling-{time.time_ns()}"
    bodies, n = encoded_bodies(events, index, id_prefix)
    seconds = post_bulks(es_url, bodies, concurrency)
    ids = "auto ids" if id_prefix is None else "create+seq ids"
    return {"output": f"raw _bulk x{concurrency} {ids}", "events_sent": n, "events_delivered": n,
            "wall_events_per_second": round(n / seconds), "send_seconds": round(seconds, 2)}


def report(results: list[dict[str, Any]], path: Path) -> None:
    """Print the figures as a table, one column a run, and write them as JSON."""
    keys = list(dict.fromkeys(k for r in results for k in r))
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{r.get(k, '-')!s:>16}" for r in results))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", choices=["null", "elasticsearch", "both"], default="both")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=0, help="datagrams/s offered (0: as fast as possible)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--document-id", choices=["sequence", "auto"], default="sequence")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "udp_throughput.json")
    args = parser.parse_args()
    results = []
    if args.output in ("null", "both"):
        results.append(run("null", args.events, args.rate, None, args.workers))
    if args.output in ("elasticsearch", "both"):
        es = LocalElasticsearch(heap="1g")
        es.start()
        try:
            results.append(run("elasticsearch", args.events, args.rate, es.url, args.workers, args.document_id))
            # Elasticsearch's own ceiling for the same documents, in the same run: the end-to-end figure
            # only means something next to it.
            # With the ids the daemon used (sequence ids and create by default).
            results.append(raw_bulk_ceiling(es.url, args.events, id_prefix=None if args.document_id == "auto"
                                            else "bench-"))
        finally:
            es.cleanup()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
