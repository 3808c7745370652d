"""The pure data path: reassemble -> decompress -> decode -> sequence (-> ECS) -> encode -> batch.

This is where the pure modules are joined. The daemon hands it what an input received (UDP datagrams, TCP
frames, the messages of an HTTP body, logspout's JSON lines), each with its sender's address, and ``now``
(epoch seconds); it gets back the batches that are ready to send and the rejected messages, each with
its GelfError for the caller to count. Nothing else is expected to come out: an exception that is not a
GelfError is a bug, and costs only the message that met it (``internal_error``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from gelfingest.core.batch import (
    DEFAULT_BATCH_MAX_AGE,
    DEFAULT_BATCH_MAX_BYTES,
    DEFAULT_BATCH_MAX_DOCS,
    Batch,
    Batcher,
)
from gelfingest.core.bulk import DEFAULT_INDEX_PATTERN, BulkEncoder
from gelfingest.core.chunks import (
    DEFAULT_CHUNK_TIMEOUT,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_PENDING_MESSAGES,
    ChunkReassembler,
)
from gelfingest.core.decompress import CHUNK_MAGIC, DEFAULT_MAX_MESSAGE_SIZE, decompress
from gelfingest.core.ecs import EcsMapper
from gelfingest.core.errors import DecodeError, GelfError, Reason
from gelfingest.core.event import Event
from gelfingest.core.fields import DEFAULT_MAX_DEPTH, DEFAULT_MAX_FIELD_NAME, DEFAULT_MAX_FIELDS, Limits, epoch_millis
from gelfingest.core.gelf import GelfDecoder
from gelfingest.core.indices import DEFAULT_MAX_INDEX_TARGETS, IndexRouter, PipelineRouter, has_references
from gelfingest.core.logspout import LogspoutDecoder
from gelfingest.core.sequence import DEFAULT_ITERATOR, DEFAULT_SEED, SequenceMode, Sequencer
from gelfingest.core.streams import (
    DEFAULT_MAX_PENDING_STREAMS,
    DEFAULT_MAX_REORDER_WINDOW,
    DEFAULT_MULTILINE_MAX_LINES,
    DEFAULT_MULTILINE_TIMEOUT,
    DEFAULT_PARTIAL_TIMEOUT,
    DEFAULT_REORDER_WINDOW,
    Streams,
    StreamSettings,
    rules,
    stream_key,
)

if TYPE_CHECKING:  # built by the daemon from its file; the core without processors never loads them
    from gelfingest.core.otlp import OtlpDecoder, OtlpEcsMapper, OtlpResult
    from gelfingest.core.processors import Pipeline

# logstash: the documents Logstash's gelf input made; ecs: the Elastic Common Schema (ecs.py).
Schema = Literal["logstash", "ecs"]
DEFAULT_INDEX_MAX_AGE: Final = 7 * 86400.0
DEFAULT_INDEX_MAX_AHEAD: Final = 86400.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """What the core needs to know, named as the daemon's configuration names it (``Config``)."""

    sequence_seed: int = DEFAULT_SEED
    sequence_iterator: int = DEFAULT_ITERATOR
    # The daemon numbers in clock mode by default (Config); the core counts unless told, so that a test or
    # a benchmark that builds an Ingest gets numbers it can predict.
    sequence_mode: SequenceMode = "counter"
    worker_index: int = 0
    workers: int = 1
    index: str = DEFAULT_INDEX_PATTERN
    # With field references in ``index``: where events without the field go ("": the pattern without its
    # references), and how many distinct indices a day one worker writes to (indices.py).
    index_fallback: str = ""
    max_index_targets: int = DEFAULT_MAX_INDEX_TARGETS
    # The ingest pipeline of every event ("": none); field references allowed.
    pipeline: str = ""
    # Container streams (streams.py): off unless one of join_partial, multiline, stream_rate_limit is on.
    stream_reorder_window: float = DEFAULT_REORDER_WINDOW
    stream_max_reorder_window: float = DEFAULT_MAX_REORDER_WINDOW
    join_partial: bool = False
    partial_timeout: float = DEFAULT_PARTIAL_TIMEOUT
    multiline: tuple[str, ...] = ()
    multiline_start: str = ""
    multiline_continue: str = ""
    multiline_max_lines: int = DEFAULT_MULTILINE_MAX_LINES
    multiline_timeout: float = DEFAULT_MULTILINE_TIMEOUT
    stream_rate_limit: int = 0
    max_pending_streams: int = DEFAULT_MAX_PENDING_STREAMS

    schema: Schema = "logstash"
    # None: Elasticsearch picks ids (op_type index); else _id = prefix + sequence, op_type create.
    document_id_prefix: str | None = None
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_json_depth: int = DEFAULT_MAX_DEPTH
    max_fields: int = DEFAULT_MAX_FIELDS
    max_field_name_length: int = DEFAULT_MAX_FIELD_NAME
    # Dots in additional field names become "_" (Logstash's de_dot filter).
    dedot_fields: bool = False
    chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT
    max_pending_chunked: int = DEFAULT_MAX_PENDING_MESSAGES
    max_pending_chunk_bytes: int = DEFAULT_MAX_PENDING_BYTES
    batch_max_docs: int = DEFAULT_BATCH_MAX_DOCS
    batch_max_bytes: int = DEFAULT_BATCH_MAX_BYTES
    batch_max_age: float = DEFAULT_BATCH_MAX_AGE
    # The index is named by the event's time only within this window around the receive time; outside it,
    # by the receive time (``@timestamp`` keeps the event's own), so a sender cannot create an index per
    # day of the calendar by lying about the time.
    index_max_age: float = DEFAULT_INDEX_MAX_AGE
    index_max_ahead: float = DEFAULT_INDEX_MAX_AHEAD

    def stream_settings(self) -> StreamSettings:
        """ValueError for a multiline rule that does not exist or a custom pattern that does not compile."""
        return StreamSettings(
            reorder_window=self.stream_reorder_window, max_reorder_window=self.stream_max_reorder_window,
            join_partial=self.join_partial,
            partial_timeout=self.partial_timeout,
            multiline=tuple(rules(self.multiline, self.multiline_start, self.multiline_continue)),
            multiline_max_lines=self.multiline_max_lines, multiline_timeout=self.multiline_timeout,
            max_message_size=self.max_message_size, rate_limit=self.stream_rate_limit,
            max_pending_streams=self.max_pending_streams)


