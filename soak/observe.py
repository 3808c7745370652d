"""Watching the soak's daemon from outside: its processes (/proc), its /metrics, what reached Elasticsearch,
and its log.

The Sampler thread takes VmRSS and CPU of the supervisor and of each worker (a worker restarted is a new pid
under the same role) and the gauges' maxima from /metrics while the run goes on; at the end ``scan`` reads every
document's tid and sequence back from the index, and ``analyse_log`` and ``closing_totals`` sum up the log.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.measure import es_call, es_count
from tests.harness import children, cpu_seconds, rss_kib

# -- the processes and /metrics ------------------------------------------------------------------------------

def role(pid: int, supervisor: int) -> str:
    if pid == supervisor:
        return "supervisor"
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return f"worker {args[args.index(b'--worker-index') + 1].decode()}" if b"--worker-index" in args else "child"


def parse_metrics(text: str) -> dict[str, dict[str, float]]:
    """{name: {label value (of the one label, or the label string): value}}."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$", line)
        if not m or line.startswith("#"):
            continue
        labels = re.findall(r'(\w+)="([^"]*)"', m[2] or "")
        key = labels[0][1] if len(labels) == 1 else ",".join(f"{k}={v}" for k, v in labels)
        out.setdefault(m[1], {})[key] = float(m[3])
    return out


