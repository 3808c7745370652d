"""What Vector's and Graylog's own decoder tests expect of a GELF server, through the pure core, in both
schemas and on both of the decoder's paths (a message shape's plan, and the general path a dotted name
sends a message to)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gelfingest.core.bulk import decode_item
from gelfingest.core.errors import DecodeError, Reason
from gelfingest.core.fields import ChangedField, DroppedField
from gelfingest.core.gelf import GelfDecoder
from gelfingest.core.ingest import Ingest, IngestSettings
from tests.helpers import gelf, read_vector

NOW = 1_763_900_000.0
# A dotted additional name sends a message down the general path; without one it takes its shape's plan.
PATHS = {"plan": {}, "general": {"_a.b": 1}}


def decoded(payload: bytes, decoder: GelfDecoder | None = None, source: str = "10.0.0.1") -> dict[str, Any]:
    return (decoder or GelfDecoder()).decode(payload, source, NOW)[0]


def documents(payload: bytes, schema: str = "logstash") -> tuple[list[dict[str, Any]], Ingest, list[str]]:
    """The documents of one datagram as indexed, the Ingest, and the reasons of what it rejected."""
    ingest = Ingest(IngestSettings(schema=schema, document_id_prefix="p-"))  # type: ignore[arg-type]
    ready, rejected = ingest.take_many([payload], ["10.0.0.1"], NOW)
    tail = ingest.flush()
    items = [item for batch in [*ready, *([tail] if tail else [])] for item in batch.items]
    return [decode_item(item)[1] for item in items], ingest, [err.reason for err, _ in rejected]


# -- graypy's file and line ----------------------------------------------------------------------------------

def test_graypy_s_file_and_line_are_kept_in_both_schemas() -> None:
    (datagram,) = read_vector("graypy_zlib")
    (doc,), _, _ = documents(datagram)
    assert doc["file"].endswith("tests/vectors/capture.py") and doc["line"] == 75
    (ecs,), _, _ = documents(datagram, "ecs")
    assert ecs["log"]["origin"]["file"] == {"name": doc["file"], "line": 75}
    assert "file" not in ecs["gelf"] and "line" not in ecs["gelf"]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_extra_fields_named_like_gelf_ones_take_the_name_and_gelf_s_own_move_aside(path: str) -> None:
    """Logstash's gelf input overwrites version, file and line with _version, _file and _line; we give
    the sender's field the name too, and keep GELF's own as gelf_<name>."""
    d = GelfDecoder()
    payload = gelf("clash", file="/app/shop.py", line=12, _version="2.3.1", _file="upload.csv", _line="L3",
                   **PATHS[path])
    doc = decoded(payload, d)
    assert (doc["version"], doc["gelf_version"]) == ("2.3.1", "1.1")
    assert (doc["file"], doc["gelf_file"]) == ("upload.csv", "/app/shop.py")
    assert (doc["line"], doc["gelf_line"]) == ("L3", 12)
    assert d.changed_fields == {ChangedField.GELF_FIELD: 3}
    assert decoded(gelf("alone", _version="2.3.1", **PATHS[path]))["version"] == "2.3.1"
    assert "gelf_version" not in decoded(gelf("plain", **PATHS[path]))


def test_in_ecs_gelf_s_own_file_and_line_are_the_source_location_and_the_sender_s_go_under_gelf() -> None:
    payload = gelf("clash", file="/app/shop.py", line=12, _version="2.3.1", _file="upload.csv", _line=3)
    (doc,), _, _ = documents(payload, "ecs")
    assert doc["log"]["origin"]["file"] == {"name": "/app/shop.py", "line": 12}
    assert doc["gelf"]["file"] == "upload.csv" and doc["gelf"]["line"] == 3
    assert doc["gelf"]["version"] == "2.3.1" and doc["gelf"]["gelf_version"] == "1.1"
    # A line that is not an integer has no ECS home: it stays under gelf.
    (doc,), _, _ = documents(gelf("odd line", line="twelve"), "ecs")
    assert doc["gelf"]["line"] == "twelve" and "origin" not in doc.get("log", {})


def test_graypy_s_extra_fields_that_take_gelf_s_names() -> None:
    (datagram,) = read_vector("graypy_zlib_clashes")
    (doc,), ingest, _ = documents(datagram)
    assert (doc["version"], doc["gelf_version"], doc["file"], doc["line"]) == ("2.3.1", "1.0", "upload.csv", 7)
    assert doc["gelf_file"].endswith("capture.py") and type(doc["gelf_line"]) is int
    assert ingest.changed_fields == {ChangedField.GELF_FIELD: 3}


def test_names_of_our_own_and_dotted_names_under_gelf_s_fields_keep_their_rules() -> None:
    d = GelfDecoder()
    doc = decoded(gelf("names", _gelf_version="forged", **{"_file.path": "/x"}), d)
    assert "gelf_version" not in doc and doc["file_path"] == "/x"
    assert d.dropped_fields == {DroppedField.RESERVED: 1}


# -- top-level fields without an underscore ------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_top_level_field_gelf_does_not_name_is_dropped_and_counted(path: str) -> None:
    d = GelfDecoder()
    doc = decoded(gelf("x", app="shop", **PATHS[path]), d)
    assert "app" not in doc
    assert d.dropped_fields == {DroppedField.UNKNOWN: 1}


# -- host ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize(("host", "kept", "counted"), [
    (42, "42", {ChangedField.HOST_TO_STRING: 1}),
    (4.5, "4.5", {ChangedField.HOST_TO_STRING: 1}),
    (True, "true", {ChangedField.HOST_TO_STRING: 1}),
    (False, "false", {ChangedField.HOST_TO_STRING: 1}),
    ("", None, {DroppedField.BLANK_HOST: 1}),
    ("  \t", None, {DroppedField.BLANK_HOST: 1}),
    (None, None, {DroppedField.INVALID_HOST: 1}),
    ({"name": "web"}, None, {DroppedField.INVALID_HOST: 1}),
    (["a"], None, {DroppedField.INVALID_HOST: 1}),
    ("web-1", "web-1", {}),
])
def test_host_is_a_string_or_left_out(path: str, host: Any, kept: str | None, counted: dict[str, int]) -> None:
    d = GelfDecoder()
    doc = decoded(gelf("host", host=host, **PATHS[path]), d)
    assert doc.get("host") == kept
    assert doc["source_host"] == "10.0.0.1"  # what a reader falls back on
    assert dict(d.dropped_fields) | dict(d.changed_fields) == counted


def test_a_numeric_host_is_host_name_in_ecs() -> None:
    (doc,), _, _ = documents(gelf("host", host=42), "ecs")
    assert doc["host"] == {"name": "42"} and "host" not in doc.get("gelf", {})


# -- trailing commas and trailing bytes ----------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"short_message": "x",}', Reason.INVALID_JSON),
    (b'{"short_message": "x", "_a": [1, 2,]}', Reason.INVALID_JSON),
    (b'{"short_message": "x"} garbage', Reason.TRAILING_DATA),
    (b'{"short_message": "x"}{"short_message": "y"}', Reason.TRAILING_DATA),
])
def test_a_trailing_comma_is_not_json_and_bytes_after_an_object_are_trailing_data(payload: bytes,
                                                                                   reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decoded(payload)
    assert caught.value.reason == reason


# -- several objects in one payload --------------------------------------------------------------------------

def lines(*messages: bytes) -> bytes:
    return b"\n".join(messages)


def test_objects_one_a_line_are_each_an_event_with_its_own_sequence() -> None:
    docs, ingest, rejected = documents(lines(gelf("a"), gelf("b"), b"", gelf("c")) + b"\n")
    assert [d["message"] for d in docs] == ["a", "b", "c"] and rejected == []
    assert [d["sequence"] for d in docs] == [1, 2, 3] and ingest.decoded == 3
    (ecs_docs, _, _) = documents(lines(gelf("a"), gelf("b")), "ecs")
    assert [d["event"]["sequence"] for d in ecs_docs] == [1, 2]


def test_an_object_that_fails_is_rejected_alone() -> None:
    payload = lines(gelf("a"), b'{"short_message": 42}', gelf("c", **{"_" + "n" * 300: 1}), b'{"oops",}',
                    gelf("e"))
    docs, _, rejected = documents(payload)
    assert [d["message"] for d in docs] == ["a", "e"]
    assert rejected == [Reason.MISSING_SHORT_MESSAGE, Reason.FIELD_NAME_TOO_LONG, Reason.INVALID_JSON]


def test_the_bounds_apply_to_each_object_not_to_the_payload() -> None:
    wide = {f"_f{i}": i for i in range(600)}  # 600 fields each; 1,800 in the payload, the bound is 1,000
    docs, _, rejected = documents(lines(gelf("a", **wide), gelf("b", **wide), gelf("c", **wide)))
    assert len(docs) == 3 and rejected == []
    too_wide = {f"_f{i}": i for i in range(1001)}
    docs, _, rejected = documents(lines(gelf("a"), gelf("b", **too_wide)))
    assert [d["message"] for d in docs] == ["a"] and rejected == [Reason.TOO_MANY_FIELDS]


def test_one_object_over_several_lines_is_never_taken_apart() -> None:
    pretty = json.dumps({"short_message": "pretty", "host": "h"}, indent=2).encode()
    docs, _, rejected = documents(pretty)
    assert [d["message"] for d in docs] == ["pretty"] and rejected == []
    broken = pretty.replace(b'"h"\n', b'"h",\n')  # a trailing comma: not JSON, and not one object a line
    assert documents(broken)[2] == [Reason.INVALID_JSON]
    # Nor is a line that is not an object: the payload is rejected whole, as one message.
    assert documents(lines(gelf("a"), b"[1, 2]", gelf("c")))[2] == [Reason.TRAILING_DATA]


def test_objects_one_a_line_come_through_compressed_and_chunked() -> None:
    import zlib

    from tests.helpers import chunk

    payload = zlib.compress(lines(*(gelf(f"m{k}", _pad="x" * 500) for k in range(8))))
    ingest = Ingest(IngestSettings())
    for part in chunk(payload, 400):
        ingest.take_many([part], ["10.0.0.1"], NOW)
    tail = ingest.flush()
    assert tail is not None and len(tail) == 8


# -- _id -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(PATHS))
def test_id_is_kept_as_the_field_id_never_the_document_s_and_counted(path: str) -> None:
    docs, ingest, _ = documents(gelf("with id", _id="order-17", **PATHS[path]))
    ingest2 = Ingest(IngestSettings(document_id_prefix="p-"))
    ready, _ = ingest2.take_many([gelf("x", _id="order-17")], ["h"], NOW)
    tail = ingest2.flush()
    action, _ = decode_item((ready or [tail])[0].items[0])  # type: ignore[union-attr]
    assert docs[0]["id"] == "order-17" and action["create"]["_id"] == "p-AAAAAAAAAAAB"
    assert ingest.changed_fields == {ChangedField.ID: 1}


# -- what the daemon logs ------------------------------------------------------------------------------------

def test_the_first_field_of_each_reason_is_noted_once_with_its_sender() -> None:
    ingest = Ingest(IngestSettings())
    for k in range(3):
        ingest.take_many([gelf("m", app="x", host=7, _id=k, _version="v")], [f"10.0.0.{k}"], NOW)
    notes = ingest.field_notes()
    assert len(notes) == 4 and ingest.field_notes() == []
    assert all("in a message from 10.0.0.0" in note for note in notes)
    text = "\n".join(notes)
    for reason in (DroppedField.UNKNOWN, ChangedField.HOST_TO_STRING, ChangedField.ID, ChangedField.GELF_FIELD):
        assert f"({reason})" in text
    assert ingest.dropped_fields == {DroppedField.UNKNOWN: 3}
    assert ingest.changed_fields == {ChangedField.HOST_TO_STRING: 3, ChangedField.ID: 3, ChangedField.GELF_FIELD: 3}
    assert orjson.dumps(ingest.changed_fields)  # plain counts, for /metrics
