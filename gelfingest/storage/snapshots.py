"""Each worker's metrics snapshot on disk, so that ``/metrics`` on any worker can sum those of all.

A worker writes ``metrics.<worker>.json`` in the data dir every second (replaced atomically); a reader
skips a file it cannot read (a worker mid-write on a file system without atomic rename, a stale one).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from gelfingest.metrics import Snapshot

_PATTERN: Final = "metrics.*.json"


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
