"""What the decoders share: the field-name rule, the bounds on a message, parsing one, and @timestamps.

GELF's decoder (gelf.py) and logspout's (logspout.py) map messages their own way; both name additional
fields by the same rule (``extra_name``; the rule is spelled out in gelf.py and docs/security.md), check the
same ``Limits``, parse with ``load_object`` and write @timestamps with ``Timestamps``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from gelfingest.core.errors import DecodeError, Reason

_FIELD_NAME: Final = re.compile(r"[\w.\-]+")
# Fields the document itself is made of: a client's additional field may not overwrite them.
RESERVED_FIELDS: Final = frozenset(
    {"@timestamp", "@version", "message", "sequence", "source_host", "host", "level", "facility",
     "full_message", "short_message", "timestamp", "gelf_version", "gelf_file", "gelf_line"}
)
# GELF fields that an additional field of the same name takes over, as Logstash's gelf input does
# (``_version`` becomes ``version``); the GELF field's own value then moves to ``gelf_<name>``.
SHARED_FIELDS: Final = frozenset({"version", "file", "line"})
# Timestamps outside 1970..9999 cannot be written as @timestamp; the receive time is used instead.
MAX_TIMESTAMP: Final = 253402300800.0

# Elasticsearch's defaults: index.mapping.depth.limit (20) and index.mapping.total_fields.limit (1000).
DEFAULT_MAX_DEPTH: Final = 20
DEFAULT_MAX_FIELDS: Final = 1000
DEFAULT_MAX_FIELD_NAME: Final = 256


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = DEFAULT_MAX_DEPTH
    max_fields: int = DEFAULT_MAX_FIELDS
    max_field_name: int = DEFAULT_MAX_FIELD_NAME


class DroppedField:
    """Reasons an additional field is dropped while its message is kept."""

    INVALID_NAME: Final = "field_name_invalid"
    RESERVED: Final = "field_reserved"
    CLASH: Final = "field_name_clash"
    INVALID_LEVEL: Final = "level_invalid"
    # A top-level field that is neither one of GELF's nor an additional one (no leading underscore).
    UNKNOWN: Final = "field_unknown"
    # ``host`` empty or only blanks, or neither a string, a number nor a boolean.
    BLANK_HOST: Final = "host_blank"
    INVALID_HOST: Final = "host_invalid"


class ChangedField:
    """Reasons a field is kept under another name or as another type."""

    # ``_id`` is kept as ``id`` (it never becomes the document's ``_id``).
    ID: Final = "id_renamed"
    # ``version``, ``file`` or ``line`` kept as ``gelf_<name>``: an additional field took its name.
    GELF_FIELD: Final = "gelf_field_renamed"
    # A number or boolean ``host`` kept as its string.
    HOST_TO_STRING: Final = "host_to_string"


class FieldNotes:
    """The first field dropped or changed for each reason, as a line for the daemon to log once; the
    counts are the decoders' own."""

    __slots__ = ("_lines", "_seen")

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lines: list[str] = []

    def note(self, reason: str, what: str, source: str) -> None:
        """``what`` happened to a field (``"dropped field 'x'"``) for ``reason``, in a message from ``source``."""
        if reason not in self._seen:
            self._seen.add(reason)
            self._lines.append(f"{what} ({reason}) in a message from {source}; the message is kept, and every "
                               f"such field counted")

    def take(self) -> list[str]:
        """The lines not taken yet."""
        lines, self._lines = self._lines, []
        return lines


def _json_reason(exc: orjson.JSONDecodeError) -> str:
    text = str(exc)
    if "UTF-8" in text or "utf-8" in text:
        return Reason.INVALID_UTF8
    # Bytes after a complete document: orjson 3.9 says "trailing characters", 3.10+ "unexpected content
    # after document". (A "trailing comma" is a document that is not JSON.)
    if "trailing characters" in text or "after document" in text:
        return Reason.TRAILING_DATA
    # orjson stops at 1024 levels ("depth limit exceeded"; "recursion limit" in older releases).
    if "depth limit" in text or "recursion limit" in text:
        return Reason.JSON_TOO_DEEP
    return Reason.INVALID_JSON


