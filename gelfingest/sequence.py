"""The ``sequence`` every event is stamped with: ``seed + n * iterator`` for n = 0, 1, 2, ...

Several instances with the same iterator and seeds that differ modulo the iterator hand out disjoint,
interleaving numbers (seed 1 and seed 2 with iterator 2: odd and even), so Kibana can sort lines that
share a millisecond by ``@timestamp`` then ``sequence``.
"""

from __future__ import annotations

from typing import Any, Final

DEFAULT_SEED: Final = 1
DEFAULT_ITERATOR: Final = 1
# Kibana shows integers above 2^53 rounded (they still sort correctly in Elasticsearch): stay below.
MAX_SEQUENCE: Final = 2**53


def check_sequence_settings(seed: int, iterator: int) -> None:
    """Raise ValueError naming the setting that is out of range."""
    if seed < 0:
        raise ValueError(f"SEQUENCE_SEED must be 0 or more, got {seed}")
    if iterator < 1:
        raise ValueError(f"SEQUENCE_ITERATOR must be 1 or more, got {iterator}")
    if seed >= MAX_SEQUENCE:
        raise ValueError(f"SEQUENCE_SEED must be below 2^53, got {seed}")


class Sequencer:
    """Hands out ``seed + n * iterator`` in call order."""

    __slots__ = ("_next", "iterator", "seed")

    def __init__(self, seed: int = DEFAULT_SEED, iterator: int = DEFAULT_ITERATOR) -> None:
        check_sequence_settings(seed, iterator)
        self.seed = seed
        self.iterator = iterator
        self._next = seed

    @property
    def issued(self) -> int:
        """How many numbers have been handed out."""
        return (self._next - self.seed) // self.iterator

    def stamp(self, doc: dict[str, Any]) -> int:
        value = self._next
        doc["sequence"] = value
        self._next = value + self.iterator
        return value

    def describe(self) -> str:
        return f"{self.seed} + n*{self.iterator}"
