"""Properties of the pure core under generated input (hypothesis), after h11's rule: bad input raises the one
rejection family (GelfError), any other exception is a bug.

- Any bytes, and near-valid GELF (JSON with random fields and values, compressed or not, cut into chunks
  that arrive shuffled, duplicated, missing, truncated or bit-flipped) into Ingest.datagram, and any bytes
  and near-valid logspout lines into Ingest.json_line: a batch, None, or a GelfError.
- Every document that comes out has a string @timestamp, a non-empty string message, an int sequence
  (consecutive in counter mode), no key starting with "_", and its action line names our index and our
  _id only; the spool splits the batch's body back into the same items.
- Intact messages, however they are chunked, shuffled and duplicated, are indexed exactly once each.
- Memory stays bounded on compression bombs, whole or chunked.
- The TCP Deframer gives the same frames however the stream is split, and never holds more than its cap.
- BulkResponse.classify places every item exactly once for any answer body, and raises nothing.
- The inputs the fuzz target (fuzz/) found (tests/vectors/fuzz/) stay fixed.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz.target import run_input
from gelfingest.core.batch import Batch
from gelfingest.core.bulk import BulkResponse, document_ids
from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.framing import Deframer, Framing
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.storage.spool import split_items
from tests.helpers import VECTORS, chunk, datagram, json_line

NOW = 1_763_900_000.0  # 2025-11-23T12:13:20Z: every test stays within that day
RECEIVE_INDEX = "logstash-2025.11.23"
SOURCE = "203.0.113.9"
ID_PREFIX = "prop-"
# Decompression stops at 8 MiB; a message of a few MiB that is indexed costs a few copies of itself (orjson
# asks for several times a long string's size while it parses it, and tracemalloc counts what is asked for).
MEMORY_BOUND = 64 * 1024 * 1024
FUZZ_INPUTS = sorted((VECTORS / "fuzz").glob("*.bin"))


def examples(n: int) -> settings:
    """Example counts keep the whole file near 20 s; hypothesis' database replays what failed before."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------------------
# What every output must be.


