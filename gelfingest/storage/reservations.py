"""The sequence reservations: durable, under the data dir.

Each worker owns ``sequence.<worker>.state`` (JSON ``{"reserved_below": V}``): no value at or above V has
been handed out by it. A file is replaced atomically (write, fsync, rename, fsync the folder) before the
values it covers are used, so after a crash or a restart every worker starts above the highest bound any
worker of the instance ever reserved, whatever the number of workers is now.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_PATTERN = "sequence.*.state"


def highest_reservation(data_dir: Path) -> int:
    """The highest bound reserved by any worker of the instance that used ``data_dir`` (0 when new)."""
    highest = 0
    for path in data_dir.glob(_PATTERN):
        try:
            highest = max(highest, int(json.loads(path.read_text())["reserved_below"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A torn or foreign file must not make us reuse numbers: refuse to start instead.
            raise RuntimeError(f"cannot read sequence state {path}: {exc}; remove it only if you know "
                               "no higher sequence was handed out") from None
    return highest


class SequenceReservations:
    """Durably records, for one worker, the bound below which it may hand out values."""

    def __init__(self, data_dir: Path, worker: int) -> None:
        self.path = data_dir / f"sequence.{worker}.state"

    def __call__(self, bound: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        data = json.dumps({"reserved_below": bound}).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
                os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
