"""How well `@timestamp`, `sequence` restores send order across two instances behind a round-robin balancer.

    .venv/bin/python -m benchmarks.ordering [--lines 20000] [--burst 40]

A sender emits numbered lines in bursts (``--burst`` lines back to back, then a 1 ms pause), each with a
millisecond timestamp as Docker's driver sets it, so many lines share one millisecond. They go through a
real nginx UDP round-robin balancer into two instances (seeds 1 and 2, iterator 2). The documents (taken
from the instances' stdout output, sorted as Elasticsearch would: ``@timestamp``, then ``sequence``) are
compared with the send order: the figure is the number of pairs of lines that come back out of order.

Conditions: as is; one instance restarted in the middle of the run; 1 % of datagrams dropped on the way
(by relays between the balancer and each instance); and, as the control for that one, the same relays
dropping nothing (``relayed``: what the relays' own latency jitter does). Modes: ``counter`` and ``clock``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import RESULTS
from tests.balancers import NginxUdpBalancer
from tests.harness import Daemon
from tests.helpers import free_udp_port


def inversions(seq: list[int]) -> int:
    """Pairs i < j with seq[i] > seq[j] (merge sort, O(n log n))."""
    def sort(a: list[int]) -> tuple[list[int], int]:
        if len(a) <= 1:
            return a, 0
        mid = len(a) // 2
        left, x = sort(a[:mid])
        right, y = sort(a[mid:])
        merged, count, i, j = [], x + y, 0, 0
        while i < len(left) and j < len(right):
            if left[i] <= right[j]:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                count += len(left) - i
                j += 1
        merged += left[i:] + right[j:]
        return merged, count
    return sort(seq)[1]


class DroppingRelay(threading.Thread):
    """Forwards datagrams to ``target``, dropping a share of them at random."""

    def __init__(self, target: int, share: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target)
        self.share = share
        self.dropped = 0
        self.running = True
        self.rng = random.Random(seed)

    def run(self) -> None:
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while self.running:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            if self.rng.random() < self.share:
                self.dropped += 1
            else:
                out.sendto(data, self.target)


def start_instance(mode: str, seed: int, port: int, data: Path) -> Daemon:
    env = {"GELFINGEST_UDP": f"127.0.0.1:{port}", "GELFINGEST_OUTPUT": "stdout", "SEQUENCE_SEED": str(seed),
           "SEQUENCE_ITERATOR": "2", "GELFINGEST_SEQUENCE_MODE": mode, "GELFINGEST_BATCH_MAX_AGE": "0.2"}
    return Daemon(env, [], data)


def run(mode: str, condition: str, lines: int, burst: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="ordering-"))
    ports = [free_udp_port(), free_udp_port()]
    instances: list[Daemon] = []
    stopped: list[Daemon] = []
    relays: list[DroppingRelay] = []
    balancer = None
    try:
        instances += [start_instance(mode, k + 1, ports[k], work / f"i{k}") for k in range(2)]
        # Loss between the balancer and the instances: each loses its own datagrams, so the counters drift.
        # Both paths go through a relay, so that both have the same added latency.
        share = {"1% dropped": 0.01, "relayed": 0.0}.get(condition)
        relays = [DroppingRelay(p, share, seed=k) for k, p in enumerate(ports)] if share is not None else []
        for relay in relays:
            relay.start()
        balancer = NginxUdpBalancer(free_udp_port(), [r.port for r in relays] or ports)
        target = ("127.0.0.1", balancer.port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(lines):
                if condition == "restart" and i == lines // 2:
                    instances[1].stop(signal.SIGTERM)
                    stopped.append(instances[1])
                    instances[1] = start_instance(mode, 2, ports[1], work / "i1")
                msg = {"version": "1.1", "host": "h", "short_message": f"line {i}",
                       "timestamp": round(time.time(), 3), "_n": i}
                s.sendto(json.dumps(msg).encode(), target)
                if i % burst == burst - 1:
                    time.sleep(0.001)
        time.sleep(1.0)
    finally:
        for relay in relays:
            relay.running = False
        if balancer is not None:
            balancer.stop()
        for d in instances:
            d.stop()
    time.sleep(0.3)
    docs = [json.loads(line) for d in [*instances, *stopped] for line in d.stdout]
    docs.sort(key=lambda d: (d["@timestamp"], d["sequence"]))
    order = [d["n"] for d in docs]
    shared_ms = sum(1 for a, b in itertools.pairwise(docs) if a["@timestamp"] == b["@timestamp"])
    return {"mode": mode, "condition": condition, "lines_sent": lines, "lines_received": len(docs),
            "neighbours_sharing_a_ms": shared_ms, "pairs_out_of_order": inversions(order),
            "sequences_unique": len({d["sequence"] for d in docs}) == len(docs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--json", type=Path, default=RESULTS / "ordering.json")
    args = parser.parse_args()
    results = [run(mode, condition, args.lines, args.burst)
               for mode in ("counter", "clock") for condition in ("as is", "restart", "relayed", "1% dropped")]
    print(f"{'mode':8} {'condition':11} {'sent':>7} {'received':>9} {'same-ms neighbours':>19} "
          f"{'pairs out of order':>19} unique")
    for r in results:
        print(f"{r['mode']:8} {r['condition']:11} {r['lines_sent']:>7} {r['lines_received']:>9} "
              f"{r['neighbours_sharing_a_ms']:>19} {r['pairs_out_of_order']:>19} {r['sequences_unique']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