class Outputs:
    """Collects and checks the documents of every batch one Ingest returns."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.docs: list[dict[str, Any]] = []

    def check(self, batch: Batch | None) -> None:
        if batch is None:
            return
        assert split_items(batch.body(), len(batch)) == batch.items
        for item in batch.items:
            action_line, doc_line, end = item.split(b"\n")
            assert end == b""
            action, doc = orjson.loads(action_line), orjson.loads(doc_line)
            assert type(doc) is dict
            stamp, message, sequence = doc.get("@timestamp"), doc.get("message"), doc.get("sequence")
            assert type(stamp) is str and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp
            assert type(message) is str and message
            assert type(sequence) is int
            assert not [key for key in doc if key.startswith("_")]
            # The index is the event's day, or the day it was received when its own time is implausible.
            index = action[next(iter(action))]["_index"]
            assert index in ("logstash-" + stamp[:10].replace("-", "."), RECEIVE_INDEX)
            prefix = self.settings.document_id_prefix
            if prefix is None:
                assert action == {"index": {"_index": index}}
            else:
                wanted = document_ids(prefix.encode(), [sequence])[0].decode()
                assert action == {"create": {"_index": index, "_id": wanted}}
            if self.settings.sequence_mode == "counter":
                step = self.settings.sequence_iterator
                assert sequence == (self.docs[-1]["sequence"] + step if self.docs else self.settings.sequence_seed)
            elif self.docs:
                assert sequence > self.docs[-1]["sequence"]
            self.docs.append(doc)


def ingest_all(ingest: Ingest, inputs: list[bytes], step: float = 0.0, json_lines: bool = False) -> Outputs:
    """Every input into ``ingest`` (a tick after each), then a flush; only GelfError may come out."""
    out = Outputs(ingest.settings)
    take: Callable[[Ingest, bytes, str, float], Batch | None] = json_line if json_lines else datagram
    now = NOW
    for data in inputs:
        try:
            out.check(take(ingest, data, SOURCE, now))
        except GelfError as err:
            assert err.reason and type(err.reason) is str
            assert err.reason != Reason.INTERNAL_ERROR, err.detail
        now += step
        for batch in ingest.tick(now):
            out.check(batch)
    out.check(ingest.flush())
    assert len(out.docs) == ingest.decoded
    return out


# ---------------------------------------------------------------------------------------------------------
# Strategies: JSON of every shape, field names that try to steer the document, and ways to mangle datagrams.

NASTY_NAMES = [
    "_id", "_index", "_source", "_routing", "_op_type", "__id", "__index", "_", "_.", "_..", "_a..b", "_.a", "_a.",
    "_a/b", "_/", "_host", "_host.name", "_host_name", "_message.x", "_sequence", "_sequence.x", "_@timestamp",
    "_timestamp", "_level", "_source_host", "_version", "_full_message", "_a", "_a.b", "_a.b.c", "_a.b.",
    "_com.docker.compose.project", "_com.docker.compose.project.working_dir", "_ünïcødé", "_日志.级别", "_x-y",
    "_a b", "_\x00", "_a\nb", "_" + "n" * 255, "id", "_id.x", "@timestamp", "sequence", "message", "_index.x",
]
field_names = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.text(st.sampled_from("_./-aZ9é日 @$\\"), max_size=8).map(lambda s: "_" + s),
    st.from_regex(r"_[\w.\-]{1,16}", fullmatch=True),
    st.text(max_size=10),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=16),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(field_names, inner, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(2**63), max_value=2**63),
    st.text(max_size=12), st.none(),
    st.sampled_from([0, -1, 1.5, NOW, 253402300799, 253402300799.999, 253402300799.9996, 253402300800, 1e300,
                     "1763900000.5", "nan", "inf", "-0", " 17e8 ", "0x10", "1_000"]),
)
levels = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8), st.none(), st.sampled_from(["6", " 3 ", "-1", "3.0", "²", "١", "99999999999999999999", 7.0]),
)


@st.composite
def gelf_objects(draw: st.DrawFn, intact: bool = False) -> dict[str, Any]:
    """A GELF message: standard fields (some of them wrong unless ``intact``) and additional fields."""
    short = st.text(min_size=1, max_size=30)
    standard = draw(st.fixed_dictionaries(
        {"short_message": short if intact else short | st.sampled_from(["", None, 0, [], {}])},
        optional={"version": st.sampled_from(["1.1", "1.0", 1.1, None]), "host": json_values,
                  "full_message": json_values, "timestamp": timestamps, "level": levels, "facility": json_values},
    ))
    extras = draw(st.dictionaries(field_names, json_values, max_size=8))
    return {**extras, **standard} if draw(st.booleans()) else {**standard, **extras}


def encode_json(msg: Any, ascii_only: bool) -> bytes:
    return json.dumps(msg, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def compressed(draw: st.DrawFn, payload: bytes) -> bytes:
    kind = draw(st.sampled_from(["plain", "gzip", "zlib"]))
    level = draw(st.integers(0, 9))
    if kind == "gzip":
        return gzip.compress(payload, level, mtime=0)
    return zlib.compress(payload, level) if kind == "zlib" else payload


message_ids = st.one_of(st.sampled_from([b"\x00" * 8, b"\x01" * 8]), st.binary(min_size=8, max_size=8))


@st.composite
def as_datagrams(draw: st.DrawFn, payload: bytes, message_id: bytes) -> list[bytes]:
    """The payload whole, or cut into chunks as go-gelf cuts them (at most 128, one header-only last one)."""
    if not draw(st.booleans()):
        return [payload]
    size = max(draw(st.integers(1, 600)), -(-len(payload) // 127), 1)
    return chunk(payload, size, message_id)


@st.composite
def mangled(draw: st.DrawFn, datagrams: list[bytes]) -> list[bytes]:
    """Datagrams reordered, duplicated, lost, truncated, bit-flipped or with a wrong chunk header."""
    datagrams = list(datagrams)
    for op in draw(st.lists(st.sampled_from(["shuffle", "duplicate", "drop", "truncate", "flip", "header"]),
                            max_size=4)):
        if not datagrams:
            break
        i = draw(st.integers(0, len(datagrams) - 1))
        d = datagrams[i]
        if op == "shuffle":
            datagrams = draw(st.permutations(datagrams))
        elif op == "duplicate":
            datagrams.insert(draw(st.integers(0, len(datagrams))), d)
        elif op == "drop":
            del datagrams[i]
        elif op == "truncate":
            datagrams[i] = d[: draw(st.integers(0, len(d)))]
        elif op == "flip" and d:
            pos = draw(st.integers(0, len(d) - 1))
            datagrams[i] = d[:pos] + bytes((d[pos] ^ (1 << draw(st.integers(0, 7))),)) + d[pos + 1 :]
        elif op == "header" and len(d) >= 12:
            pos = draw(st.sampled_from([2, 10, 11]))
            datagrams[i] = d[:pos] + bytes((draw(st.integers(0, 255)),)) + d[pos + 1 :]
    return datagrams


@st.composite
def gelf_traffic(draw: st.DrawFn) -> list[bytes]:
    """A few near-valid messages, each compressed or not and chunked or not, then mangled."""
    datagrams: list[bytes] = []
    for msg in draw(st.lists(gelf_objects(), min_size=1, max_size=4)):
        payload = draw(compressed(encode_json(msg, draw(st.booleans()))))
        datagrams += draw(as_datagrams(payload, draw(message_ids)))
    return draw(mangled(datagrams))


ingest_settings = st.builds(
    IngestSettings,
    document_id_prefix=st.sampled_from([None, ID_PREFIX, ""]),
    sequence_mode=st.sampled_from(["counter", "clock"]),
    sequence_seed=st.sampled_from([1, 7]),
    sequence_iterator=st.sampled_from([1, 3]),
    batch_max_docs=st.integers(1, 4),
    batch_max_bytes=st.sampled_from([300, 5 * 1024 * 1024]),
    max_message_size=st.sampled_from([256, 8 * 1024 * 1024]),
    max_pending_chunked=st.sampled_from([2, 100_000]),
    max_pending_chunk_bytes=st.sampled_from([1024, 64 * 1024 * 1024]),
    max_fields=st.sampled_from([5, 1000]),
    max_json_depth=st.sampled_from([2, 20]),
    max_field_name_length=st.sampled_from([4, 256]),
)
steps = st.sampled_from([0.0, 0.4, 6.0])
magic = st.sampled_from([b"", b"\x1e\x0f", b"\x1f\x8b", b"x\x9c", b"x\x01", b"{", b'{"short_message":"'])


# ---------------------------------------------------------------------------------------------------------
# Ingest: only GelfError comes out, and what comes out as documents is well formed.

# Found by these properties; each raised something other than GelfError from the core.
TIMESTAMP_ROUNDS_TO_YEAR_10000 = [b'{"short_message":"x","timestamp":253402300799.9996}']
LEVEL_OVER_64_BITS = [b'{"short_message":"x","level":1e300}']
LEVEL_NOT_AN_ASCII_DIGIT = ['{"short_message":"x","level":"²"}'.encode()]


@examples(100)
@given(datagrams=gelf_traffic(), config=ingest_settings, step=steps)
@example(TIMESTAMP_ROUNDS_TO_YEAR_10000, IngestSettings(), 0.0)
@example(LEVEL_OVER_64_BITS, IngestSettings(), 0.0)
@example(LEVEL_NOT_AN_ASCII_DIGIT, IngestSettings(), 0.0)
def test_near_valid_gelf_gives_documents_or_gelf_errors(
    datagrams: list[bytes], config: IngestSettings, step: float
) -> None:
    ingest_all(Ingest(config), datagrams, step)


@examples(200)
@given(datagrams=st.lists(st.builds(bytes.__add__, magic, st.binary(max_size=300)), max_size=6),
       config=ingest_settings)
def test_any_bytes_into_datagram_give_documents_or_gelf_errors(datagrams: list[bytes], config: IngestSettings) -> None:
    ingest_all(Ingest(config), datagrams)


@st.composite
def intact_traffic(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Good messages, each under its own id, chunked or not; chunks shuffled and duplicated, none lost."""
    messages = draw(st.lists(gelf_objects(intact=True), min_size=1, max_size=4, unique_by=lambda m: m["short_message"]))
    ids = draw(st.lists(st.binary(min_size=8, max_size=8), min_size=len(messages), max_size=len(messages),
                        unique=True))
    datagrams: list[bytes] = []
    for msg, message_id in zip(messages, ids, strict=True):
        parts = draw(as_datagrams(draw(compressed(encode_json(msg, draw(st.booleans())))), message_id))
        if parts[0][:2] == b"\x1e\x0f":
            parts += draw(st.lists(st.sampled_from(parts), max_size=3))  # duplicated chunks are dropped
        datagrams += parts
    return messages, draw(st.permutations(datagrams))


