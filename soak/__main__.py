"""Soak test: gelfingest under good traffic mixed with garbage, against a real Elasticsearch, for minutes.

    .venv/bin/python -m soak [--seconds 300] [--workers 2] [--rate 1000]

The run itself (the soak package's docstring says what it sends and checks): start a local Elasticsearch and
the daemon, run the senders (soak/traffic.py) while the Sampler watches (soak/observe.py), stop them and
collect what they sent, let the index settle, stop the daemon, read the index back, then build and print the
report (soak/report.py) and write it as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import RESULTS, es_count
from gelfingest.local_es import LocalElasticsearch
from gelfingest.net import free_port
from soak import ROOT
from soak.corpus import Plan
from soak.observe import Sampler, get_metrics, scan, wait_settled
from soak.report import build_report, print_report
from soak.traffic import garbage_http, garbage_tcp, garbage_udp, good_http, good_tcp, good_udp

Ports = tuple[int, int, int]  # UDP, TCP, HTTP


def launch_daemon(args: argparse.Namespace, es_url: str, ports: Ports, data_dir: Path, index: str,
                  log_path: Path) -> subprocess.Popen[bytes]:
    udp_port, tcp_port, http_port = ports
    env = {**os.environ, "ELASTICSEARCH_HOSTS": es_url, "GELFINGEST_UDP": f"127.0.0.1:{udp_port}",
           "GELFINGEST_TCP": f"127.0.0.1:{tcp_port}", "GELFINGEST_HTTP": f"127.0.0.1:{http_port}",
           "GELFINGEST_DATA_DIR": str(data_dir), "GELFINGEST_WORKERS": str(args.workers),
           "GELFINGEST_INDEX": index}
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "gelfingest"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_ready(daemon: subprocess.Popen[bytes], workers: int, http_port: int, log_path: Path) -> None:
    """Until every worker listens and /readyz says 200; SystemExit when the daemon exits or 120 s pass."""
    deadline = time.monotonic() + 120
    while True:
        text = log_path.read_text(errors="replace")
        if text.count(" listening on ") >= workers:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{http_port}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    break
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gelfingest did not start (see {log_path}):\n{text[-3000:]}")
        time.sleep(0.2)


def start_senders(args: argparse.Namespace, plan: Plan, ports: Ports, stop: Any, results: Any,
                  procs: list[multiprocessing.Process]) -> None:
    """One process a sender, appended to ``procs`` as each starts."""
    udp_port, tcp_port, http_port = ports
    r = args.rate
    specs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
        (good_udp, (udp_port, r * 0.4)), (good_tcp, (tcp_port, r * 0.4)), (good_http, (http_port, r * 0.2)),
        (garbage_udp, (udp_port, plan.udp, args.garbage_rate * 0.3, args.garbage_rate * 0.2,
                       args.chunk_flood_rate)),
        (garbage_tcp, (tcp_port, plan.burst, plan.tcp_rotation, args.garbage_rate * 0.01, args.bomb_every,
                       args.huge_frame_mib, args.huge_frame_every, min(5.0, args.seconds / 5), args.slow_clients,
                       args.idle_connections)),
        (garbage_http, (http_port, plan.http, plan.http_rotation, args.garbage_rate * 0.1, args.bomb_every,
                        args.slow_clients)),
    ]
    for target, params in specs:
        p = multiprocessing.Process(target=target, args=(*params, stop, results), daemon=True)
        p.start()
        procs.append(p)


def watch(seconds: float, daemon: subprocess.Popen[bytes], sampler: Sampler, es_url: str, index: str) -> str | None:
    """For ``seconds``, a progress line a minute; what happened if the daemon died before (else None)."""
    t0 = time.monotonic()
    next_progress = t0 + 60
    while (now := time.monotonic()) < t0 + seconds:
        if daemon.poll() is not None:
            died = f"the daemon exited with {daemon.returncode} after {now - t0:.0f} s"
            print(died, flush=True)
            return died
        if now >= next_progress:
            next_progress += 60
            rss = ", ".join(f"{k} {v:g}" for k, v in sampler.latest_rss_mib().items())
            print(f"  {now - t0:4.0f} s: {es_count(es_url, index)} documents; RSS MiB: {rss}", flush=True)
        time.sleep(0.5)
    return None


def collect(procs: list[multiprocessing.Process], results: Any) -> list[dict[str, Any]]:
    """Each sender's result (the senders have been told to stop), then the senders joined."""
    collected: list[dict[str, Any]] = []
    for _ in procs:
        try:
            collected.append(results.get(timeout=180))
        except Exception:  # a sender that hung: reported, not fatal
            break
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    return collected