def _object_lines(payload: bytes) -> list[bytes] | None:
    """The objects of a payload of JSON objects one a line (Graylog's bulk form), or None when it is not
    one: it must hold two objects or more, and every line that is not blank must look like an object on its
    own, so a single object written over several lines (pretty-printed) is never taken apart. Only looked
    at once the payload failed to parse as one object, so a message that parses costs nothing here."""
    if b"\n" not in payload:
        return None
    lines = [line.strip() for line in payload.split(b"\n")]
    objects = [line for line in lines if line]
    if len(objects) < 2 or not all(line[:1] == b"{" and line[-1:] == b"}" for line in objects):
        return None
    return objects


Decode = Callable[[bytes, str, float], tuple[dict[str, Any], int]]


def _decode_each(decode: Decode, payloads: Iterable[tuple[bytes, str]], now: float, events: list[Event],
                 rejected: list[tuple[GelfError, str]], max_size: int | None = None, received: float = 0.0,
                 ) -> None:
    """Decode each payload (decompressed first when ``max_size`` is given) with its sender; the events
    (received at ``received``, sequenced at ``now``) and the rejections are added to the lists."""
    for data, source in payloads:
        try:
            doc, seconds = decode(data if max_size is None else decompress(data, max_size), source, now)
        except GelfError as err:
            rejected.append((err, source))
            continue
        except Exception as exc:
            rejected.append((_bug(exc), source))
            continue
        events.append(Event(doc, seconds, 0, received, now))


