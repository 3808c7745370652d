"""The ``sequence`` every event is stamped with: ``seed + n * iterator`` for n = 0, 1, 2, ...

Several instances with the same iterator and seeds that differ modulo the iterator hand out disjoint,
interleaving numbers (seed 1 and seed 2 with iterator 2: odd and even), so Kibana can sort lines that
share a millisecond by ``@timestamp`` then ``sequence``.

Within an instance of N workers, worker k stamps ``seed + k*iterator + n*(iterator*N)``: the instance's
progression split N ways, so its values are still ``seed + m*iterator`` and no two workers share one.

Two modes advance n:
- ``counter``: n = 0, 1, 2, ... (continued across restarts, see below);
- ``clock``: ``n = max(n_prev + 1, ticks(now))`` with ticks of CLOCK_TICK since CLOCK_EPOCH, so workers and
  instances that never talk still hand out numbers that follow receive time. docs/ordering.md has the
  arithmetic.

No value is ever handed out twice, across restarts and crashes too: values are used only below a bound
that has been reserved (persisted by the caller's ``Reserve`` function, which must not return before the
bound is durable), and a worker starts above every bound any worker of the instance reserved before.
A crash skips at most one block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_SEED: Final = 1
DEFAULT_ITERATOR: Final = 1
# Kibana shows integers above 2^53 rounded (they still sort correctly in Elasticsearch): stay below.
MAX_SEQUENCE: Final = 2**53

SequenceMode = Literal["counter", "clock"]
# Clock mode: 10 us ticks since 2025-01-01T00:00:00Z. With a fleet step (iterator x workers) up to 64,
# 2^53 / 64 ticks of 10 us is 44.6 years: values stay below 2^53 until 2069. A worker stays on the tick
# while it stamps fewer than 100k events a second.
CLOCK_EPOCH: Final = 1_735_689_600.0
CLOCK_TICKS_PER_SECOND: Final = 100_000
MAX_CLOCK_STEP: Final = 64
# How far ahead a reservation reaches, in n. Counter: a crash skips at most 100k numbers (nothing, next to
# 2^53) and a busy worker syncs a small file a few times a minute. Clock: 1 s of ticks, so a worker that
# restarts at once waits at most 1 s for the clock to pass what it reserved (see clock_lead).
COUNTER_BLOCK: Final = 100_000
CLOCK_BLOCK: Final = CLOCK_TICKS_PER_SECOND

# Called with an exclusive upper bound on the values about to be used; returns once it is durable.
Reserve = Callable[[int], None]


def check_sequence_settings(seed: int, iterator: int, workers: int = 1, mode: SequenceMode = "counter") -> None:
    """Raise ValueError naming the setting that is out of range."""
    if seed < 0:
        raise ValueError(f"SEQUENCE_SEED must be 0 or more, got {seed}")
    if iterator < 1:
        raise ValueError(f"SEQUENCE_ITERATOR must be 1 or more, got {iterator}")
    if seed >= MAX_SEQUENCE:
        raise ValueError(f"SEQUENCE_SEED must be below 2^53, got {seed}")
    if workers < 1:
        raise ValueError(f"GELFINGEST_WORKERS must be 1 or more, got {workers}")
    if mode == "clock" and iterator * workers > MAX_CLOCK_STEP:
        raise ValueError(f"SEQUENCE_ITERATOR x GELFINGEST_WORKERS must be at most {MAX_CLOCK_STEP} in clock "
                         f"mode (values must stay below 2^53 for 30 years), got {iterator * workers}; "
                         f"GELFINGEST_SEQUENCE_MODE=counter has no such limit")


@dataclass(frozen=True, slots=True)
class Progression:
    """The values ``first + n*step``, n >= 0."""

    first: int
    step: int

    @classmethod
    def for_worker(cls, seed: int, iterator: int, worker: int = 0, workers: int = 1) -> Progression:
        if not 0 <= worker < workers:
            raise ValueError(f"worker {worker} of {workers}")
        return cls(seed + worker * iterator, iterator * workers)

    def value(self, n: int) -> int:
        return self.first + n * self.step

    def first_n_from(self, bound: int) -> int:
        """The smallest n whose value is >= bound."""
        return max(0, -((self.first - bound) // self.step))

    def describe(self) -> str:
        return f"{self.first} + n*{self.step}"


def clock_ticks(now: float) -> int:
    return int((now - CLOCK_EPOCH) * CLOCK_TICKS_PER_SECOND)


def _no_reservation(bound: int) -> None:
    pass


class Sequencer:
    """Hands out the values of one progression, in call order, never below ``start_above``."""

    __slots__ = ("_limit", "_n", "block", "mode", "progression", "reserve")

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        iterator: int = DEFAULT_ITERATOR,
        *,
        worker: int = 0,
        workers: int = 1,
        mode: SequenceMode = "counter",
        start_above: int = 0,
        now: float = 0.0,
        reserve: Reserve = _no_reservation,
    ) -> None:
        check_sequence_settings(seed, iterator, workers, mode)
        self.progression = Progression.for_worker(seed, iterator, worker, workers)
        self.mode = mode
        self.block = CLOCK_BLOCK if mode == "clock" else COUNTER_BLOCK
        self.reserve = reserve
        n = self.progression.first_n_from(start_above)
        if mode == "clock":
            n = max(n, clock_ticks(now))
        self._n = n
        self._limit = n  # nothing reserved yet: the first stamp reserves

    def clock_lead(self, now: float) -> float:
        """Seconds by which the next number is ahead of the clock (clock mode, after a quick restart).

        A worker that starts stamping while ahead would put its lines after everything the other
        instances receive meanwhile; it should wait this long before it takes input.
        """
        if self.mode != "clock":
            return 0.0
        return max(0.0, (self._n - clock_ticks(now)) / CLOCK_TICKS_PER_SECOND)

    @property
    def next_value(self) -> int:
        return self.progression.value(self._n)

    def _reserve_from(self, n: int, end: int) -> None:
        limit = max(n + self.block, end)
        bound = self.progression.value(limit)
        if bound >= MAX_SEQUENCE:
            raise OverflowError(f"sequence would pass 2^53 (at {self.progression.value(n)})")
        self.reserve(bound)
        self._limit = limit

    def take(self, count: int, now: float) -> range:
        """The next ``count`` values, in order, for events received at ``now``."""
        n = self._n
        if self.mode == "clock":
            ticks = int((now - CLOCK_EPOCH) * CLOCK_TICKS_PER_SECOND)
            if ticks > n:
                n = ticks
        end = n + count
        if end > self._limit:
            self._reserve_from(n, end)
        self._n = end
        first, step = self.progression.first, self.progression.step
        return range(first + n * step, first + end * step, step)

    def take_at(self, times: Sequence[float]) -> list[int]:
        """One value each for events received at ``times`` (clock mode: each at its own receive time), as
        ``take(1, t)`` for each in turn would give them."""
        if self.mode != "clock" or not times:
            return list(self.take(len(times), 0.0))  # counter mode: the times do not matter
        n = self._n
        first, step = self.progression.first, self.progression.step
        epoch, scale = CLOCK_EPOCH, CLOCK_TICKS_PER_SECOND
        out: list[int] = []
        append = out.append
        # n_i = max(n_(i-1) + 1, ticks_i). A plain loop: about 2,600 instructions an event, where a running
        # maximum with accumulate and three list passes took 4,400 (and the same in maps, 4,200: Python
        # 3.11's loop is cheaper than calling builtins from C). A fast path for bursts that came less than
        # a tick apart was left out: it helps the suite's back-to-back sender, not a fleet's arrivals.
        for t in times:
            ticks = int((t - epoch) * scale)
            if ticks > n:
                n = ticks
            append(first + n * step)
            n += 1
        if n > self._limit:
            self._reserve_from(n - 1, n)  # a block past the last one handed out
        self._n = n
        return out

    def describe(self) -> str:
        return f"{self.progression.describe()} ({self.mode})"
