"""The fuzz target: one input through the pure core, and the properties everything that comes out must have.

``run_input`` raises nothing for any input but what breaks the core: GelfError is handled, any other exception
or an InvariantError is a finding. This module needs no atheris (the tests replay tests/vectors/fuzz/ through
``run_input``); the fuzzing itself is ``python -m fuzz`` (fuzz/__main__.py).

One input drives one target, chosen by its first byte (the files in tests/vectors/fuzz/ are such inputs;
tests/core/test_properties.py replays them through ``run_input``):

  0  datagrams: byte 1 picks the settings (``settings_for``); the rest is datagrams separated by SEPARATOR
     (bytes UTF-8 never holds, so that what the mutator inserts into one datagram stays in it), each into
     Ingest.take_many, Ingest.tick after each, Ingest.flush at the end;
  1  logspout JSON lines: byte 1 the settings; the rest split at newlines, each line into Ingest.json_lines;
  2  a TCP stream: byte 1 the settings, byte 2 the framing, frame cap and piece size; the rest fed to a
     Deframer in pieces, which must give what feeding it whole gives and never hold more than the cap;
     each frame into Ingest.take_many;
  3  a bulk answer: byte 1 the item count, byte 2 how the body arrives (parsed JSON, text, bytes);
     BulkResponse.classify must place every item exactly once;
  4  one GELF message: byte 1 the settings, byte 2 how it travels (``deliver``: plain, zlib or gzip; whole or
     in chunks of some size; in order, reversed, duplicated, one lost, interleaved with a copy); the rest is
     the message as sent, so the mutator works on JSON while the harness compresses and chunks it.

Every batch that comes out is checked: split_items gives its items back from its body, each item is an
action line naming only our index (and our _id) and a document with a string @timestamp, a non-empty
string message, an int sequence that grows from one event to the next, and no key starting with "_".
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from typing import Any, Final

import orjson

from gelfingest.core.batch import Batch
from gelfingest.core.bulk import BulkResponse
from gelfingest.core.errors import Reason
from gelfingest.core.framing import DEFAULT_MAX_FRAME, Deframer, Framing
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.storage.spool import split_items

DATAGRAMS, JSON_LINES, TCP_STREAM, BULK_ANSWER, GELF_MESSAGE = range(5)
TARGETS: Final = 5
# Between the datagrams of one input: C0 and C1 never occur in UTF-8.
SEPARATOR: Final = b"\xc0\xc1\xc0\xc1"
# Chunk data sizes for GELF_MESSAGE (0: whole); the number of chunks is kept within GELF's 128.
CHUNK_SIZES: Final = (0, 1, 7, 40, 300, 1400, 8192, 0)
SOURCE: Final = "198.51.100.7"
NOW: Final = 1_763_900_000.0  # 2025-11-23T12:13:20Z; an input's records stay within the day
RECEIVE_INDEX: Final = "logstash-2025.11.23"
ID_PREFIX: Final = "fz-"
# Seconds between two records: one burst, a few per chunk timeout, and past it.
STEPS: Final = (0.0, 0.25, 2.0, 7.0)
FRAMINGS: Final[tuple[Framing, ...]] = ("nul", "newline", "auto", "nul")
MAX_FRAMES: Final = (16, 300, 4096, DEFAULT_MAX_FRAME)
# Limits small enough that the fuzzer reaches every bound (depth, fields, names, pending chunks, sizes).
SMALL: Final[dict[str, Any]] = {
    "max_message_size": 4096, "max_json_depth": 4, "max_fields": 12, "max_field_name_length": 12, "chunk_timeout": 1.0,
    "max_pending_chunked": 3, "max_pending_chunk_bytes": 2048, "batch_max_bytes": 700,
}


class InvariantError(AssertionError):
    """What came out of the core breaks a property every output must have."""


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise InvariantError(what)


def settings_for(selector: int) -> tuple[IngestSettings, float, bool]:
    """(settings, seconds between records, whether datagrams come as forwarded) from one byte."""
    extra = SMALL if selector & 4 else {}
    settings = IngestSettings(
        document_id_prefix=ID_PREFIX if selector & 1 else None,
        sequence_mode="clock" if selector & 2 else "counter",
        batch_max_docs=1 if selector & 8 else 3,
        **extra,
    )
    return settings, STEPS[(selector >> 4) & 3], bool(selector & 64)


def chunks(payload: bytes, size: int, message_id: bytes) -> list[bytes]:
    """``payload`` as GELF chunks of ``size`` data bytes (more if 128 would not hold it), as go-gelf cuts."""
    size = max(size, -(-len(payload) // 128))
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    return [b"\x1e\x0f" + message_id + bytes((i, len(parts))) + part for i, part in enumerate(parts)]


def deliver(shape: int, message: bytes) -> list[bytes]:
    """The datagrams one message arrives as: compression (bits 0-1), chunk size (2-4), delivery (5-7)."""
    kind = shape & 3
    payload = zlib.compress(message, 6) if kind == 1 else gzip.compress(message, 6, mtime=0) if kind == 2 \
        else message
    size = CHUNK_SIZES[(shape >> 2) & 7]
    if not size:
        return [payload, payload] if shape >> 5 == 4 else [payload]
    message_id = hashlib.sha1(message).digest()[:8]
    parts = chunks(payload, size, message_id)
    order = shape >> 5
    if order == 1:
        parts.reverse()
    elif order == 2:
        parts.append(parts[0])
    elif order == 3 and len(parts) > 1:
        parts.pop()
    elif order == 4:
        parts = [p for part in parts for p in (part, part)]
    elif order == 5:
        other = chunks(payload, size, message_id[::-1])
        parts = [p for pair in zip(parts, other, strict=True) for p in pair]
    elif order == 6:
        parts = parts[1:] + parts[:1]
    return parts


class Outputs:
    """Checks every batch out of one Ingest."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self.last_sequence = -1
        self.documents = 0

    def check(self, batch: Batch | None) -> None:
        if batch is None:
            return
        _check(split_items(batch.body(), len(batch)) == batch.items, "split_items(body) differs from the items")
        for item in batch.items:
            lines = item.split(b"\n")
            _check(len(lines) == 3 and lines[2] == b"", "an item is not two lines")
            action, doc = orjson.loads(lines[0]), orjson.loads(lines[1])
            _check(type(doc) is dict, "the document is not an object")
            stamp, message, sequence = doc.get("@timestamp"), doc.get("message"), doc.get("sequence")
            _check(type(stamp) is str and len(stamp) == 24, "@timestamp is not an ISO 8601 string")
            _check(type(message) is str and message != "", "message is not a non-empty string")
            _check(type(sequence) is int and sequence > self.last_sequence, "sequence is not a growing int")
            _check(not any(key.startswith("_") for key in doc), "a document key starts with _")
            # The event's day, or the day it was received when its own time is implausible.
            index = next(iter(action.values()))["_index"] if type(action) is dict and action else None
            _check(index in ("logstash-" + stamp[:10].replace("-", "."), RECEIVE_INDEX), "the index is not ours")
            if self.prefix is None:
                _check(action == {"index": {"_index": index}}, "the action line is not ours")
            else:
                _check(action == {"create": {"_index": index, "_id": f"{self.prefix}{sequence}"}},
                       "the action line is not ours")
            self.last_sequence = sequence
            self.documents += 1


