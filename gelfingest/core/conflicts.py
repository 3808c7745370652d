"""Mapping conflicts: which field a bulk item's refusal names, and the document with that field moved away.

When Elasticsearch refuses a document because a field's value does not fit the field's mapping (``status``
is a number in one service's JSON and an object in another's), the output (outputs/elasticsearch.py) sends
it once more with that field moved out of the mapping's way: its value goes, as JSON, into CONFLICT_FIELD
(one string, which the template maps as unindexed text, so it never conflicts itself), and the document is
tagged CONFLICT_TAG. This module only reads the refusal and rewrites the item.

The reasons are Elasticsearch's own texts (7.x and 8.x, and older ones where they differ). They name the
field by its full dotted path (``kubernetes.labels.app``), which the document may hold nested, as a literal
dotted key, or both (Elasticsearch reads ``{"a.b": 1}`` as ``{"a": {"b": 1}}``), and inside arrays of
objects: every place that is that field in Elasticsearch's eyes is moved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import orjson

# The field that holds the moved values as one JSON object, ``{"<dotted path>": value}``. No leading
# underscore (Elasticsearch reserves those for its metadata fields and refuses some in a document); our
# name first, so that no application's own field is likely to take it. A sender may still send it (a GELF
# additional field ``_gelfingest_conflict``): as a string it is stored as it is (the template maps it as a
# string); when a document that holds it has a conflict, its value goes into the JSON under its own name
# beside the moved fields, so nothing a sender wrote is lost or passed off as ours.
CONFLICT_FIELD: Final = "gelfingest_conflict"
# Logstash's style for a tag the pipeline adds (``_jsonparsefailure``, ``_grokparsefailure``).
CONFLICT_TAG: Final = "_mappingconflict"
TAGS_FIELD: Final = "tags"
# How deep the search for a field goes (objects and arrays, one level each). Elasticsearch refuses objects
# nested deeper than 20 (index.mapping.depth.limit) and the decoder's --max-json-depth is 20 by default;
# the bound keeps the recursion far from Python's own limit whatever a document holds. A field deeper than
# this is not moved (its document goes to the dead-letter queue, as any refusal a move cannot help).
MAX_DEPTH: Final = 100

# "[1:13] " at the start of a reason: where in the document, since Elasticsearch 8.
_WHERE = r"(?:\[\d+:\d+\] )?"
# The reasons that name a field whose value does not fit its mapping, anchored; group 1 is the field's full
# path. A field name may hold "]" or even these words: the shortest name the rest of the text fits is taken,
# and a name the document does not hold moves nothing (the document is then dead-lettered, as before).
_FULL_PATH: Final = tuple(re.compile(_WHERE + pattern, re.DOTALL) for pattern in (
    # A value that does not parse as the field's type (a string or an object in a long, a bad date). 7.x and
    # 8.x go on "in document with id 'x'. Preview of field's value: '...'"; 6.x stops after the type.
    r"failed to parse field \[(.+?)\] of type \[[^\]]*\](?: in document with id .*)?$",
    # A value where the mapping has an object; the first name is the object's full path, the second only
    # its last part ("[null]" for an array).
    r"object mapping for \[(.+?)\] tried to parse field \[.*\] as object, but found a concrete value$",
    # Two documents that add the same new field with different types at once (bulk requests in flight
    # together): 7.9+ and 8.x, then the older wording.
    r"mapper \[(.+?)\] cannot be changed from type \[[^\]]*\] to \[[^\]]*\]$",
    r"mapper \[(.+?)\] of different type, current_type \[[^\]]*\], merged_type \[[^\]]*\]$",
    r"[Cc]an't merge a non object mapping \[(.+?)\] with an object mapping(?: \[.*\])?$",
    r"object mapping \[(.+?)\] can't be changed from (?:non-)?nested to (?:non-)?nested$",
))
# A field below a name the mapping has as a value (``{"a.b.c": 1}`` when ``a.b`` is a keyword). 7.x names the
# field as the document's key relative to its object (``[v.w]`` inside ``k``) and the existing mapping by its
# full path (``[k.v]``); 8.x names both by their full paths.
_BELOW_VALUE: Final = re.compile(_WHERE + r"Could not dynamically add mapping for field \[(.+?)\]\. Existing "
                                 r"mapping for \[(.+)\] must be of type object but found \[[^\]]*\]\.?$", re.DOTALL)
_KINDS: Final = frozenset({"mapper_parsing_exception", "document_parsing_exception", "illegal_argument_exception"})
# Not a value any document holds (None is one).
_ABSENT: Final = object()


def conflicting_fields(status: int, error: Any) -> tuple[str, ...]:
    """The field a bulk item's refusal (its ``status`` and ``error`` object) says does not fit the index's
    mapping, as the full dotted paths it can be (one, but for a reason that names it relative to an object,
    each path that can be, shortest first: the document decides); empty for any other refusal."""
    if status != 400 or not isinstance(error, dict) or error.get("type") not in _KINDS:
        return ()
    reason = error.get("reason")
    if not isinstance(reason, str):
        return ()
    for pattern in _FULL_PATH:
        if m := pattern.match(reason):
            return (m[1],)
    if m := _BELOW_VALUE.match(reason):
        return _below_value(m[1], m[2])
    return ()


def _below_value(key: str, existing: str) -> tuple[str, ...]:
    """The full paths of ``key`` (a dotted key relative to some object) whose start is the value mapping at
    the full path ``existing``: the object is what ``existing`` has before that start."""
    out = []
    end = 0
    while (end := key.find(".", end + 1)) > 0:
        start = key[:end]
        if existing == start:
            out.append(key)
        elif existing.endswith("." + start):
            out.append(existing[:-len(start)] + key)
    return tuple(sorted(dict.fromkeys(out), key=len))


def move_fields(doc: dict[str, Any], paths: Iterable[str]) -> list[str]:
    """Move the fields at ``paths`` (full dotted paths, as Elasticsearch names fields) out of ``doc`` into
    CONFLICT_FIELD, as JSON, and tag ``doc`` with CONFLICT_TAG; return the paths found, in order. When the
    document holds none of them it is left as it was and the list is empty.

    A field the document holds in several places (nested and as a dotted key, or in each object of an
    array) is one field with several values to Elasticsearch: they are moved as one list (an object's nested
    keys before its dotted ones). Objects left empty by a move are removed; arrays keep their (now empty)
    objects."""
    moved: dict[str, Any] = {}
    for path in paths:
        if path in moved:
            continue
        values: list[Any] = []
        _take(doc, path, values, 0)
        if values:
            moved[path] = values[0] if len(values) == 1 else values
    if not moved:
        return []
    found = list(moved)
    held = doc.pop(CONFLICT_FIELD, _ABSENT)
    if held is not _ABSENT:
        moved = {CONFLICT_FIELD: held, **moved}
    tags = doc.get(TAGS_FIELD)
    if type(tags) is dict:  # no tag can go into an object: it is moved too, and the tags start again
        moved[TAGS_FIELD] = doc.pop(TAGS_FIELD)
        tags = None
    doc[CONFLICT_FIELD] = orjson.dumps(moved).decode()
    if type(tags) is list:
        if CONFLICT_TAG not in tags:
            tags.append(CONFLICT_TAG)
    else:
        doc[TAGS_FIELD] = [CONFLICT_TAG] if tags is None or tags == CONFLICT_TAG else [tags, CONFLICT_TAG]
    return found


def _take(node: Any, path: str, values: list[Any], depth: int) -> None:
    """Remove every place in ``node`` that is the field ``path`` (relative to it), appending its values."""
    if depth > MAX_DEPTH:
        return
    if type(node) is list:
        for element in node:  # as Elasticsearch reads arrays: each element is a value, or an object
            _take(element, path, values, depth + 1)
        return
    if type(node) is not dict:
        return
    end = -1
    while True:  # each key that is a dotted start of the path, shortest first, then the whole path
        end = path.find(".", end + 1)
        if end < 0:
            if path in node:
                values.append(node.pop(path))
            return
        child = node.get(path[:end], _ABSENT)
        if child is _ABSENT:
            continue
        had = type(child) is dict and bool(child)
        _take(child, path[end + 1:], values, depth + 1)
        if had and not child:
            del node[path[:end]]


def without_conflict(item: bytes, candidates: Iterable[str]) -> tuple[bytes, str] | None:
    """An encoded bulk item (action line, document line) with the first of the ``candidates`` the document
    holds moved (move_fields), and that path; None when it holds none of them. The action line is kept
    byte for byte: the same index, id, op_type and pipeline."""
    action, newline, line = item.partition(b"\n")
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not newline or type(doc) is not dict:
        return None
    for path in candidates:
        if move_fields(doc, [path]):
            return action + b"\n" + orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE), path
    return None
