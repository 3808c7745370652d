"""GELF TCP throughput of gelfingest into the null output.

    .venv/bin/python benchmarks/tcp_throughput.py [--events N] [--connections C] [--workers W]

Traffic is Docker-shaped GELF (the driver's `_container_*` fields, 80-400 byte lines), uncompressed JSON
ending in a NUL byte as go-gelf's TCP writer sends it, pre-encoded once and written by a separate process
over C connections as fast as they take it. Figures: MiB/s and events/s (wall clock), events per CPU-second
of gelfingest (supervisor and workers, from /proc), peak RSS per worker.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.udp_throughput import (  # noqa: E402
    WORDS,
    peak_rss_mib,
    process_tree,
    report,
    tree_cpu_seconds,
    wait_until_idle,
)


def frames(events: int) -> list[bytes]:
    rng = random.Random(1)
    out = []
    for i in range(events):
        n = rng.randrange(80, 400)
        msg = {"version": "1.1", "host": "docker-host", "short_message": f"{i} " + " ".join(
                   rng.choice(WORDS) for _ in range(n // 5)), "timestamp": round(time.time(), 3), "level": 6,
               "_container_id": "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e",
               "_container_name": f"web-{i % 7}", "_image_id": "sha256:0123456789abcdef0123456789abcdef",
               "_image_name": "nginx:1.25", "_command": "nginx -g daemon off;", "_tag": "3f4e5d6c7b8a",
               "_created": "2026-11-23T08:00:00.123456789Z"}
        out.append(json.dumps(msg).encode() + b"\0")
    return out


def writer(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(payload)


def run(events: int, connections: int, workers: int) -> dict[str, Any]:
    data = frames(events)
    per_conn = [b"".join(data[k::connections]) for k in range(connections)]
    total_bytes = sum(len(p) for p in per_conn)
    env = {**os.environ, "GELFINGEST_UDP": "off", "GELFINGEST_TCP": "127.0.0.1:0",
           "GELFINGEST_HTTP": "off", "GELFINGEST_OUTPUT": "null",
           "GELFINGEST_WORKERS": str(workers), "GELFINGEST_DATA_DIR": tempfile.mkdtemp(prefix="bench-"),
           "GELFINGEST_BATCH_MAX_AGE": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "gelfingest"], env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    port, listening = 0, 0
    while listening < workers:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("gelfingest did not start")
        if (m := re.search(r"tcp=\S+:(\d+)", line)) and "listening" in line:
            port = int(m[1])
            listening += 1
    time.sleep(0.5)
    cpu0 = tree_cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    senders = [multiprocessing.Process(target=writer, args=(port, p)) for p in per_conn]
    for s in senders:
        s.start()
    for s in senders:
        s.join()
    last, busy_until = wait_until_idle(proc.pid)
    wall = busy_until - t0
    rss = max(peak_rss_mib(p) for p in process_tree(proc.pid)[-workers:])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    delivered = sum(int(m[1]) for m in re.finditer(r"(\d+) delivered to", err))
    cpu_used = last - cpu0
    return {"workers": workers, "connections": connections, "events_sent": events, "events_delivered": delivered,
            "mib_sent": round(total_bytes / 2**20, 1), "wall_seconds": round(wall, 2),
            "mib_per_second": round(total_bytes / 2**20 / wall, 1), "events_per_second": round(delivered / wall),
            "gelfingest_cpu_seconds": round(cpu_used, 2),
            "events_per_cpu_second": round(delivered / cpu_used) if cpu_used else None,
            "peak_rss_mib_per_worker": round(rss, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "tcp_throughput.json")
    args = parser.parse_args()
    results = [run(args.events, args.connections, w) for w in args.workers]
    report(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
