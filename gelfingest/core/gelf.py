"""One complete GELF payload in, one Elasticsearch document out.

The document is the one Logstash's gelf input produced, so Kibana index patterns built on Logstash keep
working: ``@timestamp`` (ISO 8601 UTC, milliseconds), ``message`` (from ``short_message``),
``full_message``, ``host``, ``level``, ``facility``, ``version``, ``file`` and ``line`` when sent,
``source_host`` (the sender's address) and every additional field without its leading underscore.
``sequence`` is added later, when the event leaves the decoder (see sequence.py). A top-level field GELF
does not name is dropped (``field_unknown``); ``host`` is kept as text (a number or boolean as its
string; blank or not a scalar, left out).

Field-name rule (documented in docs/security.md):
- additional fields (``_name``) must match GELF's ``^[\\w\\.\\-]*$``; the underscore is dropped;
- a name that would then collide with a field we set (``@timestamp``, ``message``, ``sequence``,
  ``source_host``, ``host``, ``level`` ...) or start with ``_`` (Elasticsearch's metadata: ``_id``,
  ``_index``, ``_source``), or that Elasticsearch cannot map (empty, leading/trailing or double dots),
  is dropped and counted: a client never steers the bulk action line or our own fields.
  ``_id`` becomes the field ``id`` (counted); it never becomes the document's ``_id``;
- ``_version``, ``_file`` and ``_line`` take the names ``version``, ``file`` and ``line``, as Logstash's
  gelf input gives them; GELF's own value, when the message has it too, moves to ``gelf_version``,
  ``gelf_file``, ``gelf_line`` (counted), so neither is lost;
- Elasticsearch reads dots as objects, so ``host.name`` would need ``host`` to be an object where we
  write a value: a dotted name whose first part is one of our fields gets that first dot replaced by
  ``_`` (``host.name`` -> ``host_name``); if that name is taken in the message, it is dropped;
- within one message, a dotted name under a field that holds a value (``a`` = "x" and ``a.b`` = "y",
  as Docker's compose labels ``com.docker.compose.project`` and ``...project.working_dir`` do) would
  make Elasticsearch refuse the whole document: the value is kept and the dotted name is dropped.
Dropped names are counted by reason (``field_name_invalid``, ``field_reserved``, ``field_name_clash``,
``field_unknown``) in ``dropped_fields``, renamed and converted ones in ``changed_fields``; ``notes`` keeps
the first of each reason for the daemon to log.

Bounds (``Limits``): more fields than ``max_fields`` (counting the keys of nested objects, and each
nested object or array itself), nesting
deeper than ``max_depth`` (the message object is depth 1) or an additional field's name longer than
``max_field_name`` characters rejects the message; these are the limits past which Elasticsearch's own
mapping limits would refuse it anyway, or past which a message is an attack rather than a log line.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from gelfingest.core.errors import DecodeError, Reason
from gelfingest.core.fields import (
    MAX_TIMESTAMP,
    SHARED_FIELDS,
    ChangedField,
    DroppedField,
    FieldNotes,
    Limits,
    Timestamps,
    check_fields,
    epoch_millis,
    extra_name,
    load_object,
    place_dotted,
)

# Kept under their own names when sent (GELF's standard fields other than those mapped specially);
# ``file`` and ``line`` are deprecated in GELF 1.1 but still sent (graypy, on every record).
_PASSTHROUGH: Final = ("full_message", "host", "facility", "version", "file", "line")
# Every top-level field GELF names; any other without a leading underscore is dropped (counted).
_GELF_FIELDS: Final = frozenset({"short_message", "timestamp", "level", *_PASSTHROUGH})
# Below this, rounding to the millisecond cannot reach the year 10000: the hot path needs no other check.
_MAX_TIMESTAMP_MS_SAFE: Final = MAX_TIMESTAMP - 1.0


# Distinct additional-field names remembered with their verdict. Senders repeat the same few names
# (Docker: seven), so nearly every lookup hits; a flood of random names only refills the cache.
_NAME_CACHE_SIZE: Final = 4096


def _verdict(key: str, dedot: bool = False) -> str | tuple[str] | None:
    """``extra_name`` for the decoder's cache: a dotted name comes back wrapped in a tuple, for the
    careful path (renamed, checked against the names placed before it and against its parents). With
    ``dedot`` its dots become ``_`` instead (Logstash's de_dot), and it is a plain name."""
    name = extra_name(key)
    if name and "." in key:
        return name.replace(".", "_") if dedot else (name,)
    return name


# Syslog's levels are 0..7; anything that fits Elasticsearch's integer is kept as sent.
_LEVEL_RANGE: Final = range(-(2**31), 2**31)


def _level(value: Any) -> int | None:
    kind = type(value)
    if kind is int:
        level = value
    elif (kind is float and value.is_integer()) or (
            kind is str and value.strip().isascii() and value.strip().isdigit() and len(value) < 16):
        level = int(value)
    else:
        return None
    return level if level in _LEVEL_RANGE else None


# Distinct message shapes (the keys of a message, in order) remembered with their plan. A sender repeats
# one or a few shapes (Docker's driver: one, plus the labels and env it is told to add), so nearly every
# message finds its plan; a flood of random names only refills the cache. Shapes of more keys than
# _PLAN_MAX_KEYS take the general path, so the cache holds at most 256 x 64 names.
_PLAN_CACHE_SIZE: Final = 256
_PLAN_MAX_KEYS: Final = 64


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to map every message of one shape: its values are read in C (``itemgetter``) in the order of
    ``names``, which begin with ``message`` and ``@timestamp`` (filled in afterwards) and ``level`` when
    sent."""

    get: Callable[[dict[str, Any]], tuple[Any, ...]]
    names: tuple[str, ...]
    level: bool
    # Where ``host`` is among the values (-1: not sent); it needs a look at every message.
    host: int
    # The fields this shape always drops or renames: the counter (dropped or changed) and the reason.
    counted: tuple[tuple[Counter[str], str], ...]


class GelfDecoder:
    """Decodes GELF payloads; counts what it drops from messages it keeps in ``dropped_fields``.

    A message whose shape (its keys, in order) was seen before is mapped by that shape's plan: its values
    picked and renamed in C, then the three that need a look (``short_message``, ``timestamp``,
    ``level``) checked. A shape the plan cannot describe (no ``timestamp``, a dotted or over-long name,
    too many fields) takes the general path, which has the same outcome.
    """

    def __init__(self, limits: Limits | None = None, dedot: bool = False, empty_lines: bool = False) -> None:
        """``dedot``: dots in additional field names become ``_`` (``--dedot-fields``); ``empty_lines``: an
        empty ``short_message`` is decoded, for streams.py to see where Docker's pieces of a line end
        (``--join-partial``; streams.py drops every other empty line, counted)."""
        self.limits = limits or Limits()
        self.dedot = dedot
        self.empty_lines = empty_lines
        self.dropped_fields: Counter[str] = Counter()
        self.changed_fields: Counter[str] = Counter()
        self.notes = FieldNotes()
        self._names: dict[str, str | tuple[str] | None] = {}
        self._plans: dict[tuple[str, ...], _Plan | None] = {}
        self.iso = Timestamps().iso
        self._last_ts = math.nan  # equal to no timestamp: the first one is never taken from the cache
        self._last_time: tuple[str, int] = ("", 0)

    def _time(self, ts: Any, now: float) -> tuple[str, int]:
        """``@timestamp`` and whole epoch seconds for a message's ``timestamp`` (``now`` when it has none
        that can be one). Lines of a busy sender share their millisecond: the last answer is kept."""
        if ts == self._last_ts and type(ts) is float:
            return self._last_time
        if type(ts) is str:
            try:
                value = float(ts)
            except ValueError:
                value = now
        elif type(ts) is float or type(ts) is int:
            value = ts
        else:
            value = now
        if 0.0 <= value < _MAX_TIMESTAMP_MS_SAFE:  # NaN fails this; epoch_millis has the rest
            seconds, millis = divmod(round(value * 1000), 1000)
        else:
            seconds, millis = epoch_millis(value, now)
        answer = self.iso(seconds, millis), seconds
        if type(ts) is float:
            self._last_ts, self._last_time = ts, answer
        return answer

    def decode(self, payload: bytes, source_host: str, now: float) -> tuple[dict[str, Any], int]:
        """Return the document and its time in whole epoch seconds (for the index name).

        ``now`` (epoch seconds) stands in for a missing or unusable ``timestamp``.
        """
        limits = self.limits
        # Brackets besides the message's own: nested objects or arrays (or braces in a text). Most messages
        # have none; looking for one is far cheaper than counting them, and then nothing below walks the values.
        nested = payload.rfind(b"{") > 0 or 91 in payload  # 91: "[" (an int is looked for with memchr)
        msg = load_object(payload, limits.max_fields if nested else None)
        plan = None
        if len(msg) <= _PLAN_MAX_KEYS:
            shape = tuple(msg)
            try:
                plan = self._plans[shape]
            except KeyError:
                plan = self._plan(shape, source_host)
        if plan is None:
            return self._decode_generally(msg, nested, source_host, now)
        values = plan.get(msg)
        short = values[0]
        if type(short) is not str or (not short and not self.empty_lines):
            raise DecodeError(Reason.MISSING_SHORT_MESSAGE, "short_message must be a non-empty string")
        if nested:
            check_fields(msg, nested, self.limits)
        doc = dict(zip(plan.names, values))  # noqa: B905 (one length by construction; strict costs here)
        doc["@timestamp"], seconds = self._time(values[1], now)
        if plan.level:
            level = values[2]
            if type(level) is not int or level not in _LEVEL_RANGE:
                level = _level(level)
                if level is None:
                    self.dropped_fields[self._dropped(DroppedField.INVALID_LEVEL, "level", source_host)] += 1
                    del doc["level"]
                else:
                    doc["level"] = level
        at = plan.host
        if at >= 0:
            host = values[at]
            if type(host) is not str or not host or host.isspace():
                self._repair_host(doc, host, source_host)
        doc["source_host"] = source_host
        if plan.counted:
            for counter, reason in plan.counted:
                counter[reason] += 1
        return doc, seconds

    def _repair_host(self, doc: dict[str, Any], host: Any, source_host: str) -> None:
        """A ``host`` that is not a non-blank string: a number or boolean becomes its string (as JSON writes
        it), anything else is dropped, so that ``host`` stays one type in the index; ``source_host`` says who
        sent it anyway."""
        kind = type(host)
        if kind is bool or kind is int or kind is float:
            doc["host"] = ("true" if host else "false") if kind is bool else str(host)
            self.changed_fields[ChangedField.HOST_TO_STRING] += 1
            self.notes.note(ChangedField.HOST_TO_STRING, f"kept host {host!r} as {doc['host']!r}", source_host)
            return
        reason = DroppedField.BLANK_HOST if kind is str else DroppedField.INVALID_HOST
        del doc["host"]
        self.dropped_fields[reason] += 1
        self.notes.note(reason, f"dropped host {str(host)[:60]!r}", source_host)

    def _plan(self, shape: tuple[str, ...], source_host: str) -> _Plan | None:
        """The plan for messages of this shape, remembered; None: the general path serves them."""
        plans = self._plans
        if len(plans) >= _PLAN_CACHE_SIZE:
            plans.clear()
        plan = plans[shape] = self._make_plan(shape, source_host)
        return plan

    def _make_plan(self, shape: tuple[str, ...], source_host: str) -> _Plan | None:
        if "short_message" not in shape or "timestamp" not in shape or len(shape) > self.limits.max_fields:
            return None
        keys, names = ["short_message", "timestamp"], ["message", "@timestamp"]
        dropped: list[str] = []
        changed: list[str] = []
        level = "level" in shape
        if level:
            keys.append("level")
            names.append("level")
        for name in _PASSTHROUGH:
            if name in shape:
                keys.append(name)
                names.append(self._gelf_name(name, shape, changed, source_host))
        extras: list[tuple[str, str]] = []
        for key in shape:
            if key[:1] != "_":
                if key not in _GELF_FIELDS:
                    dropped.append(self._unknown(key, source_host))
                continue
            if len(key) - 1 > self.limits.max_field_name:
                return None
            extra = _verdict(key, self.dedot)
            if isinstance(extra, tuple):
                return None  # dotted: placed with care, by the general path
            if extra is None:
                dropped.append(self._dropped(DroppedField.INVALID_NAME, key, source_host))
            elif not extra:
                dropped.append(self._dropped(DroppedField.RESERVED, key, source_host))
            elif self.dedot and (extra in names or any(extra == name for _, name in extras)):
                dropped.append(self._dropped(DroppedField.CLASH, key, source_host))  # a_b and a.b: the first
            else:
                extras.append((key, extra))
                if key == "_id":
                    changed.append(self._changed(ChangedField.ID, key, extra, source_host))
        # The source address goes after the passthrough fields and before the additional ones, as the
        # general path writes them; written last here, which no reader can tell (JSON objects are unordered).
        keys += [key for key, _ in extras]
        names += [name for _, name in extras]
        host = keys.index("host") if "host" in shape else -1
        counted = [(self.dropped_fields, r) for r in dropped] + [(self.changed_fields, r) for r in changed]
        return _Plan(itemgetter(*keys), tuple(names), level, host, tuple(counted))

    def _gelf_name(self, name: str, msg: Collection[str], changed: list[str] | None, source_host: str) -> str:
        """The document name of GELF field ``name``: ``gelf_<name>`` when an additional field of the same
        name takes it over (both kept); ``changed`` collects the reason for a plan, else it is counted now."""
        if name not in SHARED_FIELDS or f"_{name}" not in msg:
            return name
        reason = self._changed(ChangedField.GELF_FIELD, name, f"gelf_{name}", source_host)
        if changed is None:
            self.changed_fields[reason] += 1
        else:
            changed.append(reason)
        return f"gelf_{name}"

    def _unknown(self, key: str, source_host: str) -> str:
        return self._dropped(DroppedField.UNKNOWN, key, source_host)

    def _dropped(self, reason: str, key: str, source_host: str) -> str:
        self.notes.note(reason, f"dropped field {key[:80]!r}", source_host)
        return reason

    def _changed(self, reason: str, key: str, name: str, source_host: str) -> str:
        self.notes.note(reason, f"kept field {key[:80]!r} as {name!r}", source_host)
        return reason

    def _decode_generally(self, msg: dict[str, Any], nested: bool, source_host: str,
                          now: float) -> tuple[dict[str, Any], int]:
        """Any message, one field at a time."""
        limits = self.limits
        short = msg.get("short_message")
        if type(short) is not str or (not short and not self.empty_lines):
            raise DecodeError(Reason.MISSING_SHORT_MESSAGE, "short_message must be a non-empty string")
        iso, seconds = self._time(msg.get("timestamp"), now)
        doc: dict[str, Any] = {"@timestamp": iso, "message": short}
        for name in _PASSTHROUGH:
            if name in msg:
                doc[self._gelf_name(name, msg, None, source_host)] = msg[name]
        if "host" in doc:
            host = doc["host"]
            if type(host) is not str or not host or host.isspace():
                self._repair_host(doc, host, source_host)
        if "level" in msg:
            level = _level(msg["level"])
            if level is None:
                self.dropped_fields[self._dropped(DroppedField.INVALID_LEVEL, "level", source_host)] += 1
            else:
                doc["level"] = level
        doc["source_host"] = source_host
        check_fields(msg, nested, self.limits)
        names = self._names
        careful: list[tuple[str, Any]] | None = None
        for key, value in msg.items():
            if key[:1] != "_":
                if key not in _GELF_FIELDS:
                    self.dropped_fields[self._unknown(key, source_host)] += 1
                continue
            try:
                extra = names[key]
            except KeyError:
                if len(key) - 1 > limits.max_field_name:
                    raise DecodeError(Reason.FIELD_NAME_TOO_LONG, f"a {len(key) - 1}-character field name "
                                      f"(at most {limits.max_field_name})") from None
                if len(names) >= _NAME_CACHE_SIZE:
                    names.clear()
                extra = names[key] = _verdict(key, self.dedot)
            if type(extra) is str:
                if extra and self.dedot and extra in doc:
                    self.dropped_fields[self._dropped(DroppedField.CLASH, key, source_host)] += 1
                elif extra:
                    doc[extra] = value
                    if key == "_id":
                        self.changed_fields[self._changed(ChangedField.ID, key, extra, source_host)] += 1
                else:
                    self.dropped_fields[self._dropped(DroppedField.RESERVED, key, source_host)] += 1
            elif extra is None:
                self.dropped_fields[self._dropped(DroppedField.INVALID_NAME, key, source_host)] += 1
            else:
                if careful is None:
                    careful = []
                careful.append((extra[0], value))
        if careful is not None:
            self._place_dotted(doc, careful, source_host)
        return doc, seconds

    def _place_dotted(self, doc: dict[str, Any], careful: list[tuple[str, Any]], source_host: str) -> None:
        """Dotted names (renamed when under one of our fields) go in after the plain ones: a name already
        taken is dropped, and so is each dotted one below a field that holds a value (Elasticsearch would
        refuse the whole document)."""
        for name in place_dotted(doc, careful):
            self.dropped_fields[self._dropped(DroppedField.CLASH, name, source_host)] += 1