# Up to this many brackets in all, a payload is parsed before its fields are counted (check_fields stops as
# soon as the count is over): building that many empty objects costs orjson about 10 ms and 5 MiB, and
# a long text full of brackets (a JSON log line as the message) pays nothing more than its parse.
PARSE_FIRST_BRACKETS: Final = 65_536


def _too_many_containers(payload: bytes, max_fields: int) -> bool:
    """Whether ``payload`` holds more than ``max_fields`` nested objects and arrays, for a payload that may
    hold too many to build.

    Checked before parsing: a few KiB of zlib can expand into millions of ``{}``, which cost seconds of CPU
    and hundreds of MiB to build (and pass the key count, having no keys). An object or array takes two
    bytes at least, so a payload of up to 2 * PARSE_FIRST_BRACKETS bytes is parsed first (and its fields
    counted then); a longer one has its brackets counted in C (``bytes.count``), and past the bounds
    those inside strings are left out (``_brackets_outside_strings``).
    """
    if len(payload) <= 2 * PARSE_FIRST_BRACKETS:
        return False
    brackets = payload.count(b"{") + payload.count(b"[") - 1
    if brackets <= max_fields or brackets <= PARSE_FIRST_BRACKETS:
        return False  # (then parsed, and counted)
    return _brackets_outside_strings(payload) - 1 > max_fields


# Bytes split at a time: bounds the pieces that exist at once (a million one-letter strings are a million).
_WINDOW: Final = 1 << 16


def _brackets_outside_strings(payload: bytes) -> int:
    """The ``{`` and ``[`` of a JSON text that are not inside a string, counted in C: with the escaped
    backslashes and then the escaped quotes taken out, every quote left opens or closes a string, so every
    other piece between quotes is outside strings. (Wrong only for a text that is not JSON, which the parser
    refuses anyway.)"""
    bare = payload.replace(b"\\\\", b"").replace(b'\\"', b"")
    count = 0
    inside = False
    start = 0
    while start < len(bare):
        end = bare.find(b'"', start + _WINDOW)
        if end == -1:
            end = len(bare)
        pieces = bare[start:end].split(b'"')
        outside = b"".join(pieces[1 if inside else 0::2])
        count += outside.count(b"{") + outside.count(b"[")
        inside ^= len(pieces) % 2 == 0  # an odd number of quotes in the window
        start = end
    return count


def load_object(payload: bytes, max_fields: int | None = None) -> dict[str, Any]:
    """Parse a payload that must be one JSON object; DecodeError with the reason otherwise.

    ``max_fields``: reject before parsing a payload with more nested objects and arrays than that."""
    if max_fields is not None and _too_many_containers(payload, max_fields):
        raise DecodeError(Reason.TOO_MANY_FIELDS, f"more than {max_fields} nested objects and arrays")
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(_json_reason(exc), str(exc)) from None
    if type(msg) is not dict:
        raise DecodeError(Reason.NOT_AN_OBJECT, f"a JSON {type(msg).__name__}, not an object")
    return msg


def extra_name(key: str) -> str | None:
    """The document field name for additional field ``key`` (which starts with ``_``), or None.

    None when the name breaks GELF's rule or cannot be mapped; the name itself when it would overwrite
    a field of ours or an Elasticsearch metadata field is returned as ``""`` (dropped as reserved).
    """
    name = key[1:]
    if not _FIELD_NAME.fullmatch(name) or name[0] == "." or name[-1] == "." or ".." in name:
        return None
    if name in RESERVED_FIELDS or name[0] == "_":
        return ""
    root, dot, rest = name.partition(".")
    if dot and (root in RESERVED_FIELDS or root in SHARED_FIELDS):
        return f"{root}_{rest}"
    return name


