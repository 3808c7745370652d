"""One complete GELF payload in, one Elasticsearch document out.

The document is the one Logstash's gelf input produced, so Kibana index patterns built on Logstash keep
working: ``@timestamp`` (ISO 8601 UTC, milliseconds), ``message`` (from ``short_message``),
``full_message``, ``host``, ``level``, ``facility`` and ``version`` when sent, ``source_host`` (the
sender's address) and every additional field without its leading underscore. ``sequence`` is added later,
when the event leaves the decoder (see sequence.py).

Field-name rule (documented in the README):
- additional fields (``_name``) must match GELF's ``^[\\w\\.\\-]*$``; the underscore is dropped;
- a name that would then collide with a field we set (``@timestamp``, ``message``, ``sequence``,
  ``source_host``, ``host``, ``level`` ...) or start with ``_`` (Elasticsearch's metadata: ``_id``,
  ``_index``, ``_source``), or that Elasticsearch cannot map (empty, leading/trailing or double dots),
  is dropped and counted: a client never steers the bulk action line or our own fields.
  ``_id`` becomes the field ``id``; it never becomes the document's ``_id``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from gelfingest.errors import DecodeError, Reason

_FIELD_NAME: Final = re.compile(r"[\w.\-]+")
# Fields the document itself is made of: a client's additional field may not overwrite them.
RESERVED_FIELDS: Final = frozenset(
    {"@timestamp", "@version", "message", "sequence", "source_host", "host", "level", "facility",
     "version", "full_message", "short_message", "timestamp"}
)
# Kept under their own names when sent (GELF's standard fields other than those mapped specially).
_PASSTHROUGH: Final = ("full_message", "host", "facility", "version")
# Timestamps outside 1970..9999 cannot be written as @timestamp; the receive time is used instead.
_MAX_TIMESTAMP: Final = 253402300800.0


class DroppedField:
    """Reasons an additional field is dropped while its message is kept."""

    INVALID_NAME: Final = "field_name_invalid"
    RESERVED: Final = "field_reserved"
    INVALID_LEVEL: Final = "level_invalid"


def _json_reason(exc: orjson.JSONDecodeError) -> str:
    text = str(exc)
    if "UTF-8" in text or "utf-8" in text:
        return Reason.INVALID_UTF8
    # orjson 3.9 says "trailing characters", 3.10+ "unexpected content after document".
    if "trailing" in text or "after document" in text:
        return Reason.TRAILING_DATA
    return Reason.INVALID_JSON


# Distinct additional-field names remembered with their verdict. Senders repeat the same few names
# (Docker: seven), so nearly every lookup hits; a flood of random names only refills the cache.
_NAME_CACHE_SIZE: Final = 4096


def load_object(payload: bytes) -> dict[str, Any]:
    """Parse a payload that must be one JSON object; DecodeError with the reason otherwise."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(_json_reason(exc), str(exc)) from None
    if type(msg) is not dict:
        raise DecodeError(Reason.NOT_AN_OBJECT, f"a JSON {type(msg).__name__}, not an object")
    return msg


def _extra_name(key: str) -> str | None:
    """The document field name for additional field ``key`` (which starts with ``_``), or None.

    None when the name breaks GELF's rule or cannot be mapped; the name itself when it would overwrite
    a field of ours or an Elasticsearch metadata field is returned as ``""`` (dropped as reserved).
    """
    name = key[1:]
    if not _FIELD_NAME.fullmatch(name) or name[0] == "." or name[-1] == "." or ".." in name:
        return None
    if name in RESERVED_FIELDS or name[0] == "_":
        return ""
    return name


def _level(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and value.strip().isdigit():
        return int(value)
    return None


class GelfDecoder:
    """Decodes GELF payloads; counts what it drops from messages it keeps in ``dropped_fields``."""

    def __init__(self) -> None:
        self.dropped_fields: Counter[str] = Counter()
        self._names: dict[str, str | None] = {}
        self._last_second = -1
        self._last_prefix = ""

    def _iso(self, seconds: int, millis: int) -> str:
        if seconds != self._last_second:
            self._last_second = seconds
            self._last_prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._last_prefix}.{millis:03d}Z"

    def decode(self, payload: bytes, source_host: str, now: float) -> tuple[dict[str, Any], int]:
        """Return the document and its time in whole epoch seconds (for the index name).

        ``now`` (epoch seconds) stands in for a missing or unusable ``timestamp``.
        """
        msg = load_object(payload)
        short = msg.get("short_message")
        if type(short) is not str or not short:
            raise DecodeError(Reason.MISSING_SHORT_MESSAGE, "short_message must be a non-empty string")

        ts = msg.get("timestamp")
        if type(ts) is str:
            try:
                ts = float(ts)
            except ValueError:
                ts = now
        elif type(ts) is not float and type(ts) is not int:
            ts = now
        if not 0.0 <= ts < _MAX_TIMESTAMP or math.isnan(ts):
            ts = now
        seconds, millis = divmod(round(ts * 1000), 1000)

        doc: dict[str, Any] = {"@timestamp": self._iso(seconds, millis), "message": short}
        for name in _PASSTHROUGH:
            if name in msg:
                doc[name] = msg[name]
        if "level" in msg:
            level = _level(msg["level"])
            if level is None:
                self.dropped_fields[DroppedField.INVALID_LEVEL] += 1
            else:
                doc["level"] = level
        doc["source_host"] = source_host
        names = self._names
        for key, value in msg.items():
            if key[:1] != "_":
                continue
            try:
                extra = names[key]
            except KeyError:
                if len(names) >= _NAME_CACHE_SIZE:
                    names.clear()
                extra = names[key] = _extra_name(key)
            if extra:
                doc[extra] = value
            elif extra is None:
                self.dropped_fields[DroppedField.INVALID_NAME] += 1
            else:
                self.dropped_fields[DroppedField.RESERVED] += 1
        return doc, seconds