@examples(60)
@given(traffic=intact_traffic(), config=st.builds(IngestSettings, batch_max_docs=st.integers(1, 3),
                                                  document_id_prefix=st.sampled_from([None, ID_PREFIX])))
@example(([{"short_message": "x", "level": 1e300}], LEVEL_OVER_64_BITS), IngestSettings())
def test_intact_messages_are_indexed_once_each(
    traffic: tuple[list[dict[str, Any]], list[bytes]], config: IngestSettings
) -> None:
    messages, datagrams = traffic
    docs = ingest_all(Ingest(config), datagrams).docs
    assert sorted(d["message"] for d in docs) == sorted(m["short_message"] for m in messages)
    for doc in docs:
        msg = next(m for m in messages if m["short_message"] == doc["message"])
        for key, value in msg.items():
            # A plain additional name (no dots, no underscore inside, not one of ours) is kept as it is.
            if re.fullmatch(r"_[A-Za-z0-9]+", key) and key[1:] not in {"host", "level", "version", "message",
                                                                       "sequence", "timestamp", "facility"}:
                assert doc[key[1:]] == value


@st.composite
def logspout_lines(draw: st.DrawFn) -> bytes:
    msg = draw(st.fixed_dictionaries({}, optional={
        "message": st.text(max_size=20) | json_values, "msg": st.text(max_size=20), "log": st.text(max_size=20),
        "stream": st.sampled_from(["stdout", "stderr", "", 1]),
        "docker": st.fixed_dictionaries({}, optional={
            "name": st.sampled_from(["/web-1", "", "//x", 5]), "id": json_values, "image": json_values,
            "hostname": json_values, "labels": st.dictionaries(field_names, st.text(max_size=8), max_size=3)})
        | json_values,
        "tags": json_values,
        "@timestamp": timestamps | st.tuples(st.datetimes(), st.sampled_from(["", "Z", "+00:00", "-23:59"])).map(
            lambda t: t[0].isoformat() + t[1]),
        "time": timestamps, "timestamp": timestamps,
    }))
    extras = draw(st.dictionaries(field_names | field_names.map(lambda n: n[1:]), json_values, max_size=5))
    line = encode_json({**msg, **extras}, draw(st.booleans()))
    return draw(compressed(line)) if draw(st.integers(0, 4)) == 0 else line