def _nested_keys(value: dict[str, Any] | list[Any], limits: Limits) -> int:
    """The keys and containers in a value of the message (at depth 2); DecodeError past the depth or name
    bound.

    Iterative: a bound set above Python's recursion limit must not turn into a RecursionError.
    """
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 2)]
    while stack:
        item, depth = stack.pop()
        keys += 1  # the object or array itself: a million empty {} are a million fields
        if depth > limits.max_depth:
            raise DecodeError(Reason.JSON_TOO_DEEP, f"nested deeper than {limits.max_depth} levels")
        if type(item) is dict:
            keys += len(item)
            for key, inner in item.items():
                if len(key) > limits.max_field_name:
                    raise DecodeError(Reason.FIELD_NAME_TOO_LONG,
                                      f"a {len(key)}-character field name (at most {limits.max_field_name})")
                if type(inner) is dict or type(inner) is list:
                    stack.append((inner, depth + 1))
        else:
            for inner in item:
                if type(inner) is dict or type(inner) is list:
                    stack.append((inner, depth + 1))
    return keys


def check_fields(msg: dict[str, Any], nested: bool, limits: Limits) -> None:
    """At most ``max_fields`` fields, counting what the message's objects and arrays hold (walked only
    when ``nested``, bounded in depth and names there); the walk stops as soon as the count is over."""
    fields = len(msg)
    if nested:
        for value in msg.values():
            if fields > limits.max_fields:
                break
            if type(value) is dict or type(value) is list:
                fields += _nested_keys(value, limits)
    if fields > limits.max_fields:
        raise DecodeError(Reason.TOO_MANY_FIELDS, f"{fields} or more fields, nested ones counted "
                          f"(at most {limits.max_fields})")


def check_bounds(msg: dict[str, Any], limits: Limits) -> None:
    """Every bound of ``limits`` on a message, walked whole (for a decoder that maps it its own way)."""
    for key in msg:
        if len(key) > limits.max_field_name:
            raise DecodeError(Reason.FIELD_NAME_TOO_LONG,
                              f"a {len(key)}-character field name (at most {limits.max_field_name})")
    check_fields(msg, True, limits)


def place_dotted(doc: dict[str, Any], careful: list[tuple[str, Any]]) -> list[str]:
    """Put dotted names into ``doc`` after its plain ones; the names left out: one already taken, and each one
    below a field that holds a value (Elasticsearch would refuse the whole document). Both decoders' rule."""
    placed, dropped = [], []
    for name, value in careful:
        if name in doc:
            dropped.append(name)
        else:
            doc[name] = value
            placed.append(name)
    for name in placed:
        pos = name.find(".")
        while pos != -1:
            parent = name[:pos]
            if parent in doc and type(doc[parent]) is not dict:
                del doc[name]
                dropped.append(name)
                break
            pos = name.find(".", pos + 1)
    return dropped


def epoch_millis(ts: float, now: float) -> tuple[int, int]:
    """Whole seconds and milliseconds of ``ts``, or of ``now`` when ``ts`` cannot be an @timestamp."""
    if not 0.0 <= ts < MAX_TIMESTAMP:  # NaN fails this too
        ts = now
    seconds, millis = divmod(round(ts * 1000), 1000)
    if seconds >= MAX_TIMESTAMP:  # 9999-12-31T23:59:59.9996 rounds into the year 10000
        return int(MAX_TIMESTAMP) - 1, 999
    return int(seconds), int(millis)


# Milliseconds as the end of an @timestamp, made once.
_MILLIS: Final = tuple(f".{m:03d}Z" for m in range(1000))


class Timestamps:
    """Makes @timestamps (ISO 8601 UTC, milliseconds): one strftime per second, as lines arrive in order."""

    __slots__ = ("_last_prefix", "_last_second")

    def __init__(self) -> None:
        self._last_second = -1
        self._last_prefix = ""

    def iso(self, seconds: int, millis: int) -> str:
        """An @timestamp (ISO 8601 UTC, milliseconds); one strftime per second, as lines arrive in order."""
        if seconds != self._last_second:
            self._last_second = seconds
            self._last_prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return self._last_prefix + _MILLIS[millis]