def final_metrics(http_port: int) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    with contextlib.suppress(OSError, ValueError):
        time.sleep(1.5)  # every worker's snapshot is at most 1 s old
        metrics = get_metrics(http_port)
    return metrics


def stop_daemon(daemon: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, and SIGKILL after 120 s; its exit code."""
    if daemon.poll() is not None:
        return daemon.returncode
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(120)
    except subprocess.TimeoutExpired:
        daemon.kill()
        return daemon.wait()


def clean_up(stop: Any, procs: list[multiprocessing.Process], sampler: Sampler | None,
             daemon: subprocess.Popen[bytes] | None, es: LocalElasticsearch, data_dir: Path) -> None:
    """However the run ended: nothing it started is left running, and its data dir is gone."""
    stop.set()
    for p in procs:
        if p.is_alive():
            p.terminate()
    if sampler is not None:
        sampler.stopping.set()
    if daemon is not None and daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    es.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = RESULTS / f"soak-{stamp}.log"
    index = f"soak-{stamp}"
    plan = Plan()
    es = LocalElasticsearch(heap=args.es_heap)
    data_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    procs: list[multiprocessing.Process] = []
    stop = multiprocessing.Event()
    daemon: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    try:
        es.start()
        ports = (free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM))
        http_port = ports[2]
        daemon = launch_daemon(args, es.url, ports, data_dir, index, log_path)
        wait_ready(daemon, args.workers, http_port, log_path)
        print(f"soak: {args.seconds} s, {args.workers} workers, {args.rate:g} good messages/s; Elasticsearch "
              f"{es.url}, index {index}; daemon log {log_path.relative_to(ROOT)}", flush=True)
        results: Any = multiprocessing.Queue()
        start_senders(args, plan, ports, stop, results, procs)
        sampler = Sampler(daemon.pid, http_port)
        sampler.start()
        died = watch(args.seconds, daemon, sampler, es.url, index)
        stop.set()
        collected = collect(procs, results)
        settled = wait_settled(es.url, index)
        metrics = final_metrics(http_port)
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
        exit_code = stop_daemon(daemon)
        tids, sequences, untagged = scan(es.url, index)
        report = build_report(args, plan, index, log_path, collected, metrics, sampler, tids, sequences,
                              untagged, settled, exit_code, died, data_dir)
        report["run"]["started"] = stamp
        report["senders"]["burst_cases"] = len(plan.burst_cases)
        return report
    finally:
        clean_up(stop, procs, sampler, daemon, es, data_dir)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000, help="good messages/s, all transports (40/40/20 %%)")
    parser.add_argument("--garbage-rate", type=float, default=200,
                        help="corpus and random garbage a second (UDP 50 %%, HTTP 10 %%, TCP bursts 1 %%)")
    parser.add_argument("--chunk-flood-rate", type=float, default=150, help="never-completed chunks a second")
    parser.add_argument("--bomb-every", type=float, default=20, help="seconds between bombs, on TCP and on HTTP")
    parser.add_argument("--huge-frame-mib", type=int, default=100)
    parser.add_argument("--huge-frame-every", type=float, default=60)
    parser.add_argument("--slow-clients", type=int, default=4, help="per transport (TCP, HTTP)")
    parser.add_argument("--idle-connections", type=int, default=300)
    parser.add_argument("--es-heap", default="1g")
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/soak-<time>.json")
    args = parser.parse_args()
    rep = run(args)
    path = args.json or RESULTS / f"soak-{rep['run']['started']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rep, indent=1, default=str) + "\n")
    print_report(rep)
    print(f"JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    bad = any(g["lost"] or g["duplicates"] for k, g in rep["good"].items() if k != "udp")
    return 1 if bad or rep["daemon"]["exit_code"] != 0 or rep["run"]["daemon_died"] else 0


if __name__ == "__main__":
    sys.exit(main())
