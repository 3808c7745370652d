"""The pure data path for one datagram: reassemble -> decompress -> decode -> sequence -> encode -> batch.

This is where the pure modules are joined; the UDP input hands it bytes, the sender's address and
``now`` (epoch seconds), and gets back a batch to send when one is ready. Bad input raises a GelfError
for the caller to count; nothing else is expected to come out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gelfingest.batch import (
    DEFAULT_BATCH_MAX_AGE,
    DEFAULT_BATCH_MAX_BYTES,
    DEFAULT_BATCH_MAX_DOCS,
    Batch,
    Batcher,
)
from gelfingest.bulk import DEFAULT_INDEX_PATTERN, BulkEncoder
from gelfingest.chunks import (
    DEFAULT_CHUNK_TIMEOUT,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_PENDING_MESSAGES,
    ChunkReassembler,
)
from gelfingest.errors import GelfError, Reason
from gelfingest.gelf import DEFAULT_MAX_DEPTH, DEFAULT_MAX_FIELD_NAME, DEFAULT_MAX_FIELDS, GelfDecoder, Limits
from gelfingest.logspout import LogspoutDecoder
from gelfingest.payload import CHUNK_MAGIC, DEFAULT_MAX_MESSAGE_SIZE, decompress
from gelfingest.sequence import DEFAULT_ITERATOR, DEFAULT_SEED, SequenceMode, Sequencer

DEFAULT_INDEX_MAX_AGE = 7 * 86400.0
DEFAULT_INDEX_MAX_AHEAD = 86400.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    sequence_seed: int = DEFAULT_SEED
    sequence_iterator: int = DEFAULT_ITERATOR
    sequence_mode: SequenceMode = "counter"
    worker: int = 0
    workers: int = 1
    index_pattern: str = DEFAULT_INDEX_PATTERN
    # None: Elasticsearch picks ids (op_type index); else _id = prefix + sequence, op_type create.
    document_id_prefix: str | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    max_fields: int = DEFAULT_MAX_FIELDS
    max_field_name: int = DEFAULT_MAX_FIELD_NAME
    chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT
    max_pending_messages: int = DEFAULT_MAX_PENDING_MESSAGES
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    batch_max_docs: int = DEFAULT_BATCH_MAX_DOCS
    batch_max_bytes: int = DEFAULT_BATCH_MAX_BYTES
    batch_max_age: float = DEFAULT_BATCH_MAX_AGE
    # The index is named by the event's time only within this window around the receive time; outside it,
    # by the receive time (``@timestamp`` keeps the event's own), so a sender cannot create an index per
    # day of the calendar by lying about the time.
    index_max_age: float = DEFAULT_INDEX_MAX_AGE
    index_max_ahead: float = DEFAULT_INDEX_MAX_AHEAD


class Ingest:
    def __init__(self, settings: IngestSettings | None = None, sequencer: Sequencer | None = None) -> None:
        """``sequencer`` carries the reservations of a running daemon; tests may leave it out."""
        s = settings or IngestSettings()
        self.settings = s
        self.reassembler = ChunkReassembler(s.chunk_timeout, s.max_pending_messages, s.max_pending_bytes)
        limits = Limits(s.max_depth, s.max_fields, s.max_field_name)
        self.decoder = GelfDecoder(limits)
        self.logspout = LogspoutDecoder(limits)
        self.sequencer = sequencer or Sequencer(s.sequence_seed, s.sequence_iterator, worker=s.worker,
                                                workers=s.workers, mode=s.sequence_mode)
        self.encoder = BulkEncoder(s.index_pattern, s.document_id_prefix)
        self.batcher = Batcher(s.batch_max_docs, s.batch_max_bytes, s.batch_max_age)
        # What was received is counted by each input; here only what was decoded.
        self.decoded = 0
        # Events indexed by their receive time because their own was outside the window.
        self.index_time_replaced = 0
        self._max_age, self._max_ahead = s.index_max_age, s.index_max_ahead

    def datagram(self, data: bytes, source_host: str, now: float, forwarded: bool = False) -> Batch | None:
        """Take one datagram; return a batch when this datagram's event fills one.

        ``forwarded``: a chunk that another worker or instance passed on to us, its owner.
        """
        if not data:
            raise GelfError(Reason.EMPTY, "empty datagram")
        if data[:2] == CHUNK_MAGIC:
            whole = self.reassembler.maybe_complete(data, now, forwarded)
            if whole is None:
                return None
            data = whole
        doc, seconds = self.decoder.decode(decompress(data, self.settings.max_message_size), source_host, now)
        return self._emit(doc, seconds, now)

    def json_line(self, data: bytes, source_host: str, now: float) -> Batch | None:
        """Take one logspout (logstash adapter) JSON line; sequenced and batched like GELF."""
        doc, seconds = self.logspout.decode(decompress(data, self.settings.max_message_size), source_host, now)
        return self._emit(doc, seconds, now)

    def _emit(self, doc: dict[str, Any], seconds: int, now: float) -> Batch | None:
        """A decoded event leaves the decoder: sequenced in this order, encoded, batched."""
        self.decoded += 1
        self.sequencer.stamp(doc, now)
        if not now - self._max_age <= seconds <= now + self._max_ahead:
            self.index_time_replaced += 1
            seconds = int(now)
        return self.batcher.add(self.encoder.encode(doc, seconds), now)

    def tick(self, now: float) -> Batch | None:
        """Periodic work: expire stale chunked messages, return a batch that is old enough."""
        self.reassembler.sweep(now)
        return self.batcher.maybe_flush(now)

    def flush(self) -> Batch | None:
        return self.batcher.flush()
