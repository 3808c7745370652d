"""Mapping conflicts: the field named by Elasticsearch's refusals (its own texts, as 7.9.2 writes them, and
8.x's and 6.x's wordings), and the document with that field moved into gelfingest_conflict."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gelfingest.core.conflicts import (
    CONFLICT_FIELD,
    CONFLICT_TAG,
    MAX_DEPTH,
    conflicting_fields,
    move_fields,
    without_conflict,
)


def refusal(reason: str, kind: str = "mapper_parsing_exception", **more: Any) -> dict[str, Any]:
    return {"type": kind, "reason": reason, **more}


# What Elasticsearch 7.9.2 answered, captured from the suite's server (bulk item errors), with the field named.
CAPTURED_792 = [
    (refusal("failed to parse field [status] of type [long] in document with id 'b'. Preview of field's value: "
             "'abc'", caused_by={"type": "illegal_argument_exception", "reason": 'For input string: "abc"'}),
     ("status",)),
    (refusal("failed to parse field [status] of type [long] in document with id 'b'. Preview of field's value: "
             "'{code=5}'"), ("status",)),
    (refusal("failed to parse field [status] of type [text] in document with id 'b'. Preview of field's value: "
             "'{code=5}'"), ("status",)),
    (refusal("failed to parse field [k.labels.app] of type [long] in document with id 'b'. Preview of field's "
             "value: 'abc'"), ("k.labels.app",)),
    (refusal("failed to parse field [when] of type [date] in document with id 'b'. Preview of field's value: "
             "'not a date'"), ("when",)),
    (refusal("failed to parse field [flag] of type [boolean] in document with id 'b'. Preview of field's value: "
             "'maybe'"), ("flag",)),
    (refusal("object mapping for [status] tried to parse field [status] as object, but found a concrete value"),
     ("status",)),
    # Nested: the object's full path first, then only its last part (or "null", for an array).
    (refusal("object mapping for [k.labels] tried to parse field [labels] as object, but found a concrete value"),
     ("k.labels",)),
    (refusal("object mapping for [k.labels] tried to parse field [null] as object, but found a concrete value"),
     ("k.labels",)),
    # The key relative to its object, the existing mapping by its full path.
    (refusal("Could not dynamically add mapping for field [a.b.c]. Existing mapping for [a.b] must be of type "
             "object but found [text]."), ("a.b.c",)),
    (refusal("Could not dynamically add mapping for field [v.w]. Existing mapping for [k.v] must be of type "
             "object but found [text]."), ("k.v.w",)),
    # Two bulk requests adding the same new field with different types at once.
    (refusal("mapper [s] cannot be changed from type [long] to [text]", "illegal_argument_exception"), ("s",)),
    (refusal("can't merge a non object mapping [s] with an object mapping", "illegal_argument_exception"),
     ("s",)),
]

OTHER_VERSIONS = [
    # 8.x: where in the document, first; its own exception type since 8.8.
    (refusal("[1:13] failed to parse field [status] of type [long] in document with id 'b'. Preview of field's "
             "value: 'abc'", "document_parsing_exception"), ("status",)),
    (refusal("[1:11] object mapping for [status] tried to parse field [status] as object, but found a concrete "
             "value", "document_parsing_exception"), ("status",)),
    (refusal("[1:20] Could not dynamically add mapping for field [k.v.w]. Existing mapping for [k.v] must be of "
             "type object but found [keyword].", "document_parsing_exception"), ("k.v.w",)),
    # 6.x and 7.0-7.8.
    (refusal("failed to parse field [status] of type [long]"), ("status",)),
    (refusal("mapper [s] of different type, current_type [long], merged_type [keyword]",
             "illegal_argument_exception"), ("s",)),
    (refusal("Can't merge a non object mapping [s] with an object mapping [s]", "illegal_argument_exception"),
     ("s",)),
    (refusal("object mapping [a] can't be changed from nested to non-nested", "illegal_argument_exception"),
     ("a",)),
]


@pytest.mark.parametrize(("error", "fields"), CAPTURED_792 + OTHER_VERSIONS)
def test_the_field_a_refusal_names(error: dict[str, Any], fields: tuple[str, ...]) -> None:
    assert conflicting_fields(400, error) == fields


@pytest.mark.parametrize(("status", "error"), [
    (400, refusal("failed to parse", caused_by={"type": "illegal_argument_exception",
                                                "reason": "field name cannot be an empty string"})),
    (400, refusal("Limit of total fields [1000] in index [x] has been exceeded", "illegal_argument_exception")),
    (400, refusal("mapping set to strict, dynamic introduction of [x] within [_doc] is not allowed",
                  "strict_dynamic_mapping_exception")),
    (400, refusal("object field starting or ending with a [.] makes object resolution ambiguous: [a.]")),
    # The right words in another kind of error, or another status: not a mapping conflict.
    (400, refusal("failed to parse field [x] of type [long] in document with id 'b'", "index_not_found_exception")),
    (500, refusal("failed to parse field [x] of type [long] in document with id 'b'")),
    (400, {"type": "mapper_parsing_exception"}),
    (400, {"type": "mapper_parsing_exception", "reason": ["failed to parse field [x] of type [long]"]}),
    (400, "failed to parse field [x] of type [long]"),
    (400, None),
])
def test_other_refusals_name_no_field(status: int, error: Any) -> None:
    assert conflicting_fields(status, error) == ()


def test_a_value_that_looks_like_a_reason_does_not_change_the_field_named() -> None:
    reason = ("failed to parse field [a] of type [long] in document with id 'b'. Preview of field's value: "
              "'x] of type [long] in document with id 'c'")
    assert conflicting_fields(400, refusal(reason)) == ("a",)
    # A name that holds a bracket is read whole.
    assert conflicting_fields(400, refusal("mapper [a]b] cannot be changed from type [long] to [text]",
                                           "illegal_argument_exception")) == ("a]b",)


def test_a_key_relative_to_an_object_can_be_read_two_ways_and_both_are_offered() -> None:
    reason = ("Could not dynamically add mapping for field [a.a.b]. Existing mapping for [a.a] must be of type "
              "object but found [text].")
    assert conflicting_fields(400, refusal(reason)) == ("a.a.b", "a.a.a.b")


def moved(doc: dict[str, Any]) -> Any:
    return json.loads(doc[CONFLICT_FIELD])


def test_a_top_level_field_is_moved_as_json_and_the_document_tagged() -> None:
    doc = {"message": "m", "status": {"code": 5, "why": "busy"}, "sequence": 7}
    assert move_fields(doc, ["status"]) == ["status"]
    assert doc == {"message": "m", "sequence": 7, CONFLICT_FIELD: '{"status":{"code":5,"why":"busy"}}',
                   "tags": [CONFLICT_TAG]}


@pytest.mark.parametrize("doc", [
    {"kubernetes": {"labels": {"app": "abc", "tier": "web"}}},
    {"kubernetes.labels.app": "abc", "kubernetes": {"labels": {"tier": "web"}}},
    {"kubernetes": {"labels.app": "abc", "labels": {"tier": "web"}}},
    {"kubernetes.labels": {"app": "abc"}, "kubernetes": {"labels": {"tier": "web"}}},
])
def test_a_dotted_path_is_found_nested_as_a_dotted_key_or_both(doc: dict[str, Any]) -> None:
    assert move_fields(doc, ["kubernetes.labels.app"]) == ["kubernetes.labels.app"]
    assert moved(doc) == {"kubernetes.labels.app": "abc"}
    # What is left holds the rest, and no object emptied by the move.
    assert doc["kubernetes"] == {"labels": {"tier": "web"}}
    assert set(doc) == {"kubernetes", CONFLICT_FIELD, "tags"}


def test_a_field_in_several_places_is_moved_as_its_list_of_values() -> None:
    doc = {"a.b": 1, "a": {"b": "x", "c": 2}, "list": [{"b": 3}]}
    assert move_fields(doc, ["a.b"]) == ["a.b"]
    assert moved(doc) == {"a.b": ["x", 1]}  # nested first, then the dotted key
    assert doc["a"] == {"c": 2} and "a.b" not in doc


def test_a_field_inside_an_array_of_objects_is_moved_from_each_and_the_array_keeps_its_objects() -> None:
    doc = {"items": [{"id": 1, "n": "x"}, {"id": "two"}, "scalar", [{"id": 3}]]}
    assert move_fields(doc, ["items.id"]) == ["items.id"]
    assert moved(doc) == {"items.id": [1, "two", 3]}
    assert doc["items"] == [{"n": "x"}, {}, "scalar", [{}]]


def test_an_object_emptied_by_the_move_goes_but_one_the_sender_left_empty_stays() -> None:
    doc = {"a": {"b": {"c": 1}}, "e": {}}
    move_fields(doc, ["a.b.c"])
    assert "a" not in doc and doc["e"] == {}


def test_a_field_the_document_does_not_hold_changes_nothing() -> None:
    doc = {"status": 1, "k": {"labels": "x"}, "list": [1, 2]}
    before = copy.deepcopy(doc)
    for path in ("statu", "status.code", "k.labels.app", "list.x", "", ".", "k..labels"):
        assert move_fields(doc, [path]) == []
    assert doc == before


def test_existing_tags_get_the_tag_once() -> None:
    for tags, expected in [(["a"], ["a", CONFLICT_TAG]), ("a", ["a", CONFLICT_TAG]), (7, [7, CONFLICT_TAG]),
                           ([CONFLICT_TAG], [CONFLICT_TAG]), (CONFLICT_TAG, [CONFLICT_TAG]),
                           (None, [CONFLICT_TAG])]:  # null: no value, to Elasticsearch
        doc = {"x": {"y": 1}, "tags": tags}
        move_fields(doc, ["x"])
        assert doc["tags"] == expected, tags


def test_tags_that_are_an_object_are_moved_beside_the_field_and_start_again() -> None:
    doc = {"x": 1, "tags": {"team": "a"}}
    move_fields(doc, ["x"])
    assert moved(doc) == {"x": 1, "tags": {"team": "a"}} and doc["tags"] == [CONFLICT_TAG]


def test_the_conflicting_field_may_be_tags_itself() -> None:
    doc: dict[str, Any] = {"tags": {"team": "a"}}
    assert move_fields(doc, ["tags"]) == ["tags"]
    assert moved(doc) == {"tags": {"team": "a"}} and doc["tags"] == [CONFLICT_TAG]


@pytest.mark.parametrize("sent", ["a sender's string", '{"status": "forged"}', 5, {"an": "object"}, None])
def test_a_sender_s_own_conflict_field_is_kept_under_its_name_in_the_json(sent: Any) -> None:
    doc = {CONFLICT_FIELD: sent, "status": {"code": 1}}
    assert move_fields(doc, ["status"]) == ["status"]
    assert moved(doc) == {CONFLICT_FIELD: sent, "status": {"code": 1}}


def test_the_conflict_field_itself_can_be_the_one_that_conflicts() -> None:
    # Sent as an object, it does not fit its own mapping (unindexed text): it is moved into itself, as JSON.
    doc = {CONFLICT_FIELD: {"x": 1}}
    assert move_fields(doc, [CONFLICT_FIELD]) == [CONFLICT_FIELD]
    assert moved(doc) == {CONFLICT_FIELD: {"x": 1}}


def test_several_paths_move_together() -> None:
    doc = {"a": 1, "b": {"c": 2}, "d": 3}
    assert move_fields(doc, ["a", "b.c", "a", "nope"]) == ["a", "b.c"]
    assert moved(doc) == {"a": 1, "b.c": 2} and doc["d"] == 3


def test_a_field_deeper_than_the_bound_is_not_searched() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    doc = {"x": deep, "y": {"z": 1}}
    assert move_fields(doc, ["x.z"]) == []
    assert move_fields(doc, ["x"]) == ["x"]


ACTION = b'{"create":{"_index":"logstash-2026.05.01","pipeline":"p","_id":"k3v9x2a1AAAAAAAAAAAB"}}'


def test_an_item_keeps_its_action_line_byte_for_byte() -> None:
    item = ACTION + b"\n" + orjson.dumps({"message": "m", "status": {"code": 5}}) + b"\n"
    out = without_conflict(item, ["status"])
    assert out is not None
    rewritten, field = out
    assert field == "status"
    action, doc = rewritten.split(b"\n")[:2]
    assert action == ACTION and rewritten.endswith(b"}\n") and rewritten.count(b"\n") == 2
    assert orjson.loads(doc) == {"message": "m", CONFLICT_FIELD: '{"status":{"code":5}}', "tags": [CONFLICT_TAG]}
    # The same item is rewritten to the same bytes (a replay after a crash is answered 409).
    assert without_conflict(item, ["status"]) == out


def test_an_item_moves_the_first_candidate_its_document_holds() -> None:
    item = ACTION + b"\n" + orjson.dumps({"a.a.a.b": 1}) + b"\n"
    out = without_conflict(item, ("a.a.b", "a.a.a.b"))
    assert out is not None and out[1] == "a.a.a.b"


@pytest.mark.parametrize("item", [
    ACTION + b"\n" + orjson.dumps({"other": 1}) + b"\n",
    ACTION + b"\n" + b"[1, 2]\n",
    ACTION + b"\n" + b"{broken\n",
    ACTION,
])
def test_an_item_without_the_field_is_not_rewritten(item: bytes) -> None:
    assert without_conflict(item, ["status"]) is None


# -- properties: no document and no path crashes the move, and nothing is lost by it -----------------------

_KEYS = st.sampled_from(["a", "b", "c", "a.b", "b.c", "a.b.c", "tags", CONFLICT_FIELD, ""])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=5),
                     st.floats(allow_nan=False, allow_infinity=False))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
                       max_leaves=12)
_DOCS = st.dictionaries(_KEYS, _VALUES, max_size=5)
_PATHS = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4).map(".".join)


def _scalars(value: Any) -> Counter[str]:
    """Every scalar a value holds, wherever it is (the structure around them is what a move changes)."""
    if type(value) is dict:
        return sum((_scalars(v) for v in value.values()), Counter())
    if type(value) is list:
        return sum((_scalars(v) for v in value), Counter())
    return Counter([orjson.dumps(value).decode()])


@settings(max_examples=400, deadline=None)
@given(_DOCS, st.lists(_PATHS, min_size=1, max_size=3))
def test_a_move_loses_no_value_and_leaves_no_trace_of_the_field(doc: dict[str, Any], paths: list[str]) -> None:
    doc.pop("tags", None)
    doc.pop(CONFLICT_FIELD, None)
    before = copy.deepcopy(doc)
    found = move_fields(doc, paths)
    if not found:
        assert doc == before
        return
    assert set(found) <= set(paths)
    held = json.loads(doc.pop(CONFLICT_FIELD))
    assert doc.pop("tags") == [CONFLICT_TAG]
    assert list(held) == found
    # Every value is still there: in the document, or in the JSON under its path.
    assert _scalars(doc) + _scalars(held) == _scalars(before)
    # And none of the fields is anywhere Elasticsearch would look for it.
    assert move_fields(copy.deepcopy(doc), found) == []


@settings(max_examples=200, deadline=None)
@given(_DOCS, _PATHS)
def test_any_item_and_path_either_rewrite_or_say_no(doc: dict[str, Any], path: str) -> None:
    item = ACTION + b"\n" + orjson.dumps(doc) + b"\n"
    out = without_conflict(item, [path])
    if out is not None:
        assert out[0].startswith(ACTION + b"\n") and CONFLICT_TAG in orjson.loads(out[0].split(b"\n")[1])["tags"]