def get_metrics(port: int) -> dict[str, dict[str, float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return parse_metrics(resp.read().decode())


def one(metrics: dict[str, dict[str, float]], name: str) -> float:
    return sum(metrics.get(name, {}).values())


GAUGES_MAX = ("gelfingest_chunks_pending_messages", "gelfingest_chunks_pending_bytes", "gelfingest_queue_events",
              "gelfingest_queue_batches", "gelfingest_spool_bytes", "gelfingest_spooling")


class Sampler(threading.Thread):
    """Every ``interval`` s: VmRSS and CPU of the supervisor and each worker; every ``metrics_every`` s:
    /metrics (the gauges' maxima, and a few series)."""

    def __init__(self, supervisor: int, http_port: int, interval: float = 0.5, metrics_every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.supervisor, self.http_port = supervisor, http_port
        self.interval, self.metrics_every = interval, metrics_every
        self.t0 = time.monotonic()
        self.procs: dict[int, dict[str, Any]] = {}
        self.maxima: dict[str, float] = {}
        self.es_unavailable_samples = 0
        self.series: list[dict[str, float]] = []
        self.metrics_errors = 0
        self.stopping = threading.Event()

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        for pid in [self.supervisor, *children(self.supervisor)]:
            p = self.procs.get(pid)
            if p is None:
                p = self.procs[pid] = {"role": role(pid, self.supervisor), "first": now, "rss": [], "cpu": 0.0}
            try:
                p["rss"].append((round(now, 1), rss_kib(pid)))
                p["cpu"] = cpu_seconds(pid)
                p["last"] = now
            except OSError:
                pass

    def run(self) -> None:
        next_metrics = 0.0
        while not self.stopping.wait(self.interval):
            self.sample()
            now = time.monotonic() - self.t0
            if now < next_metrics:
                continue
            next_metrics = now + self.metrics_every
            try:
                m = get_metrics(self.http_port)
            except (OSError, ValueError):
                self.metrics_errors += 1
                continue
            for name in GAUGES_MAX:
                self.maxima[name] = max(self.maxima.get(name, 0.0), one(m, name))
            self.es_unavailable_samples += one(m, "gelfingest_elasticsearch_available") < 1
            self.series.append({"t": round(now), "pending_chunked": one(m, "gelfingest_chunks_pending_messages"),
                                "queue_events": one(m, "gelfingest_queue_events"),
                                "rejected": one(m, "gelfingest_rejected_total"),
                                "indexed": one(m, "gelfingest_documents_indexed_total")})

    def by_role(self) -> dict[str, list[int]]:
        roles: dict[str, list[int]] = {}
        for pid, p in sorted(self.procs.items(), key=lambda kv: kv[1]["first"]):
            roles.setdefault(p["role"], []).append(pid)
        return roles

    def latest_rss_mib(self) -> dict[str, float]:
        out = {}
        for name, pids in self.by_role().items():
            rss = self.procs[pids[-1]]["rss"]
            out[name] = round(rss[-1][1] / 1024, 1) if rss else 0.0
        return out


# -- Elasticsearch -----------------------------------------------------------------------------------------

def scan(url: str, index: str) -> tuple[Counter[str], Counter[int], int]:
    """Every document's tid and sequence, through a scroll; and the documents without a tid."""
    tids: Counter[str] = Counter()
    sequences: Counter[int] = Counter()
    untagged = 0
    es_call(url, "POST", f"/{index}/_refresh")
    result = es_call(url, "POST", f"/{index}/_search?scroll=2m",
                     {"size": 10000, "_source": ["tid", "sequence"], "sort": ["_doc"]})
    while hits := result["hits"]["hits"]:
        for h in hits:
            src = h["_source"]
            if "tid" in src:
                tids[src["tid"]] += 1
            else:
                untagged += 1
            if "sequence" in src:
                sequences[src["sequence"]] += 1
        result = es_call(url, "POST", "/_search/scroll", {"scroll": "2m", "scroll_id": result["_scroll_id"]})
    with contextlib.suppress(OSError):
        es_call(url, "DELETE", "/_search/scroll", {"scroll_id": result["_scroll_id"]})
    return tids, sequences, untagged


def wait_settled(url: str, index: str, quiet_checks: int = 3, every: float = 2.0, timeout: float = 300) -> int:
    """Refresh and count until the count has not moved for ``quiet_checks`` checks in a row."""
    deadline = time.monotonic() + timeout
    last, same = -1, 0
    while time.monotonic() < deadline:
        count = es_count(url, index)
        same = same + 1 if count == last else 0
        if same >= quiet_checks:
            break
        last = count
        time.sleep(every)
    return last


# -- the daemon's log --------------------------------------------------------------------------------------

LOG_LINE = re.compile(r"^(\S+ \S+) (\w+) (\[[^]]+\] )?(\S+): (.*)$")


def analyse_log(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    patterns: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    summaries: dict[str, list[float]] = {}
    firsts: Counter[str] = Counter()
    other = 0
    for line in lines:
        m = LOG_LINE.match(line)
        if not m:
            other += 1
            patterns[re.sub(r"\d+", "N", line)[:150]] += 1
            continue
        stamp, level, who, _name, msg = m.groups()
        who = (who or "").strip()
        levels[level] += 1
        shape = re.sub(r"\b[0-9a-f]{8,}\b", "H", msg)
        shape = re.sub(r"\((\w+=\d+, )*\w+=\d+\)", "(reason=N, …)", shape)
        shape = re.sub(r"latest: .*", "latest: …", shape)
        shape = re.sub(r"\d+(\.\d+)?", "N", shape)
        patterns[f"{level} {shape[:150]}"] += 1
        if "more messages in" in msg and msg.startswith("rejected "):
            t = time.mktime(time.strptime(stamp.split(",")[0], "%Y-%m-%d %H:%M:%S"))
            summaries.setdefault(who or "-", []).append(t)
        elif msg.startswith("rejected a message from"):
            firsts[who or "-"] += 1
    gaps = {w: round(min(b - a for a, b in itertools.pairwise(ts)), 1) if len(ts) > 1 else None
            for w, ts in summaries.items()}
    return {"lines": len(lines), "levels": dict(levels), "unparsed_lines": other,
            "noisiest": patterns.most_common(8), "rejection_first_lines": dict(firsts),
            "rejection_summary_lines": {w: len(ts) for w, ts in summaries.items()},
            "rejection_summary_min_gap_seconds": gaps}


def closing_totals(text: str) -> dict[str, Any]:
    """The workers' closing lines: events decoded and delivered, and rejections by reason, summed."""
    decoded = delivered = 0
    rejected: Counter[str] = Counter()
    for m in re.finditer(r"stopped: .*?(\d+) events decoded, (\d+) delivered to .*?; rejected: ([^;]*);", text):
        decoded += int(m[1])
        delivered += int(m[2])
        if m[3] != "none":
            rejected.update({k: int(v) for k, v in (p.split("=") for p in m[3].split(", "))})
    return {"decoded": decoded, "delivered": delivered, "rejected": dict(rejected)}
