"""What an operator needs to see, summed over all workers, in the Prometheus text format.

Each worker writes a snapshot of its counters (``metrics.<worker>.json`` in the data dir) every tick;
``/metrics`` on any worker adds up the snapshots of all workers (its own taken live) and renders them with
prometheus_client. A snapshot is ``{metric: [kind, help, {label-string: value}]}``: counters and gauges
add up across workers as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

Snapshot = dict[str, list[Any]]
_PATTERN: Final = "metrics.*.json"
# Bulk request latency buckets (seconds).
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SnapshotBuilder:
    def __init__(self) -> None:
        self.data: Snapshot = {}

    def add(self, kind: str, name: str, help_text: str, value: float, **labels: str) -> None:
        entry = self.data.setdefault(name, [kind, help_text, {}])
        key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        entry[2][key] = entry[2].get(key, 0) + value

    def counter(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self.add("counter", name, help_text, value, **labels)

    def gauge(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self.add("gauge", name, help_text, value, **labels)

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        entry = self.data.setdefault(name, ["histogram", help_text, {}])
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), histogram.counts, strict=True):
            cumulative += count
            key = "le=+Inf" if bound == float("inf") else f"le={bound}"
            entry[2][key] = entry[2].get(key, 0) + cumulative
        entry[2]["sum"] = entry[2].get("sum", 0) + histogram.sum


class Histogram:
    """Bulk request latencies in LATENCY_BUCKETS (the last count is above every bucket)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1


def write_snapshot(data_dir: Path, worker: int, snapshot: Snapshot) -> None:
    path = data_dir / f"metrics.{worker}.json"
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(snapshot))
    os.replace(tmp, path)


def clear_snapshots(data_dir: Path) -> None:
    """At the start of an instance: snapshots of an earlier run (perhaps with more workers) no longer count."""
    for path in data_dir.glob(_PATTERN):
        path.unlink(missing_ok=True)


def read_snapshots(data_dir: Path, skip_worker: int | None = None) -> Iterator[Snapshot]:
    for path in data_dir.glob(_PATTERN):
        if skip_worker is not None and path.name == f"metrics.{skip_worker}.json":
            continue
        with contextlib.suppress(OSError, ValueError):
            yield json.loads(path.read_text())


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    total: Snapshot = {}
    for snap in snapshots:
        for name, (kind, help_text, values) in snap.items():
            entry = total.setdefault(name, [kind, help_text, {}])
            for key, value in values.items():
                entry[2][key] = entry[2].get(key, 0) + value
    return total


class _Collector:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        for name, (kind, help_text, values) in sorted(self.snapshot.items()):
            if kind == "histogram":
                buckets = sorted(((k[3:], v) for k, v in values.items() if k.startswith("le=")),
                                 key=lambda b: float(b[0]))
                yield HistogramMetricFamily(name, help_text, buckets=buckets, sum_value=values.get("sum", 0))
                continue
            label_names = sorted({part.split("=", 1)[0] for key in values for part in key.split(",") if part})
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_type(name, help_text, labels=label_names)
            for key, value in sorted(values.items()):
                labels = dict(part.split("=", 1) for part in key.split(",") if part)
                family.add_metric([labels.get(n, "") for n in label_names], value)
            yield family


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snapshot))
    return generate_latest(registry)


def udp_kernel_drops(inodes: set[int] | None) -> int:
    """The ``drops`` column of /proc/net/udp and /proc/net/udp6 for the sockets with these inodes (None: all)."""
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9].isdigit() and (inodes is None or int(fields[9]) in inodes):
                total += int(fields[-1])
    return total