def _bug(exc: Exception) -> GelfError:
    return GelfError(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc} (a bug in gelfingest; please report "
                     f"it with the message)")


class Ingest:
    def __init__(self, settings: IngestSettings | None = None, sequencer: Sequencer | None = None,
                 processors: Pipeline | None = None) -> None:
        """``sequencer`` carries the reservations of a running daemon; tests may leave it out."""
        s = settings or IngestSettings()
        self.settings = s
        self.reassembler = ChunkReassembler(s.chunk_timeout, s.max_pending_chunked, s.max_pending_chunk_bytes)
        limits = Limits(s.max_json_depth, s.max_fields, s.max_field_name_length)
        self.decoder = GelfDecoder(limits, s.dedot_fields, empty_lines=s.join_partial)
        self.logspout = LogspoutDecoder(limits, s.dedot_fields)
        self.sequencer = sequencer or Sequencer(s.sequence_seed, s.sequence_iterator, worker=s.worker_index,
                                                workers=s.workers, mode=s.sequence_mode)
        self.encoder = BulkEncoder(s.index, s.document_id_prefix)
        self.router = IndexRouter(s.index, s.index_fallback or None, s.max_index_targets) \
            if has_references(s.index) else None
        self.pipelines = PipelineRouter(s.pipeline) if s.pipeline else None
        stream_settings = s.stream_settings()
        self.streams = Streams(stream_settings) if stream_settings.enabled else None
        # Decides whether this worker owns a stream (the daemon's fleet; None: every stream is ours), and
        # the events of streams owned elsewhere, for the daemon to forward.
        self.owns: Callable[[str], bool] | None = None
        self.outbox: list[tuple[str, Event]] = []
        self._last_now = 0.0
        self.ecs = EcsMapper() if s.schema == "ecs" else None
        self.batcher = Batcher(s.batch_max_docs, s.batch_max_bytes, s.batch_max_age)
        # What was received is counted by each input; here only what was decoded.
        self.decoded = 0
        # Events indexed by their receive time because their own was outside the window.
        self.index_time_replaced = 0
        self._max_age, self._max_ahead = s.index_max_age, s.index_max_ahead
        # OTLP logs (otlp.py), made when the first request comes, and their ECS form (--schema ecs).
        self._otlp: OtlpDecoder | None = None
        self._otlp_ecs: OtlpEcsMapper | None = None
        # The processors file's pipeline (processors/); the daemon replaces it between batches on reload.
        self.processors: Pipeline | None = processors

    @property
    def dropped_fields(self) -> Counter[str]:
        """Fields dropped from messages that were kept, by reason, over every decoder."""
        out = self.decoder.dropped_fields + self.logspout.dropped_fields
        return out + self._otlp.dropped_fields if self._otlp is not None else out

    @property
    def index_fallbacks(self) -> Counter[str]:
        """Events sent to the fallback index, by reason (field references in the index pattern)."""
        return self.router.fallbacks.copy() if self.router is not None else Counter()

    @property
    def changed_fields(self) -> Counter[str]:
        """Fields kept under another name or as another type, by reason."""
        return self.decoder.changed_fields.copy()

    def field_notes(self) -> list[str]:
        """The first dropped or changed field of each reason not said yet, for the daemon to log."""
        otlp = self._otlp.notes.take() if self._otlp is not None else []
        return self.decoder.notes.take() + self.logspout.notes.take() + otlp

    def take_many(self, datagrams: Sequence[bytes], sources: Sequence[str], now: float,
                  forwarded: bool = False, stamps: Sequence[float] | None = None,
                  ) -> tuple[list[Batch], list[tuple[GelfError, str]]]:
        """Take datagrams (or frames) received at ``now``, from these senders; return the batches they
        fill and the rejected ones with their sender, in order. ``stamps``: each datagram's own receive
        time (the kernel's, for clock mode), which its event is sequenced and decoded at, as if each had
        been taken alone at its time."""
        reassembler, decode, max_size = self.reassembler, self.decoder.decode, self.settings.max_message_size
        events: list[Event] = []
        rejected: list[tuple[GelfError, str]] = []
        stamp = now
        new, append = object.__new__, events.append
        for i, (data, source) in enumerate(zip(datagrams, sources, strict=True)):
            payload = b""
            if stamps is not None:
                stamp = stamps[i]
            # When it was received (a chunked message: its earliest chunk); it is sequenced at ``stamp``.
            at = stamp
            try:
                if data[:2] == CHUNK_MAGIC:
                    whole = reassembler.maybe_complete(data, stamp, forwarded)
                    if whole is None:
                        continue
                    data = whole
                    at = reassembler.completed_received
                elif not data:
                    raise GelfError(Reason.EMPTY, "empty datagram")
                payload = decompress(data, max_size)
                doc, seconds = decode(payload, source, stamp)
            except DecodeError as err:
                objects = _object_lines(payload)
                if objects is None:
                    rejected.append((err, source))
                else:  # each object on its own; one that fails is rejected alone
                    _decode_each(decode, ((line, source) for line in objects), stamp, events, rejected,
                                 received=at)
                continue
            except GelfError as err:
                rejected.append((err, source))
                continue
            except Exception as exc:  # a bug: this message is rejected, the rest of the burst goes on
                rejected.append((_bug(exc), source))
                continue
            # Event(doc, seconds, 0, at, stamp) without calling a class from Python, which costs about 1,500
            # instructions an event in 3.11 (the record's fields are written in full here).
            event = new(Event)
            event.doc = doc
            event.seconds = seconds
            event.sequence = 0
            event.received = at
            event.taken = stamp
            append(event)
        return self._emit(events, now, stamps is not None), rejected

    def json_lines(self, lines: Sequence[bytes], sources: Sequence[str],
                   now: float) -> tuple[list[Batch], list[tuple[GelfError, str]]]:
        """Take logspout (logstash adapter) JSON lines, sequenced and batched like GELF; as ``take_many``."""
        events: list[Event] = []
        rejected: list[tuple[GelfError, str]] = []
        _decode_each(self.logspout.decode, zip(lines, sources, strict=True), now, events, rejected,
                     self.settings.max_message_size, now)
        return self._emit(events, now), rejected

    def otlp(self, body: bytes, encoding: Literal["protobuf", "json"], source: str,
             now: float) -> tuple[list[Batch], OtlpResult]:
        """An OTLP logs request's body (decompressed) from ``source``: its records become events in the
        request's order, sequenced and batched like GELF; the result says which records were refused.
        DecodeError when the body is not a request at all (the listener answers 400)."""
        decoder = self._otlp
        if decoder is None:
            from gelfingest.core.otlp import OtlpDecoder  # the core without OTLP never loads protobuf

            s = self.settings
            decoder = self._otlp = OtlpDecoder(Limits(s.max_json_depth, s.max_fields, s.max_field_name_length),
                                               s.dedot_fields, s.max_message_size)
        result = decoder.decode_protobuf(body, source, now) if encoding == "protobuf" else \
            decoder.decode_json(body, source, now)
        if not result.documents:
            return [], result
        # Records are whole events: no stream joins or holds them (a record without a body has an empty
        # message, which a stream would take for the end of Docker's pieces).
        self.decoded += len(result.documents)
        self._last_now = now
        events = [Event(doc, seconds, 0, now, now) for doc, seconds in result.documents]
        in_ecs = self.ecs is not None
        if in_ecs:
            # Their ECS form is OTLP's own (otlp.py), made here; the processors and the index references see it.
            mapper = self._otlp_ecs
            if mapper is None:
                from gelfingest.core.otlp import OtlpEcsMapper

                mapper = self._otlp_ecs = OtlpEcsMapper()
            document, ingested = mapper.document, self.decoder.iso(*epoch_millis(now, now))
            for event in events:
                event.doc = document(event.doc, 0, ingested)
        if self.processors is not None:
            events = self._process(events, now, in_ecs=in_ecs)
        if not events:
            return [], result
        sequences = self.sequencer.take(len(events), now)
        return self._finish(events, now, sequences, in_ecs=in_ecs), result

    def _emit(self, events: list[Event], now: float, stamped: bool = False) -> list[Batch]:
        """Decoded events leave the decoder: sequenced in this order (here, where they were received; each at
        the time it was taken when ``stamped``), then through their streams when a stream feature is on,
        encoded, batched. Without streams the processors run first, so a dropped event takes no number."""
        if not events:
            return []
        self.decoded += len(events)
        self._last_now = now
        streams = self.streams
        if streams is None and self.processors is not None:
            events = self._process(events, now)
            if not events:
                return []
        sequences: Sequence[int] = (self.sequencer.take_at([e.taken for e in events]) if stamped
                                    else self.sequencer.take(len(events), now))
        if streams is None:
            return self._finish(events, now, sequences)
        low, high = now - self._max_age, now + self._max_ahead
        for event, sequence in zip(events, sequences, strict=True):
            event.sequence = sequence
            if not low <= event.seconds <= high:
                self.index_time_replaced += 1
                event.seconds = int(now)
        # The owner's reorder clock is the newest receive time here: a burst's own (a backlog read late must
        # not push the clock past what peers received meanwhile), else when it was read.
        clock = max(e.taken for e in events) if stamped else now
        return self._through_streams(events, clock)

    def _process(self, events: list[Event], now: float, in_ecs: bool = False) -> list[Event]:
        """The events the processors keep, changed as they say (``processors`` is set). With the ECS schema
        they see (and the index references name) the ECS form, as the event is stored: it is made here (unless
        the documents are in it already: ``in_ecs``), its sequence filled in by ``_finish``."""
        run = self.processors.run  # type: ignore[union-attr]
        ecs = self.ecs
        kept = []
        if ecs is None or in_ecs:
            for event in events:
                doc = run(event.doc)
                if doc is not None:
                    event.doc = doc
                    kept.append(event)
            return kept
        document, ingested = ecs.document, self.decoder.iso(*epoch_millis(now, now))
        for event in events:
            doc = run(document(event.doc, 0, ingested))
            if doc is not None:
                event.doc = doc
                kept.append(event)
        return kept

    def _through_streams(self, events: list[Event], now: float) -> list[Batch]:
        """Each event to its stream's owner: here, or (``owner`` says another) into the outbox for the daemon
        to forward, sequence and all."""
        ours: list[tuple[str, Event]] = []
        owns = self.owns
        for event in events:
            key = stream_key(event.doc)
            if owns is None or owns(key):
                ours.append((key, event))
            else:
                self.outbox.append((key, event))
        return self.take_events(ours, now)

    def take_events(self, events: Iterable[tuple[str, Event]], now: float,
                    received_here: bool = True) -> list[Batch]:
        """Events of the streams this worker owns (decoded here, or forwarded by the worker or instance that
        received them, with their sequence); the batches the ones ready now fill. With no stream feature on
        here (a peer configured otherwise), they go on as they are."""
        if self.streams is None:
            return self._finish_events([event for _, event in events], now)
        return self._finish_events(self.streams.take(events, now, received_here), now)

    def _finish_events(self, events: list[Event], now: float) -> list[Batch]:
        """Events a stream's owner lets go, in the stream's order, through the processors (pieces and lines
        are joined by now, so a JSON line Docker cut parses whole). Their stored sequence is stamped here,
        as they go: the one they got where they were received served to put them in order (a chunked
        message gets its sequence when it completes, after the lines sent after it were received), and
        Kibana must sort by @timestamp and sequence in the order restored."""
        if events and self.processors is not None:
            events = self._process(events, now)
        if not events:
            return []
        return self._finish(events, now, self.sequencer.take(len(events), now), held=True)

    def _finish(self, events: list[Event], now: float, sequences: Sequence[int], held: bool = False,
                in_ecs: bool = False) -> list[Batch]:
        """Encode and batch events with the sequences they are stored with. An index is named by the event's
        time only within the window around ``now`` (streams checked theirs when they took them: ``held``).
        ``in_ecs``: the documents are in the ECS form already (OTLP's own), as they are after the processors."""
        docs: list[dict[str, Any]] = []
        times: list[int] = []
        add_doc, add_time = docs.append, times.append
        ecs = self.ecs
        if ecs is None:  # the sequence is a field of the Logstash form
            for event, value in zip(events, sequences, strict=True):
                doc = event.doc
                doc["sequence"] = value
                add_doc(doc)
                add_time(event.seconds)
        elif in_ecs or self.processors is not None:  # in ECS form already (_process, or OTLP's)
            for event, value in zip(events, sequences, strict=True):
                doc = event.doc
                home = doc.get("event")
                if type(home) is dict:
                    home["sequence"] = value
                else:
                    doc["event"] = {"sequence": value}
                add_doc(doc)
                add_time(event.seconds)
            ecs = None
        else:
            for event in events:
                add_doc(event.doc)
                add_time(event.seconds)
        if not held:
            low, high = now - self._max_age, now + self._max_ahead
            if min(times) < low or max(times) > high:
                for i, seconds in enumerate(times):
                    if not low <= seconds <= high:
                        self.index_time_replaced += 1
                        times[i] = int(now)
        # Field references name the decoded fields, before the ECS form moves them (unless the processors
        # saw the ECS form: then the references name it too).
        indices = self.router.names(docs, times, now) if self.router is not None else None
        pipelines = self.pipelines.names(docs) if self.pipelines is not None else None
        if ecs is not None:
            document, ingested = ecs.document, self.decoder.iso(*epoch_millis(now, now))
            docs = [document(doc, value, ingested) for doc, value in zip(docs, sequences, strict=True)]
        items = self.encoder.encode_many(docs, times, sequences, indices, pipelines)
        return self.batcher.add_many(items, now)

    def tick(self, now: float, behind: bool = False) -> list[Batch]:
        """Periodic work: expire stale chunked messages, let go of what streams held long enough; the batches
        that fills, and one that is old enough. ``behind``: the daemon's input has datagrams waiting, so
        the streams' reorder clock stays where the input is."""
        self.reassembler.sweep(now)
        self._last_now = now
        ready = self._finish_events(self.streams.tick(now, behind), now) if self.streams is not None else []
        aged = self.batcher.maybe_flush(now)
        return [*ready, aged] if aged is not None else ready

    def held_since(self) -> float | None:
        """When the earliest event still in the core (held by the streams, or waiting to be forwarded to its
        stream's owner) was taken; None when none is. The batch being filled is not counted: see
        ``flush_batch``."""
        held = self.streams.held_since() if self.streams is not None else None
        if self.outbox:
            first = min(event.taken for _, event in self.outbox)
            held = first if held is None else min(held, first)
        return held

    def flush_batch(self) -> Batch | None:
        """The batch being filled, at once, however young (an HTTP answer waits for it)."""
        return self.batcher.flush()

    def flush(self) -> Batch | None:
        """Everything held, at shutdown, as one batch: what the streams hold (as it stands), and the batch
        being filled."""
        batches = self._finish_events(self.streams.flush(), self._last_now) if self.streams is not None else []
        last = self.batcher.flush()
        if last is not None:
            batches.append(last)
        if len(batches) <= 1:
            return batches[0] if batches else None
        return Batch(items=[item for b in batches for item in b.items], size=sum(b.size for b in batches),
                     created=batches[0].created)
