"""Cutting encoded bulk items into batches by count, bytes and age (after elasticsearch-py's chunker).

``add_many`` returns the batches a run of items fills, ``maybe_flush(now)`` a batch that is old enough,
``flush`` what is left. The sink drives it with its clock and sends what comes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# Elasticsearch's guidance is 5-15 MB per bulk request; Logstash sends 125 events per worker batch but
# joins them to ~20 MB. 5 MiB / 5000 documents is where a single node on two cores indexed fastest when measured.
DEFAULT_BATCH_MAX_DOCS: Final = 5000
DEFAULT_BATCH_MAX_BYTES: Final = 5 * 1024 * 1024
# How long an event may wait for company before it is sent: a person tailing Kibana sees it within 1 s.
DEFAULT_BATCH_MAX_AGE: Final = 1.0


@dataclass(slots=True)
class Batch:
    """Encoded bulk items (action line + document, each ending in a newline). ``serial``: its place among the
    batches handed over towards the output (handover.py), for the HTTP inputs' durable answers."""

    items: list[bytes] = field(default_factory=list)
    size: int = 0
    created: float = 0.0
    serial: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def body(self) -> bytes:
        return b"".join(self.items)


class Batcher:
    def __init__(
        self,
        max_docs: int = DEFAULT_BATCH_MAX_DOCS,
        max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
        max_age: float = DEFAULT_BATCH_MAX_AGE,
    ) -> None:
        if max_docs < 1 or max_bytes < 1 or max_age < 0:
            raise ValueError("batch limits must be positive")
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._current: Batch | None = None

    def add_many(self, items: list[bytes], now: float) -> list[Batch]:
        """Add encoded items in order; return the batches they fill, in order.

        An item that would push the batch past max_bytes closes the batch before it and starts the next,
        so no batch exceeds the bytes cap unless a single item does.
        """
        ready: list[Batch] = []
        current = self._current
        max_docs, max_bytes = self.max_docs, self.max_bytes
        for item in items:
            n = len(item)
            if current is not None and (len(current.items) >= max_docs or current.size + n > max_bytes):
                ready.append(current)
                current = None
            if current is None:
                current = Batch(created=now)
            current.items.append(item)
            current.size += n
            if len(current.items) >= max_docs or current.size >= max_bytes:
                ready.append(current)
                current = None
        self._current = current
        return ready

    def maybe_flush(self, now: float) -> Batch | None:
        current = self._current
        if current is not None and now - current.created >= self.max_age:
            self._current = None
            return current
        return None

    def flush(self) -> Batch | None:
        current, self._current = self._current, None
        return current

    @property
    def filling(self) -> bool:
        """Whether a batch is being filled (items wait for ``maybe_flush`` or ``flush``)."""
        return self._current is not None

    @property
    def filling_bytes(self) -> int:
        """The bytes of the batch being filled (0: none)."""
        return self._current.size if self._current is not None else 0

    def mark(self) -> Mark:
        """Where the batch being filled stands now, for ``undo``."""
        current = self._current
        return Mark(current, len(current.items), current.size) if current is not None else Mark(None, 0, 0)

    def undo(self, mark: Mark) -> None:
        """Take back every item added since ``mark``: the batch being filled then is cut back to what it held
        (the batches filled since are the caller's to drop; none of them may have gone anywhere)."""
        batch = mark.batch
        if batch is not None:
            del batch.items[mark.items:]
            batch.size = mark.size
        self._current = batch


@dataclass(slots=True, frozen=True)
class Mark:
    batch: Batch | None
    items: int
    size: int