def _take(ingest: Ingest, out: Outputs, data: bytes, now: float, forwarded: bool, json_line: bool) -> None:
    if json_line:
        ready, rejected = ingest.json_lines([data], [SOURCE], now)
    else:
        ready, rejected = ingest.take_many([data], [SOURCE], now, forwarded)
    for err, _ in rejected:
        _check(isinstance(err.reason, str) and err.reason != "", "a GelfError without a reason")
        _check(err.reason != Reason.INTERNAL_ERROR, f"a bug in the core: {err.detail}")
    for batch in ready:
        out.check(batch)


def _ingest_all(selector: int, messages: Iterator[bytes], json_line: bool = False) -> None:
    settings, step, forwarded = settings_for(selector)
    ingest = Ingest(settings)
    out = Outputs(settings.document_id_prefix)
    now = NOW
    for message in messages:
        _take(ingest, out, message, now, forwarded, json_line)
        now += step
        for batch in ingest.tick(now):
            out.check(batch)
    out.check(ingest.flush())
    _check(out.documents == ingest.decoded, "decoded events went missing from the batches")


def _pieces(stream: bytes, size: int) -> Iterator[bytes]:
    """The stream in pieces of varying sizes around ``size``."""
    pos, turn = 0, 0
    while pos < len(stream):
        n = (size, 1, 2 * size + 1, 3)[turn % 4]
        yield stream[pos : pos + n]
        pos += n
        turn += 1


def _tcp(selector: int, shape: int, stream: bytes) -> None:
    framing, max_frame = FRAMINGS[shape & 3], MAX_FRAMES[(shape >> 2) & 3]
    whole = Deframer(framing, max_frame)
    expected = whole.feed(stream)
    expected_rest = whole.close()
    split = Deframer(framing, max_frame)
    frames: list[bytes] = []
    for piece in _pieces(stream, 1 + (shape >> 4) * 5):
        frames += split.feed(piece)
        _check(split.buffered <= max_frame, "the deframer holds more than its cap")
    _check(frames == expected and split.oversize == whole.oversize, "frames differ when the stream is split")
    rest = split.close()
    _check(rest == expected_rest, "the end of the stream differs when it is split")
    _ingest_all(selector, iter(frames if rest is None else [*frames, rest]))


def _bulk(n_items: int, how: int, data: bytes) -> None:
    body: Any
    if how % 3 == 0:
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = data.decode("utf-8", "replace")
    else:
        body = data.decode("utf-8", "replace") if how % 3 == 1 else data
    result = BulkResponse.classify(body, n_items)
    positions = [*result.retry, *(f.position for f in result.failed)]
    _check(len(set(positions)) == len(positions) and all(0 <= p < n_items for p in positions),
           "an item position is out of range or given twice")
    _check(result.ok + result.duplicates + len(positions) == n_items, "items are not all accounted for")


def run_input(data: bytes) -> None:
    """One fuzz input through its target. GelfError is handled here: anything raised is a finding."""
    if len(data) < 2:
        return
    target, selector = data[0] % TARGETS, data[1]
    if target == DATAGRAMS:
        _ingest_all(selector, iter(data[2:].split(SEPARATOR)))
    elif target == JSON_LINES:
        _ingest_all(selector, iter(data[2:].split(b"\n")), json_line=True)
    elif target == TCP_STREAM:
        _tcp(selector, data[2] if len(data) > 2 else 0, data[3:])
    elif target == BULK_ANSWER:
        _bulk(selector % 64, data[2] if len(data) > 2 else 0, data[3:])
    else:
        _ingest_all(selector, iter(deliver(data[2] if len(data) > 2 else 0, data[3:])))
