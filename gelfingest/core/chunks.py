"""Reassembly of chunked GELF messages, with no I/O and no clock: time enters as ``now``.

A chunk is a 12-byte header and a slice of the (usually compressed) message::

    1e 0f | message id (8 bytes) | sequence number (1 byte) | sequence count (1 byte) | data

The message is complete when every sequence number 0..count-1 has been seen, in any order. State is
bounded: a message expires ``timeout`` seconds after its first chunk (swept by ``sweep(now)``), and when
the pending messages or their bytes exceed their caps the oldest message is evicted. Both are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from gelfingest.core.decompress import CHUNK_MAGIC
from gelfingest.core.errors import ChunkError, Reason

HEADER_SIZE: Final = 12
# The GELF specification's limit; go-gelf refuses to send more.
MAX_CHUNKS: Final = 128
# The GELF specification: all chunks within 5 s (Graylog keeps 5 s, Logstash 20 s).
DEFAULT_CHUNK_TIMEOUT: Final = 5.0
# Bounds on what a flood of first chunks with random ids can make us hold. 128 chunks of 8 KiB is the
# largest sane message (1 MiB); 64 MiB holds 64 of those or hundreds of thousands of small ones.
DEFAULT_MAX_PENDING_MESSAGES: Final = 100_000
DEFAULT_MAX_PENDING_BYTES: Final = 64 * 1024 * 1024
# What a pending message costs besides its data (dict entries, list, object): counted against the byte
# cap so that a flood of tiny chunks is bounded too.
_PENDING_OVERHEAD: Final = 200


class ChunkHeader(NamedTuple):
    message_id: bytes
    sequence: int
    count: int  # type: ignore[assignment]  # the field shadows tuple.count


def parse_chunk_header(chunk: bytes) -> ChunkHeader:
    """Validate and return the header of one chunk datagram."""
    if len(chunk) < HEADER_SIZE or chunk[:2] != CHUNK_MAGIC:
        raise ChunkError(Reason.CHUNK_TOO_SHORT, f"{len(chunk)} bytes, a chunk header is {HEADER_SIZE}")
    message_id = chunk[2:10]
    sequence, count = chunk[10], chunk[11]
    if not 1 <= count <= MAX_CHUNKS:
        raise ChunkError(Reason.CHUNK_COUNT_INVALID, f"count {count} not in 1..{MAX_CHUNKS}",
                         message_id=message_id, sequence=sequence, count=count)
    if sequence >= count:
        raise ChunkError(Reason.CHUNK_SEQUENCE_INVALID, f"sequence {sequence} >= count {count}",
                         message_id=message_id, sequence=sequence, count=count)
    return ChunkHeader(message_id, sequence, count)


@dataclass(slots=True)
class _Pending:
    first_seen: float
    count: int
    parts: list[bytes | None]
    received: int = 0
    size: int = _PENDING_OVERHEAD
    forwarded: bool = False
    # The earliest receive time of any of its chunks (a forwarded one may have been received before the
    # first that reached this worker): the message's own receive time.
    earliest: float = math.inf


@dataclass(slots=True)
class ChunkStats:
    completed: int = 0
    # Completed here with at least one chunk forwarded by another worker or instance.
    completed_forwarded: int = 0
    duplicates: int = 0
    expired: int = 0
    evicted: int = 0
    # Bytes of data dropped with expired or evicted messages.
    dropped_bytes: int = 0


@dataclass
class ChunkReassembler:
    timeout: float = DEFAULT_CHUNK_TIMEOUT
    max_pending_messages: int = DEFAULT_MAX_PENDING_MESSAGES
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    stats: ChunkStats = field(default_factory=ChunkStats)
    # Insertion order is first-chunk order, so the oldest message is always first: expiry and eviction
    # look only at the front.
    _pending: dict[bytes, _Pending] = field(default_factory=dict)
    _pending_bytes: int = 0
    # Ids of messages completed within the timeout, with their first-chunk time: a duplicate chunk that
    # arrives after its message completed is a duplicate, not the start of a message that never ends.
    _completed: dict[bytes, float] = field(default_factory=dict)
    # When the message the last maybe_complete returned was received: its earliest chunk's time.
    completed_received: float = 0.0

    @property
    def pending_messages(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def maybe_complete(self, chunk: bytes, now: float, forwarded: bool = False) -> bytes | None:
        """Take one chunk datagram; return the whole message's payload when this chunk completes it.

        ``forwarded``: the chunk came from another worker or instance (counted when the message completes).
        """
        if len(chunk) < HEADER_SIZE or not chunk[10] < chunk[11] <= MAX_CHUNKS or chunk[:2] != CHUNK_MAGIC:
            parse_chunk_header(chunk)  # raises, with the reason
        message_id, sequence, count = chunk[2:10], chunk[10], chunk[11]
        data = chunk[HEADER_SIZE:]
        pending = self._pending.get(message_id)
        if pending is None:
            if message_id in self._completed:
                self.stats.duplicates += 1
                return None
            if count == 1:
                # graypy sends a message of exactly one datagram's size as a chunked message of one.
                self._remember_completed(message_id, now, forwarded)
                self.completed_received = now
                return data
            pending = _Pending(now, count, [None] * count)
            self._pending[message_id] = pending
            self._pending_bytes += pending.size
        elif pending.count != count:
            raise ChunkError(Reason.CHUNK_COUNT_MISMATCH, f"count {count}, earlier chunks said {pending.count}",
                             message_id=message_id, sequence=sequence, count=count)
        if pending.parts[sequence] is not None:
            self.stats.duplicates += 1
            return None
        pending.parts[sequence] = data
        pending.forwarded |= forwarded
        pending.received += 1
        pending.size += len(data)
        self._pending_bytes += len(data)
        if now < pending.earliest:
            pending.earliest = now
        if pending.received == count:
            self.completed_received = pending.earliest
            del self._pending[message_id]
            self._pending_bytes -= pending.size
            self._remember_completed(message_id, pending.first_seen, pending.forwarded)
            return b"".join(pending.parts)  # type: ignore[arg-type]  # all parts are bytes now
        if self._pending_bytes > self.max_pending_bytes or len(self._pending) > self.max_pending_messages:
            self._evict_over_caps(keep=message_id)
        return None

    def _remember_completed(self, message_id: bytes, first_seen: float, forwarded: bool) -> None:
        self.stats.completed += 1
        self.stats.completed_forwarded += forwarded
        self._completed[message_id] = first_seen
        if len(self._completed) > self.max_pending_messages:
            del self._completed[next(iter(self._completed))]

    def _drop(self, message_id: bytes) -> None:
        pending = self._pending.pop(message_id)
        self._pending_bytes -= pending.size
        self.stats.dropped_bytes += pending.size - _PENDING_OVERHEAD

    def _evict_over_caps(self, keep: bytes) -> None:
        """Evict the oldest messages while over a cap, sparing the one that just grew if it can."""
        while (len(self._pending) > self.max_pending_messages
               or self._pending_bytes > self.max_pending_bytes):
            ids = iter(self._pending)
            victim = next(ids)
            if victim == keep:
                # Only when it is alone over the cap does the message being built go.
                victim = next(ids, keep)
            self._drop(victim)
            self.stats.evicted += 1

    def sweep(self, now: float) -> int:
        """Expire messages whose first chunk is older than the timeout; return how many."""
        expired = 0
        deadline = now - self.timeout
        while self._pending:
            oldest_id, oldest = next(iter(self._pending.items()))
            if oldest.first_seen > deadline:
                break
            self._drop(oldest_id)
            expired += 1
        self.stats.expired += expired
        # Completed ids are kept in completion order, first-chunk times almost sorted: sweep the front.
        while self._completed:
            oldest_id, first_seen = next(iter(self._completed.items()))
            if first_seen > deadline:
                break
            del self._completed[oldest_id]
        return expired