@examples(80)
@given(lines=st.lists(logspout_lines() | st.binary(max_size=200), min_size=1, max_size=5), config=ingest_settings)
@example([b'{"message":"x","time":"9999-12-31T23:59:59.9999+00:00"}'], IngestSettings())
def test_json_lines_give_documents_or_gelf_errors(lines: list[bytes], config: IngestSettings) -> None:
    ingest_all(Ingest(config), lines, json_lines=True)


# ---------------------------------------------------------------------------------------------------------
# Memory: compression bombs, whole and chunked, stay within a bound.


# What a few KiB of compressed data expand into, within a message that is otherwise valid.
SHAPES = {
    "text": (b'{"short_message":"', b"a", b'"}'),
    "nuls": (b'{"short_message":"', b"\x00", b'"}'),  # a control character: not JSON
    # No keys, but each object counts as a field: refused before it is parsed.
    "empty objects": (b'{"short_message":"x","_a":[{}', b",{}", b"]}"),
}


@functools.cache
def bomb(mebibytes: int, shape: str, kind: str) -> bytes:
    """A GELF message of about ``mebibytes`` MiB in one of SHAPES, compressed at level 9."""
    head, filler, tail = SHAPES[shape]
    packer = zlib.compressobj(9, zlib.DEFLATED, 31 if kind == "gzip" else 15)
    block = filler * ((1 << 20) // len(filler))
    parts = [packer.compress(head), *(packer.compress(block) for _ in range(mebibytes))]
    return b"".join([*parts, packer.compress(tail), packer.flush()])


# 1 KiB of zlib that expands into 1 MiB of "{},": some 350,000 dicts, about 100 MiB while decoded and encoded.
EMPTY_OBJECTS_BOMB = (1, "empty objects", "zlib", False, b"\x00" * 8)


@examples(10)
@given(mebibytes=st.sampled_from([1, 3, 9, 24]), shape=st.sampled_from(sorted(SHAPES)),
       kind=st.sampled_from(["gzip", "zlib"]), chunked=st.booleans(), message_id=message_ids)
@example(*EMPTY_OBJECTS_BOMB)
def test_compression_bombs_stay_within_the_memory_bound(
    mebibytes: int, shape: str, kind: str, chunked: bool, message_id: bytes
) -> None:
    payload = bomb(mebibytes, shape, kind)
    datagrams = chunk(payload, 8192, message_id) if chunked else [payload]
    ingest = Ingest(IngestSettings(batch_max_docs=1))
    batches: list[Batch] = []
    tracemalloc.start()
    try:
        for data in datagrams:
            try:
                batch = datagram(ingest, data, SOURCE, NOW)
            except GelfError:
                continue
            if batch is not None:
                batches.append(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{len(payload)} bytes took {peak >> 20} MiB"
    # 8 MiB once decompressed is the cap: a bomb past it is refused, a valid message under it indexed
    # (a message of a million empty objects is valid JSON but far over --max-fields).
    assert len(batches) == (shape == "text" and mebibytes < 8)
    out = Outputs(ingest.settings)
    for batch in batches:
        out.check(batch)


# ---------------------------------------------------------------------------------------------------------
# The TCP deframer: splitting the stream changes nothing, and the buffer stays under the cap.


def model_frames(stream: bytes, framing: Framing, max_frame: int) -> tuple[list[bytes], bytes | None, int]:
    """What a reader of the whole stream sees: (frames, the unterminated rest, frames over the cap)."""
    *frames, rest = re.split({"nul": b"\x00", "newline": b"\n", "auto": b"[\x00\n]"}[framing], stream)
    kept = [f for f in frames if len(f) <= max_frame and f.strip()]
    oversize = sum(len(f) > max_frame for f in frames) + (len(rest) > max_frame)
    return kept, (rest.strip() or None) if len(rest) <= max_frame else None, oversize


@examples(300)
@given(
    stream=st.lists(st.sampled_from([b"\x00", b"\n", b" ", b"a", b"{}", b"\x00\x00", b"xyz" * 7])
                    | st.binary(max_size=9), max_size=40).map(b"".join),
    framing=st.sampled_from(["nul", "newline", "auto"]),
    max_frame=st.integers(1, 40),
    data=st.data(),
)
def test_deframer_gives_the_same_frames_however_the_stream_is_split(
    stream: bytes, framing: Framing, max_frame: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    whole = Deframer(framing, max_frame)
    split = Deframer(framing, max_frame)
    frames = whole.feed(stream)
    assert whole.buffered <= max_frame
    split_frames: list[bytes] = []
    for piece in pieces:
        split_frames += split.feed(piece)
        assert split.buffered <= max_frame
    expected, rest, oversize = model_frames(stream, framing, max_frame)
    assert frames == split_frames == expected
    assert whole.oversize == split.oversize == oversize
    assert whole.close() == split.close() == rest


# ---------------------------------------------------------------------------------------------------------
# The bulk answer: whatever Elasticsearch (or a proxy in front of it) says, every item is placed once.

statuses = st.one_of(st.sampled_from([200, 201, 409, 429, 400, 404, 500, 503, 0]), st.integers(),
                     st.floats(), st.text(max_size=4), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
bulk_items = st.one_of(
    st.dictionaries(st.sampled_from(["index", "create", "update", "delete", ""]),
                    st.fixed_dictionaries({"status": statuses}, optional={"error": json_values}) | json_values,
                    max_size=2),
    json_values,
)


@st.composite
def bulk_answers(draw: st.DrawFn) -> tuple[Any, int]:
    n_items = draw(st.integers(0, 6))
    items = draw(st.lists(bulk_items, min_size=n_items, max_size=n_items) | st.lists(bulk_items, max_size=7)
                 | json_values)
    structured = draw(st.fixed_dictionaries({"items": st.just(items)},
                                            optional={"errors": st.booleans() | json_values, "took": json_values}))
    body = draw(st.one_of(st.just(structured), json_values, st.text(max_size=30), st.binary(max_size=30), st.none()))
    return body, n_items


CLASSIFY_STATUS_NOT_A_NUMBER = ({"errors": True, "items": [{"index": {"status": "200"}}]}, 1)


@examples(150)
@given(answer=bulk_answers())
@example(CLASSIFY_STATUS_NOT_A_NUMBER)
def test_bulk_answers_place_every_item_exactly_once(answer: tuple[Any, int]) -> None:
    body, n_items = answer
    result = BulkResponse.classify(body, n_items)
    positions = [*result.retry, *(f.position for f in result.failed)]
    assert len(set(positions)) == len(positions)
    assert all(0 <= p < n_items for p in positions)
    assert result.ok + result.duplicates + len(positions) == n_items


# ---------------------------------------------------------------------------------------------------------
# What the fuzzer found stays fixed.


def test_the_fuzz_directory_says_what_it_holds() -> None:
    assert (VECTORS / "fuzz" / "README.md").is_file()


@pytest.mark.parametrize("path", FUZZ_INPUTS, ids=[p.name for p in FUZZ_INPUTS])
def test_inputs_the_fuzzer_found_give_only_gelf_errors(path: Path) -> None:
    """Each file is one input of the fuzz target, fuzz/target.py (its first byte picks the target: datagrams into
    Ingest.datagram, JSON lines, a TCP stream, a bulk answer, one GELF message the harness compresses and
    chunks); run_input raises only on a finding."""
    run_input(path.read_bytes())


# Mostly with short_message and timestamp, which the plans need.
planned_messages = st.builds(lambda msg, short, ts: {**msg, "short_message": short, "timestamp": ts},
                             gelf_objects(), st.text(min_size=1, max_size=5), timestamps) | gelf_objects()


@given(messages=st.lists(planned_messages, min_size=1, max_size=6), repeat=st.integers(1, 3))
@examples(200)
def test_the_shape_plans_map_every_message_as_the_general_path_does(messages: list[dict[str, Any]],
                                                                   repeat: int) -> None:
    """A message mapped by its shape's plan (the hot path) gives the document, the time, the error and the
    dropped-field counts that the general path gives for it, the first time its shape is seen and after."""
    from gelfingest.core.gelf import GelfDecoder

    planned, general = GelfDecoder(), GelfDecoder()
    for msg in messages * repeat:
        payload = encode_json(msg, ascii_only=False)
        try:
            fast: Any = planned.decode(payload, "10.0.0.1", NOW)
        except GelfError as err:
            fast = err.reason
        try:
            parsed = orjson.loads(payload)
            slow: Any = general._decode_generally(parsed, True, "10.0.0.1", NOW)
        except GelfError as err:
            slow = err.reason
        assert fast == slow
        assert planned.dropped_fields == general.dropped_fields
