"""Which index (and ingest pipeline) each event goes to: ``--index`` and ``--pipeline`` patterns.

A pattern is literal text, ``strftime`` directives applied to the event's time (UTC), and field references
in Logstash's form: ``%{container_name}``, ``%{[labels][team]}`` or ``%{labels.team}`` (a dotted name is
looked up as the key it is, then as a path into nested objects). ``logs-%{container_name}-%Y.%m.%d``
sends each container's events to an index of its own.

A referenced field is written by the sender, so it is hostile until proven otherwise:

- Its value is made part of a valid index name: lowercase, and ``\\ / * ? " < > | , # :``, blanks and
  control characters replaced by ``_``. A name is at most 255 bytes: the values are cut to fit.
- A pattern with a reference must begin with literal text (``logs-``), which every name keeps: no value
  can reach an index outside that prefix, and the index template's ``logs-*`` covers every name.
- An event without the field (or with a value that is not text, a number or a boolean) goes to the
  fallback index (``--index-fallback``; by default the pattern with the reference taken out).
- A worker sends to at most ``max_targets`` distinct names a day; past that, new names go to the
  fallback, counted, so a sender cannot make Elasticsearch create an index per value it invents.

Pipelines follow the same rules, except that a name keeps its case, and an event without the field goes
through no pipeline.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

# Elasticsearch's limit on an index name, in bytes.
MAX_INDEX_NAME: Final = 255
# Distinct index names one worker writes to in a day before new ones go to the fallback.
DEFAULT_MAX_INDEX_TARGETS: Final = 100

_REF: Final = re.compile(r"%\{([^{}]*)\}")
# Characters Elasticsearch refuses in an index name (and ':', which names a remote cluster), blanks, and
# control characters.
_UNSAFE: Final = re.compile(r'[\\/*?"<>|,#:\s\x00-\x1f\x7f]')


class Fallback:
    """Why an event went to the fallback index (counted by reason)."""

    MISSING_FIELD: Final = "missing_field"
    TOO_MANY_TARGETS: Final = "too_many_targets"


def _path(ref: str) -> tuple[str, ...]:
    """``[a][b]`` or ``a.b`` (or ``a``) as the keys to follow."""
    ref = ref.strip()
    if ref.startswith("["):
        return tuple(re.findall(r"\[([^\[\]]+)\]", ref))
    return tuple(ref.split("."))


def parse(pattern: str) -> list[str | tuple[str, ...]]:
    """The pattern as literal (strftime) segments and the paths of its references, in order."""
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for m in _REF.finditer(pattern):
        parts.append(pattern[pos:m.start()])
        path = _path(m[1])
        if not path or not all(path):
            raise ValueError(f"an empty field reference in {pattern!r}")
        parts.append(path)
        pos = m.end()
    parts.append(pattern[pos:])
    return parts


def has_references(pattern: str) -> bool:
    return _REF.search(pattern) is not None


def literal_prefix(pattern: str) -> str:
    """The text before the first directive or reference: what every name of the pattern begins with."""
    cut = pattern.find("%")
    return pattern if cut < 0 else pattern[:cut]


def without_references(pattern: str) -> str:
    """The default fallback: the references taken out, and the separators they leave doubled merged
    (``logs-%{app}-%Y`` -> ``logs-%Y``)."""
    out = _REF.sub("\0", pattern)
    out = re.sub(r"([-_.])\0+(?=[-_.])", "", out)
    out = re.sub(r"\0+[-_.]?", "", out)
    return out.rstrip("-_.") or out


def lookup(doc: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """The value at ``path`` as text, or None when there is none or it is not text, a number or a boolean.
    A dotted field is first looked up as the key it is (``com.docker.compose.project``)."""
    value: Any = doc.get(".".join(path)) if len(path) > 1 else None
    if value is None:
        value = doc
        for key in path:
            if type(value) is not dict or key not in value:
                return None
            value = value[key]
    kind = type(value)
    if kind is str:
        return value if value else None
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return None


def index_part(value: str) -> str:
    """A value made fit for an index name."""
    return _UNSAFE.sub("_", value.lower())


def pipeline_part(value: str) -> str:
    """A value made fit for a pipeline name (which keeps its case)."""
    return _UNSAFE.sub("_", value)


def _fit(literals: Sequence[str], values: list[str]) -> list[str]:
    """Cut the values so that the name is at most MAX_INDEX_NAME bytes (each keeps a share, whole characters)."""
    fixed = sum(len(s.encode()) for s in literals)
    total = fixed + sum(len(v.encode()) for v in values)
    if total <= MAX_INDEX_NAME:
        return values
    share = max(1, (MAX_INDEX_NAME - fixed) // max(1, len(values)))
    return [v.encode()[:share].decode("utf-8", "ignore") or "_" for v in values]


class _Expander:
    """One pattern's literal segments formatted for a second (cached: events come in time order), and its
    references looked up per event."""

    def __init__(self, pattern: str) -> None:
        parts = parse(pattern)
        self.literals = [p for p in parts if isinstance(p, str)]
        self.paths = [p for p in parts if isinstance(p, tuple)]
        self._second = -1
        self._formatted: list[str] = []

    def formatted(self, epoch_seconds: int) -> list[str]:
        if epoch_seconds != self._second:
            when = datetime.fromtimestamp(epoch_seconds, UTC)
            self._formatted = [when.strftime(s) if "%" in s else s for s in self.literals]
            self._second = epoch_seconds
        return self._formatted

    def values(self, doc: dict[str, Any]) -> list[str] | None:
        out = []
        for path in self.paths:
            value = lookup(doc, path)
            if value is None:
                return None
            out.append(value)
        return out

    def join(self, literals: list[str], values: list[str]) -> str:
        out = [literals[0]]
        for value, literal in zip(values, literals[1:], strict=True):
            out += [value, literal]
        return "".join(out)


class IndexRouter:
    """The index of each event, for a pattern with field references (one without needs none of this:
    bulk.py names its index from the time alone)."""

    def __init__(self, pattern: str, fallback: str | None = None,
                 max_targets: int = DEFAULT_MAX_INDEX_TARGETS) -> None:
        if not literal_prefix(pattern):
            raise ValueError(f"an index pattern with field references must begin with literal text: {pattern!r}")
        self.pattern = pattern
        self.fallback = fallback or without_references(pattern)
        self.max_targets = max_targets
        self._index = _Expander(pattern)
        self._fallback = _Expander(self.fallback)
        self._day = -1
        self._targets: set[str] = set()
        self.fallbacks: Counter[str] = Counter()

    def names(self, docs: Sequence[dict[str, Any]], epoch_seconds: Sequence[int], now: float) -> list[str]:
        """Each event's index, in order; ``now`` (epoch seconds) starts a new day of targets."""
        day = int(now // 86400)
        if day != self._day:
            self._day, self._targets = day, set()
        targets, expander = self._targets, self._index
        out = []
        for doc, seconds in zip(docs, epoch_seconds, strict=True):
            values = expander.values(doc)
            if values is None:
                self.fallbacks[Fallback.MISSING_FIELD] += 1
                out.append(self._fallback.join(self._fallback.formatted(seconds), []))
                continue
            literals = expander.formatted(seconds)
            name = expander.join(literals, _fit(literals, [index_part(v) for v in values]))
            if name not in targets:
                if len(targets) >= self.max_targets:
                    self.fallbacks[Fallback.TOO_MANY_TARGETS] += 1
                    out.append(self._fallback.join(self._fallback.formatted(seconds), []))
                    continue
                targets.add(name)
            out.append(name)
        return out


class PipelineRouter:
    """The ingest pipeline of each event: the pattern itself, or with field references one per event
    (None: an event without the field goes through no pipeline)."""

    def __init__(self, pattern: str) -> None:
        if has_references(pattern) and not literal_prefix(pattern):
            raise ValueError(f"a pipeline pattern with field references must begin with literal text: {pattern!r}")
        self.pattern = pattern
        self._expander = _Expander(pattern) if has_references(pattern) else None

    def names(self, docs: Sequence[dict[str, Any]]) -> list[str | None]:
        expander = self._expander
        if expander is None:
            return [self.pattern] * len(docs)
        literals = expander.literals
        out: list[str | None] = []
        for doc in docs:
            values = expander.values(doc)
            out.append(None if values is None else expander.join(literals, [pipeline_part(v) for v in values]))
        return out


# -- lifecycle: the names retention and rollover look for --------------------------------------------------

# The strftime directives an index name can be read back from (retention), as regular expressions.
_DATE_DIRECTIVES: Final = {"Y": r"(?P<Y>\d{4})", "m": r"(?P<m>\d{2})", "d": r"(?P<d>\d{2})", "H": r"(?P<H>\d{2})"}
# What rollover adds to a pattern: the write alias it writes to, and the indices behind it.
WRITE_ALIAS_SUFFIX: Final = "-write"
_ROLLED: Final = re.compile(r"(?P<base>.+)-(?P<n>\d{6,})")


def without_dates(pattern: str) -> str:
    """The pattern without its strftime directives, separators merged (``logstash-%Y.%m.%d`` ->
    ``logstash``): the base of its rollover indices."""
    out = re.sub(r"%[^{%]", "\0", pattern.replace("%%", "\x01"))
    out = re.sub(r"[-_.]*\0[-_.\0]*", "\0", out).replace("\0", "-").replace("\x01", "%%")
    return out.strip("-_.") or "gelfingest"


def write_alias(pattern: str) -> str:
    """``--index-mode rollover``: the alias events are written to (``logstash-write``)."""
    return without_dates(pattern) + WRITE_ALIAS_SUFFIX


def rolled_pattern(pattern: str) -> str:
    """What the names of a pattern's rollover indices look like, for the template and retention
    (``logstash-%Y.%m.%d`` -> ``logstash-*``)."""
    return without_dates(pattern) + "-*"


def first_index(alias: str) -> str:
    """The index a write alias starts on (``logstash-write`` -> ``logstash-000001``)."""
    return alias.removesuffix(WRITE_ALIAS_SUFFIX) + "-000001"


def rolled_base(index: str) -> str | None:
    """``logstash-000042`` -> ``logstash``; None for a name rollover did not make."""
    m = _ROLLED.fullmatch(index)
    return m["base"] if m else None


def dated_index(pattern: str) -> re.Pattern[str] | None:
    """A regular expression for the names ``pattern`` makes, with their date as named groups; None when
    the pattern has a directive other than %Y %m %d %H (its names' dates cannot be read back), or no %Y."""
    out = []
    pos = 0
    for m in re.finditer(r"%\{[^{}]*\}|%(.)", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        if m[1] is None:
            out.append(r".+?")
        elif m[1] == "%":
            out.append("%")
        elif m[1] in _DATE_DIRECTIVES and f"(?P<{m[1]}>" not in "".join(out):
            out.append(_DATE_DIRECTIVES[m[1]])
        else:
            return None
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    expression = "".join(out)
    return re.compile(expression) if "(?P<Y>" in expression else None


def period_end(match: re.Match[str]) -> datetime | None:
    """When the period an index name covers ends (``logs-2025.11.23``: 2025-11-24 00:00 UTC); None for a
    date that is not one (``logs-2025.13.40``)."""
    groups = match.groupdict()
    try:
        year = int(groups["Y"])
        month, day, hour = (int(groups[k]) if groups.get(k) else None for k in ("m", "d", "H"))
        start = datetime(year, month or 1, day or 1, hour or 0, tzinfo=UTC)
    except (ValueError, TypeError):
        return None
    if hour is not None:
        return start + timedelta(hours=1)
    if day is not None:
        return start + timedelta(days=1)
    if month is not None:
        return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return datetime(year + 1, 1, 1, tzinfo=UTC)
