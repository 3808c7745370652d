"""Counting rejected input, and saying so in the log without flooding it.

The first rejection for each reason is logged at once with its details; after that, at most one summary
line every ``interval`` seconds says how many were rejected for each reason and shows the latest one.
A port under a flood of garbage writes a few lines a minute, not one per datagram.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from gelfingest.core.errors import GelfError

DEFAULT_SUMMARY_INTERVAL: Final = 10.0

# How an input hands over what it refused itself (a connection, a frame, a request): error, sender, time.
RejectHandler = Callable[[GelfError, str, float], None]


def ignore_rejection(error: GelfError, source: str, now: float) -> None:
    """The default ``RejectHandler`` of an input nobody counts for (tests, the operator's listener)."""


class RejectLog:
    def __init__(self, interval: float = DEFAULT_SUMMARY_INTERVAL) -> None:
        self.interval = interval
        self.total: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._window_start: float | None = None
        self._latest = ""

    def record(self, error: GelfError, source: str, now: float) -> str | None:
        """Count one rejection; return a line to log now, or None when the summary will carry it."""
        first = error.reason not in self.total
        self.total[error.reason] += 1
        self._latest = f"{error.reason} from {source}: {error.detail}"
        if first:
            return f"rejected a message from {source} ({error.reason}): {error.detail}"
        self._window[error.reason] += 1
        if self._window_start is None:
            self._window_start = now
        return None

    def maybe_summary(self, now: float) -> str | None:
        """The summary line, when rejections happened and ``interval`` has passed since the first."""
        if self._window_start is None or now - self._window_start < self.interval:
            return None
        counts = ", ".join(f"{reason}={n}" for reason, n in self._window.most_common())
        line = (f"rejected {sum(self._window.values())} more messages in {now - self._window_start:.0f} s "
                f"({counts}); latest: {self._latest}")
        self._window.clear()
        self._window_start = None
        return line
