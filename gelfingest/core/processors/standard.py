"""Filebeat's processors under Filebeat's names and parameters, so that a Filebeat user's file works unchanged:
``decode_json_fields``, ``drop_event``, ``drop_fields``, ``include_fields``, ``rename``, ``add_fields``,
``add_tags``, ``replace``, ``dissect``, ``convert`` and ``truncate_fields``.

Where gelfingest parts from Filebeat it is to keep the event whole and the daemon safe, never to be looser:

- A processor that fails leaves the event exactly as it was and tags it Logstash's way (``_renamefailure``,
  ...), counted by a short reason (``field_missing``, ``target_exists``, ...). Filebeat logs the error at
  debug level and may keep half the changes. ``fail_on_error: false`` (``ignore_failure: true`` for
  ``dissect``) keeps Filebeat's meaning: the step that failed is skipped, the rest is done, nothing is tagged.
- The fields gelfingest needs (``Context.required_fields``: ``@timestamp``, ``message``, ``host``, ...) are
  never removed or replaced by a value of another kind, and no object is written where the index template
  maps a scalar (``Context.scalar_fields``). A file that says so is refused at start, naming the line; names
  that only the event knows (JSON keys, ``dissect``'s ``%{&key}``) are left out at run time. ``message`` is
  the one needed field a processor may rewrite, with a scalar (a JSON line's own ``message``); ``replace``
  and ``truncate_fields`` edit any other string in place.
- Nothing a sender writes costs unbounded time or memory: JSON is parsed only up to ``max_message_size``
  bytes and the field bounds of ``--max-fields``, ``--max-json-depth`` and ``--max-field-name-length``
  (checked before parsing where that can be known), regular expressions are RE2 with a bound on the
  replacements per value, ``dissect`` only searches for its delimiters (``str.find``), and numbers are parsed
  only from short text.
- A failure's detail names fields and positions, never values: it is logged, and a value may be a secret.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Final

import orjson

from gelfingest.core.errors import Reason
from gelfingest.core.fields import _FIELD_NAME, _json_reason, _too_many_containers
from gelfingest.core.processors.base import (
    MAX_REPLACEMENTS,
    MISSING,
    ConfigError,
    Context,
    Failure,
    Items,
    Node,
    Params,
    Processor,
    compile_regex,
    delete,
    kind_name,
    lookup,
    processor,
    put,
)

# ``decode_json_fields`` parses at most this multiple of ``max_message_size`` for one value, all its layers
# (``max_depth``) counted: each layer is text found inside the one before it, so a value built to be decoded
# again and again stops costing after about two parses of the largest message.
JSON_PARSE_BUDGET: Final = 2
# Longest text ``convert`` (and ``dissect``'s ``|type``) reads as a number: a 64-bit integer has 20
# characters, a double's shortest form about 25; longer text is refused before Python's int() or float()
# spends time on it.
MAX_NUMBER_TEXT: Final = 64
# The one field gelfingest needs that a processor may rewrite (with a scalar): a JSON line's own message.
REWRITABLE: Final = frozenset({"message"})
# Set by gelfingest after the processors (the logstash schema's ``sequence``; ECS's is inside ``event``): a
# processor's value there would be overwritten, so none is written.
SET_AFTER: Final = frozenset({"sequence"})
# Characters JSON allows before a value.
_JSON_SPACE: Final = " \t\n\r"


# ---- what the index template and gelfingest say about a path


def _prefixes(path: str) -> Iterator[str]:
    """The dotted prefixes of ``path``, shortest first, without ``path`` itself (``a``, ``a.b`` of ``a.b.c``)."""
    cut = path.find(".")
    while cut > 0:
        yield path[:cut]
        cut = path.find(".", cut + 1)


def _heads(path: str) -> Iterator[str]:
    """The top-level keys that may hold ``path`` (a key of its own may hold dots): its prefixes and itself."""
    yield from _prefixes(path)
    yield path


class _Schema:
    """Which writes and removals would break the template's mapping or take away a field gelfingest needs.

    ``problem_*`` return a sentence, or None when the change is safe; the builders raise it as a ConfigError
    with the line, and the run time checks (for names only the event knows) leave the key out instead."""

    def __init__(self, ctx: Context) -> None:
        self.scalars = ctx.scalar_fields
        required = ctx.required_fields
        # What gelfingest needs: the required fields, and the scalars inside a required object (ECS's
        # ``host.name``, ``event.sequence``); the rest of such an object (``event.original``) is the user's.
        self.needed = frozenset(required | (SET_AFTER & self.scalars)
                                | {f for f in self.scalars if any(p in required for p in _prefixes(f))})
        self._needed_sorted = sorted(self.needed)
        # Paths the template maps as objects: every prefix of a field it knows.
        self.objects = frozenset(p for f in self.scalars | required for p in _prefixes(f))

    def needed_in(self, path: str) -> str | None:
        """The needed field that removing or replacing ``path`` would take away: itself or one inside it."""
        if path in self.needed:
            return path
        inner = path + "."
        return next((f for f in self._needed_sorted if f.startswith(inner)), None)

    def under_scalar(self, path: str) -> str | None:
        return next((p for p in _prefixes(path) if p in self.scalars), None)

    def problem_removal(self, path: str) -> str | None:
        needed = self.needed_in(path)
        if needed is None:
            return None
        if needed == path:
            return f"'{path}' is a field gelfingest needs on every event"
        return f"'{path}' holds '{needed}', a field gelfingest needs on every event"

    def problem_scalar(self, path: str) -> str | None:
        """Whether a scalar (a string, number or boolean) may be written at ``path``."""
        needed = self.needed_in(path)
        if needed == path and path not in REWRITABLE:
            return f"'{path}' is set by gelfingest itself and must keep its value"
        if needed is not None and needed != path:
            return f"a value at '{path}' would replace the object holding '{needed}', which gelfingest needs"
        scalar = self.under_scalar(path)
        if scalar is not None:
            return f"'{path}' would turn '{scalar}', which the index template maps as a scalar, into an object"
        if path in self.objects:
            return f"the index template maps '{path}' as an object, so a value there cannot be indexed"
        return None

    def problem_rewrite(self, path: str) -> str | None:
        """Whether a string at ``path`` may be edited in place (its kind stays: only what gelfingest sets
        itself is kept from it)."""
        if path in self.needed and path not in REWRITABLE:
            return f"'{path}' is set by gelfingest itself and must keep its value"
        return None

    def problem_object(self, path: str) -> str | None:
        """Whether an object or a list may replace whatever is at ``path``."""
        if path in self.scalars:
            return f"'{path}' is a field the index template maps as a scalar, so an object there cannot be indexed"
        needed = self.needed_in(path)
        if needed is not None:
            return f"writing at '{path}' would replace '{needed}', a field gelfingest needs on every event"
        scalar = self.under_scalar(path)
        if scalar is not None:
            return f"'{path}' would turn '{scalar}', which the index template maps as a scalar, into an object"
        return None

    def problem_value(self, path: str, value: Any) -> str | None:
        kind = type(value)
        return self.problem_object(path) if kind is dict or kind is list else self.problem_scalar(path)


def _refuse(problem: str | None, line: int, where: str, hint: str = "") -> None:
    if problem is not None:
        raise ConfigError(line, f"{where}: {problem}{hint}")


# ---- changing several fields as one


def _copy_dicts(value: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``value``'s objects (what ``put`` and ``delete`` change); other values are shared."""
    return {key: _copy_dicts(inner) if type(inner) is dict else inner for key, inner in value.items()}


def _attempt(work: dict[str, Any], paths: Iterable[str], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """``work`` with ``change`` made on a copy of it (the objects that may hold ``paths`` copied); ``work`` is
    untouched whether ``change`` succeeds or raises Failure, as Filebeat's backup clone does."""
    trial = dict(work)
    copied: set[str] = set()
    for path in paths:
        for head in _heads(path):
            value = trial.get(head)
            if type(value) is dict and head not in copied:
                trial[head] = _copy_dicts(value)
                copied.add(head)
    change(trial)
    return trial


def _commit(doc: dict[str, Any], work: dict[str, Any]) -> dict[str, Any]:
    """The event with the changes made on ``work`` (the same dict object, which callers may hold)."""
    if work is not doc:
        doc.clear()
        doc.update(work)
    return doc


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    if not put(doc, path, value):
        raise Failure("bad_target", f"'{path}' cannot be written: a value on its way is not an object")


def _clone(value: Any) -> Any:
    """A copy of a value from the file, so that no two events share an object."""
    if type(value) is dict:
        return {key: _clone(inner) for key, inner in value.items()}
    if type(value) is list:
        return [_clone(inner) for inner in value]
    return value


# ---- values read from the file


def _plain(value: Any, line: int, where: str) -> Any:
    """A value of the file as JSON has it (objects, arrays, strings, numbers, booleans, null), dotted keys of
    objects expanded into nested objects as Filebeat's configuration does; ConfigError for anything else (a
    YAML date, binary)."""
    if value is None or type(value) in (str, int, float, bool):
        if type(value) is float and not math.isfinite(value):
            raise ConfigError(line, f"{where}: {value} is not a number JSON can hold")
        return value
    if isinstance(value, dict):
        inner_line = value.line if isinstance(value, Node) else line
        out: dict[str, Any] = {}
        for key, inner in value.items():
            key_line = value.line_of(key) if isinstance(value, Node) else inner_line
            _merge_expanded(out, str(key), _plain(inner, key_line, where), key_line, where)
        return out
    if isinstance(value, list):
        inner_line = value.line if isinstance(value, Items) else line
        return [_plain(inner, inner_line, where) for inner in value]
    raise ConfigError(line, f"{where}: {kind_name(value)} ({value!r}) is not a JSON value; quote it"[:300])


def _merge_expanded(out: dict[str, Any], key: str, value: Any, line: int, where: str) -> None:
    parts = key.split(".")
    if any(not part for part in parts):
        raise ConfigError(line, f"{where}: '{key}' is not a field name")
    node = out
    for part in parts[:-1]:
        inner = node.setdefault(part, {})
        if type(inner) is not dict:
            raise ConfigError(line, f"{where}: '{key}' is given both as a value and as an object")
        node = inner
    last = parts[-1]
    if last in node:
        if type(node[last]) is dict and type(value) is dict:
            for inner_key, inner in value.items():
                _merge_expanded(node[last], inner_key, inner, line, where)
            return
        raise ConfigError(line, f"{where}: '{key}' is given twice")
    node[last] = value


def _leaves(value: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    """The paths a deep merge of ``value`` at ``prefix`` writes (non-empty objects are merged into)."""
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else key
        if type(inner) is dict and inner:
            yield from _leaves(inner, path)
        else:
            yield path, inner


def _deep_update(doc: dict[str, Any], value: dict[str, Any]) -> None:
    """Filebeat's DeepUpdate: objects merged key by key, anything else overwritten."""
    for key, inner in value.items():
        current = doc.get(key)
        if type(inner) is dict and type(current) is dict:
            _deep_update(current, inner)
        else:
            doc[key] = _clone(inner)


def _target(p: Params, default: str | None) -> str | None:
    """``target``: absent or null (``target:``) is ``default``; ``""`` is the event's root."""
    value = p.raw("target", None)
    if value is None:
        return default
    if not isinstance(value, str):
        p.fail("target", f"must be a string, not {kind_name(value)}")
    return value


# ---- drop_event


class DropEvent(Processor):
    name: ClassVar[str] = "drop_event"
    tag: ClassVar[str] = "_dropeventfailure"

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        return None


@processor("drop_event")
def build_drop_event(p: Params, ctx: Context) -> Processor:
    return DropEvent()


# ---- drop_fields


class DropFields(Processor):
    """Filebeat's ``drop_fields``: the named fields, and with ``/regex/`` every field whose dotted name the
    expression finds (objects included, as Filebeat's flattened keys are). A missing named field changes
    nothing: the others are dropped all the same, as Filebeat drops them (it only logs the missing one, at
    debug level), so ``ignore_missing`` is taken and has nothing left to do. Fields gelfingest needs are
    refused at start, and skipped by expressions."""

    name: ClassVar[str] = "drop_fields"
    tag: ClassVar[str] = "_dropfieldsfailure"

    def __init__(self, exact: list[str], patterns: list[Any], ignore_missing: bool, schema: _Schema) -> None:
        self.exact = exact
        self.patterns = patterns
        self.ignore_missing = ignore_missing
        self.schema = schema

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        dropped = {path for path in self.exact if delete(doc, path) is not MISSING}
        if self.patterns:
            doomed: list[tuple[dict[str, Any], str]] = []
            for parent, key, path in _walk_fields(doc):
                if any(prefix in dropped for prefix in _prefixes(path)):
                    continue
                if self.schema.needed_in(path) is not None:
                    continue
                if any(pattern.search(path) for pattern in self.patterns):
                    dropped.add(path)
                    doomed.append((parent, key))
            for parent, key in doomed:
                parent.pop(key, None)
        return doc


def _walk_fields(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """Every field with the object holding it and its dotted name, parents before their fields."""
    stack: list[tuple[str, dict[str, Any]]] = [("", doc)]
    while stack:
        base, node = stack.pop()
        for key, inner in list(node.items()):
            path = f"{base}.{key}" if base else key
            yield node, key, path
            if type(inner) is dict:
                stack.append((path, inner))


@processor("drop_fields")
def build_drop_fields(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    line = p.line_of("fields")
    exact: list[str] = []
    patterns: list[Any] = []
    for field in p.strings("fields"):
        if len(field) > 2 and field[0] == "/" and field[-1] == "/":
            patterns.append(compile_regex(field[1:-1], line, "drop_fields"))
        else:
            _refuse(schema.problem_removal(field), line, "drop_fields", " (it cannot be dropped)")
            exact.append(field)
    return DropFields(exact, patterns, p.boolean("ignore_missing", False), schema)


# ---- include_fields


class IncludeFields(Processor):
    """Filebeat's ``include_fields``: only the named fields are kept, and always the ones gelfingest needs."""

    name: ClassVar[str] = "include_fields"
    tag: ClassVar[str] = "_includefieldsfailure"

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        kept: dict[str, Any] = {}
        for path in self.fields:
            value = lookup(doc, path)
            if value is MISSING:
                continue
            if path in doc:
                kept[path] = value
            else:
                put(kept, path, value)
        return _commit(doc, kept)


@processor("include_fields")
def build_include_fields(p: Params, ctx: Context) -> Processor:
    fields = p.strings("fields")
    # The needed ones first: a field named in the file that lies inside one is then found in it, unchanged.
    ordered = sorted(ctx.required_fields) + [f for f in fields if f not in ctx.required_fields]
    return IncludeFields(list(dict.fromkeys(ordered)))


# ---- rename


@dataclass(frozen=True, slots=True)
class _Move:
    source: str
    target: str


class Rename(Processor):
    """Filebeat's ``rename``: each ``from`` moved to ``to``, in order; an existing ``to`` is never overwritten
    (``target_exists``), a missing ``from`` fails unless ``ignore_missing``."""

    name: ClassVar[str] = "rename"
    tag: ClassVar[str] = "_renamefailure"

    def __init__(self, moves: list[_Move], ignore_missing: bool, fail_on_error: bool, schema: _Schema) -> None:
        self.moves = moves
        self.ignore_missing = ignore_missing
        self.fail_on_error = fail_on_error
        self.schema = schema

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        work = doc
        for move in self.moves:
            try:
                work = self._move(work, move)
            except Failure:
                if self.fail_on_error:
                    raise
        return _commit(doc, work)

    def _move(self, work: dict[str, Any], move: _Move) -> dict[str, Any]:
        if lookup(work, move.target) is not MISSING:
            raise Failure("target_exists", f"'{move.target}' is already in the event (drop or rename it first)")
        value = lookup(work, move.source)
        if value is MISSING:
            if self.ignore_missing:
                return work
            raise Failure("field_missing", f"'{move.source}' is not in the event")
        if type(value) is dict or type(value) is list:
            problem = self.schema.problem_object(move.target)
            if problem is not None:
                raise Failure("bad_target", problem)

        def change(trial: dict[str, Any]) -> None:
            # Removed first, so that ``a`` can become ``a.b`` (as Filebeat does).
            delete(trial, move.source)
            _put(trial, move.target, value)

        return _attempt(work, (move.source, move.target), change)


@processor("rename")
def build_rename(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    moves = []
    for node in p.mappings("fields"):
        item = Params(node, "rename: fields", node.line)
        source, target = item.string("from"), item.string("to")
        item.done()
        if source == target:
            raise ConfigError(node.line, f"rename: '{source}' is renamed to itself")
        _refuse(schema.problem_removal(source), node.line, "rename", " (it cannot be renamed away)")
        _refuse(schema.problem_scalar(target), node.line, "rename")
        moves.append(_Move(source, target))
    return Rename(moves, p.boolean("ignore_missing", False), p.boolean("fail_on_error", True), schema)


# ---- add_fields


class AddFields(Processor):
    """Filebeat's ``add_fields``: ``fields`` merged under ``target`` (``fields`` by default; ``""``: the
    root), objects key by key, other values overwritten."""

    name: ClassVar[str] = "add_fields"
    tag: ClassVar[str] = "_addfieldsfailure"

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        _deep_update(doc, self.payload)
        return doc


@processor("add_fields")
def build_add_fields(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    target = _target(p, "fields")
    line = p.line_of("fields")
    fields = _plain(p.mapping("fields"), line, "add_fields")
    payload: dict[str, Any] = {}
    if target:
        _merge_expanded(payload, target, fields, p.line_of("target"), "add_fields")
    else:
        payload = fields
    for path, value in _leaves(payload, ""):
        _refuse(schema.problem_value(path, value), line, "add_fields")
    return AddFields(payload)


# ---- add_tags


class AddTags(Processor):
    """Filebeat's ``add_tags``: the tags appended to the list at ``target`` (``tags``), each once."""

    name: ClassVar[str] = "add_tags"
    tag: ClassVar[str] = "_addtagsfailure"

    def __init__(self, tags: list[str], target: str) -> None:
        self.tags = tags
        self.target = target

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        current = lookup(doc, self.target)
        if type(current) is list:
            current.extend(tag for tag in self.tags if tag not in current)
            return doc
        if current is MISSING or current is None:
            _put(doc, self.target, list(self.tags))
            return doc
        if type(current) is dict:
            raise Failure("bad_target", f"'{self.target}' is an object, not a list of tags")
        # A single value (a GELF ``_tags`` string) becomes the first of the list, as the pipeline's own tags do.
        _put(doc, self.target, [current, *(tag for tag in self.tags if tag != current)])
        return doc


@processor("add_tags")
def build_add_tags(p: Params, ctx: Context) -> Processor:
    tags = list(dict.fromkeys(p.strings("tags")))
    target = _target(p, "tags") or "tags"
    _refuse(_Schema(ctx).problem_object(target), p.line_of("target"), "add_tags")
    return AddTags(tags, target)


# ---- replace


# A piece of a replacement: literal text, or a group of the match (by number or name).
_Piece = str | int | tuple[str]


def _template(text: str, regex: Any, line: int) -> list[_Piece]:
    """Filebeat's (Go's) replacement syntax, parsed once: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is a
    dollar sign; a ``$`` not followed by a name is itself; backslashes are literal (Go's rule, so a Filebeat
    file means the same here; RE2's own ``\\1`` syntax is not used). A group the pattern lacks is refused
    (Go would write nothing there): ``$1x`` names group ``1x``, write ``${1}x``."""
    pieces: list[_Piece] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:dollar])
        if text.startswith("$$", dollar):
            literal.append("$")
            i = dollar + 2
            continue
        braced = text.startswith("${", dollar)
        start = dollar + 2 if braced else dollar + 1
        end = start
        while end < len(text) and (text[end].isascii() and (text[end].isalnum() or text[end] == "_")):
            end += 1
        name = text[start:end]
        if not name or (braced and not text.startswith("}", end)):
            literal.append("$")
            i = dollar + 1
            continue
        if literal:
            pieces.append("".join(literal))
            literal = []
        if name.isdigit():
            number = int(name)
            if number > regex.groups:
                hint = f" (for group {name[0]} then text, write ${{{name[0]}}}{name[1:]})" \
                    if not braced and len(name) > 1 else ""
                raise ConfigError(line, f"replace: the replacement names group {number}, but the pattern has "
                                  f"{regex.groups}{hint}")
            pieces.append(number)
        else:
            if name not in regex.groupindex:
                digits = name[:len(name) - len(name.lstrip("0123456789"))]
                hint = f" (for group {digits} then text, write ${{{digits}}}{name[len(digits):]})" if digits else ""
                raise ConfigError(line, f"replace: the replacement names group '{name}', which the pattern lacks"
                                  f"{hint}")
            pieces.append((name,))
        i = end + 1 if braced else end
    if literal:
        pieces.append("".join(literal))
    return pieces


def _expand(pieces: list[_Piece], match: Any) -> str:
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            group = match.group(piece if isinstance(piece, int) else piece[0])
            out.append(group or "")
    return "".join(out)


def _replace_all(regex: Any, pieces: list[_Piece], value: str) -> str:
    """Go's ReplaceAllString with at most MAX_REPLACEMENTS replacements (the rest of the value is kept as it
    is); an empty match right after a match is not replaced, as in Go."""
    out: list[str] = []
    last = 0
    previous_end = -1
    count = 0
    for match in regex.finditer(value):
        start, end = match.span()
        if start == end == previous_end:
            continue
        out.append(value[last:start])
        out.append(_expand(pieces, match))
        last = previous_end = end
        count += 1
        if count >= MAX_REPLACEMENTS:
            break
    if not out:
        return value
    out.append(value[last:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Substitution:
    field: str
    regex: Any
    pieces: list[_Piece]


class Replace(Processor):
    """Filebeat's ``replace``: each field's matches of ``pattern`` (RE2) replaced by ``replacement``."""

    name: ClassVar[str] = "replace"
    tag: ClassVar[str] = "_replacefailure"

    def __init__(self, items: list[_Substitution], ignore_missing: bool, fail_on_error: bool) -> None:
        self.items = items
        self.ignore_missing = ignore_missing
        self.fail_on_error = fail_on_error

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        changed: dict[str, str] = {}
        for item in self.items:
            value = changed.get(item.field, MISSING)
            if value is MISSING:
                value = lookup(doc, item.field)
            if value is MISSING:
                if self.ignore_missing:
                    continue
                if self.fail_on_error:
                    raise Failure("field_missing", f"'{item.field}' is not in the event")
                continue
            if type(value) is not str:
                if self.fail_on_error:
                    raise Failure("bad_value", f"'{item.field}' is {kind_name(value)}, not a string")
                continue
            changed[item.field] = _replace_all(item.regex, item.pieces, value)
        for path, text in changed.items():
            put(doc, path, text)  # each was found as a string: its place exists
        return doc


@processor("replace")
def build_replace(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    items = []
    for node in p.mappings("fields"):
        item = Params(node, "replace: fields", node.line)
        field = item.string("field")
        _refuse(schema.problem_rewrite(field), item.line_of("field"), "replace")
        regex = compile_regex(item.raw("pattern"), item.line_of("pattern"), "replace")
        replacement = item.string("replacement", allow_empty=True)
        item.done()
        items.append(_Substitution(field, regex, _template(replacement, regex, item.line_of("replacement"))))
    return Replace(items, p.boolean("ignore_missing", False), p.boolean("fail_on_error", True))


# ---- converting values (convert, and dissect's %{key|type})


_TYPES: Final = ("integer", "long", "float", "double", "string", "boolean", "ip")
_INT_RANGE: Final = {"integer": 1 << 31, "long": 1 << 63}
_FLOAT32_MAX: Final = 3.4028234663852886e38
_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class _Bad(Exception):
    """A value that cannot be converted (the detail never holds the value)."""


def _parse_int(text: str, kind: str) -> int:
    """Go's strconv.ParseInt as Filebeat calls it: decimal, or hexadecimal after ``0x``, with a sign."""
    if len(text) > MAX_NUMBER_TEXT or not text.isascii():
        raise _Bad("not an integer")
    body = text[1:] if text[:1] in ("+", "-") else text
    if body[:2] in ("0x", "0X") and len(body) > 2:
        digits, base = body[2:], 16
        if any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise _Bad("not an integer")
    else:
        digits, base = body, 10
        if not digits.isdigit():
            raise _Bad("not an integer")
    number = int(digits, base)
    return _in_range(-number if text[0] == "-" else number, kind)


def _in_range(number: int, kind: str) -> int:
    bound = _INT_RANGE[kind]
    if not -bound <= number < bound:
        raise _Bad(f"out of range for {kind}")
    return number


def _parse_float(text: str, kind: str) -> float:
    """Go's strconv.ParseFloat: decimal or hexadecimal; NaN and infinities are refused (JSON has none)."""
    if len(text) > MAX_NUMBER_TEXT or not text.isascii() or "_" in text or text != text.strip():
        raise _Bad("not a number")
    body = text.lstrip("+-")
    try:
        number = float.fromhex(text) if body[:2] in ("0x", "0X") else float(text)
    except (ValueError, OverflowError):
        raise _Bad("not a number") from None
    return _finite(number, kind)


def _finite(number: float, kind: str) -> float:
    if not math.isfinite(number) or (kind == "float" and abs(number) > _FLOAT32_MAX):
        raise _Bad(f"out of range for {kind}")
    return number


def _go_string(value: Any) -> str:
    """A value as Go's ``%v`` writes it (objects and arrays as JSON)."""
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _go_float(value)
    if value is None:
        raise _Bad("null cannot be a string")
    return orjson.dumps(value).decode()


def _go_float(value: float) -> str:
    """Go's shortest ``%v`` of a float64: ``1.5``, ``100000``, ``1e+06``, ``1.234567e+06``, ``1e-05``."""
    if not math.isfinite(value):
        return "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # where the decimal point falls in the digits
    head = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:  # Go's %g with the shortest precision
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{head}{mantissa}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return head + digits + "0" * (point - len(digits))
    return f"{head}{digits[:point]}.{digits[point:]}"


def _convert(value: Any, kind: str) -> Any:
    """``value`` as Filebeat's convert makes it of ``kind``; _Bad when it cannot be. Numbers out of a type's
    range are refused (Go would wrap them silently); ``float`` is range-checked as float32 but kept in full."""
    vtype = type(value)
    if kind == "string":
        return _go_string(value)
    if kind in ("integer", "long"):
        if vtype is str:
            return _parse_int(value, kind)
        if vtype is int:
            return _in_range(value, kind)
        if vtype is float:
            if not math.isfinite(value):
                raise _Bad(f"out of range for {kind}")
            return _in_range(int(value), kind)
        raise _Bad(f"{kind_name(value)} cannot be {kind}")
    if kind in ("float", "double"):
        if vtype is str:
            return _parse_float(value, kind)
        if vtype is int or vtype is float:
            try:
                return _finite(float(value), kind)
            except OverflowError:
                raise _Bad(f"out of range for {kind}") from None
        raise _Bad(f"{kind_name(value)} cannot be {kind}")
    if kind == "boolean":
        if vtype is bool:
            return value
        if vtype is str and value in _TRUE:
            return True
        if vtype is str and value in _FALSE:
            return False
        raise _Bad("not a boolean")
    # ip: the string itself, checked (Go's net.ParseIP: no zone, no leading zeros)
    if vtype is str and len(value) <= MAX_NUMBER_TEXT and "%" not in value:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
    raise _Bad("not an IP address")


# ---- convert


@dataclass(frozen=True, slots=True)
class _Conversion:
    source: str
    target: str
    kind: str | None


class Convert(Processor):
    """Filebeat's ``convert``: every ``from`` converted first (a missing field or a value that cannot be
    converted fails unless ``ignore_missing`` / ``fail_on_error: false``), then written to ``to`` (copied, or
    moved with ``mode: rename``) or in place."""

    name: ClassVar[str] = "convert"
    tag: ClassVar[str] = "_convertfailure"

    def __init__(self, items: list[_Conversion], ignore_missing: bool, fail_on_error: bool, rename: bool,
                 schema: _Schema) -> None:
        self.items = items
        self.ignore_missing = ignore_missing
        self.fail_on_error = fail_on_error
        self.rename = rename
        self.schema = schema

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        done: list[tuple[_Conversion, Any]] = []
        for item in self.items:
            value = lookup(doc, item.source)
            if value is MISSING:
                if self.ignore_missing:
                    continue
                if self.fail_on_error:
                    raise Failure("field_missing", f"'{item.source}' is not in the event")
                continue
            if item.kind is not None:
                try:
                    value = _convert(value, item.kind)
                except _Bad as bad:
                    if self.fail_on_error:
                        raise Failure("bad_value", f"'{item.source}' cannot be converted to {item.kind}: {bad}")\
                            from None
                    continue
            done.append((item, value))
        work = doc
        for item, value in done:
            try:
                work = self._write(work, item, value)
            except Failure:
                if self.fail_on_error:
                    raise
        return _commit(doc, work)

    def _write(self, work: dict[str, Any], item: _Conversion, value: Any) -> dict[str, Any]:
        target = item.target or item.source
        if type(value) is dict or type(value) is list:
            problem = self.schema.problem_object(target)
            if problem is not None:
                raise Failure("bad_target", problem)

        def change(trial: dict[str, Any]) -> None:
            _put(trial, target, _clone(value) if item.target and not self.rename else value)
            if item.target and self.rename:
                delete(trial, item.source)

        return _attempt(work, (item.source, target), change)


@processor("convert")
def build_convert(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    rename = p.choice("mode", ("copy", "rename"), "copy") == "rename"
    p.string("tag", "", allow_empty=True)  # Filebeat's id for its logs; gelfingest names a processor by its line
    items = []
    for node in p.mappings("fields"):
        item = Params(node, "convert: fields", node.line)
        source = item.string("from")
        target = item.string("to", "", allow_empty=True)
        kind = item.raw("type", None)
        item.done()
        if kind is not None:
            if not isinstance(kind, str) or kind.lower() not in _TYPES:
                raise ConfigError(node.line_of("type"), f"convert: 'type' must be one of {', '.join(_TYPES)}, not "
                                  f"{kind!r}")
            kind = kind.lower()
        if not target and kind is None:
            raise ConfigError(node.line, "convert: each field needs a 'to' or a 'type'")
        _refuse(schema.problem_scalar(target or source), node.line, "convert")
        if target and rename:
            _refuse(schema.problem_removal(source), node.line, "convert", " (mode: rename would remove it)")
        items.append(_Conversion(source, target, kind))
    return Convert(items, p.boolean("ignore_missing", False), p.boolean("fail_on_error", True), rename, schema)


# ---- truncate_fields


class TruncateFields(Processor):
    """Filebeat's ``truncate_fields``: strings cut to ``max_bytes`` (of UTF-8, at a character's boundary) or
    ``max_characters``; an event with a value cut gets ``truncated`` in ``log.flags``, as Filebeat marks it."""

    name: ClassVar[str] = "truncate_fields"
    tag: ClassVar[str] = "_truncatefailure"

    def __init__(self, fields: list[str], max_bytes: int | None, max_characters: int | None,
                 ignore_missing: bool, fail_on_error: bool) -> None:
        self.fields = fields
        self.max_bytes = max_bytes
        self.max_characters = max_characters
        self.ignore_missing = ignore_missing
        self.fail_on_error = fail_on_error

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        cut: dict[str, str] = {}
        for path in self.fields:
            value = cut.get(path, MISSING)
            if value is MISSING:
                value = lookup(doc, path)
            if value is MISSING:
                if self.ignore_missing:
                    continue
                if self.fail_on_error:
                    raise Failure("field_missing", f"'{path}' is not in the event")
                continue
            if type(value) is not str:
                if self.fail_on_error:
                    raise Failure("bad_value", f"'{path}' is {kind_name(value)}, not a string")
                continue
            short = self._truncate(value)
            if short is not value:
                cut[path] = short
        if not cut:
            return doc
        for path, text in cut.items():
            put(doc, path, text)  # each was found as a string: its place exists
        _flag(doc, "log.flags", "truncated")
        return doc

    def _truncate(self, value: str) -> str:
        if self.max_characters is not None:
            return value[:self.max_characters] if len(value) > self.max_characters else value
        limit = self.max_bytes or 0
        if len(value) * 4 <= limit:  # a character is at most 4 bytes of UTF-8
            return value
        data = value.encode("utf-8", "surrogatepass")
        if len(data) <= limit:
            return value
        # the bytes of a character cut in two are left out
        return data[:limit].decode("utf-8", "ignore")


def _flag(doc: dict[str, Any], path: str, flag: str) -> None:
    """Add ``flag`` to the list at ``path`` when it can be (a value of another kind there is left alone)."""
    current = lookup(doc, path)
    if type(current) is list:
        if flag not in current:
            current.append(flag)
    elif current is MISSING:
        put(doc, path, [flag])


@processor("truncate_fields")
def build_truncate_fields(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    fields = p.strings("fields")
    for field in fields:
        _refuse(schema.problem_rewrite(field), p.line_of("fields"), "truncate_fields")
    if p.has("max_bytes") == p.has("max_characters"):
        raise ConfigError(p.line, "truncate_fields: give one of 'max_bytes' and 'max_characters'")
    max_bytes = p.integer("max_bytes", None, low=0)
    max_characters = p.integer("max_characters", None, low=0)
    return TruncateFields(fields, max_bytes, max_characters, p.boolean("ignore_missing", False),
                          p.boolean("fail_on_error", True))


# ---- dissect


@dataclass(frozen=True, slots=True)
class _Key:
    """One ``%{...}`` of a tokenizer."""

    kind: str  # "normal", "skip" (%{}), "named_skip" (%{?k}), "pointer" (%{*k}), "append" (%{+k}), "indirect" (%{&k})
    name: str
    ordinal: int  # %{+k/2}: the order in which appended pieces are joined
    length: int  # %{k#4}: a fixed number of characters; 0: up to the next delimiter
    greedy: bool  # %{k->}: the delimiter after it may repeat (padding)
    type: str | None  # %{k|integer}
    join: str  # for append: the delimiter before it, or a space


_PREFIXES: Final = {"?": "named_skip", "*": "pointer", "+": "append", "&": "indirect"}


def _parse_key(raw: str, before: str, line: int) -> _Key:
    """A key as Filebeat's dissect reads it: ``[prefix]name[/ordinal][#length][->][|type]``."""
    if not raw:
        return _Key("skip", "", 0, 0, False, None, "")
    rest, kind_type = raw, None
    if "|" in rest:
        rest, kind_type = rest.rsplit("|", 1)
        if kind_type not in _TYPES:
            raise ConfigError(line, f"dissect: '%{{{raw}}}': the type must be one of {', '.join(_TYPES)}")
    greedy = rest.endswith("->")
    if greedy:
        rest = rest[:-2]
    length = ordinal = 0
    for mark in ("#", "/"):
        head, sep, number = rest.rpartition(mark)
        if sep and head and number.isascii() and number.isdigit() and len(number) <= 2:
            rest = head
            if mark == "#":
                length = int(number)
            else:
                ordinal = int(number)
    if rest[:2] in ("+&", "&+"):
        raise ConfigError(line, f"dissect: '%{{{raw}}}' mixes the prefixes '+' and '&'")
    kind = _PREFIXES.get(rest[:1], "normal")
    name = rest[1:] if kind != "normal" else rest
    if not name:
        if kind == "named_skip":
            return _Key("skip", "", 0, length, greedy, None, "")
        raise ConfigError(line, f"dissect: '%{{{raw}}}' has no name")
    join = before if kind == "append" and before else " "
    return _Key(kind, name, ordinal, length, greedy, kind_type, join)


class _Dissector:
    """A tokenizer cut at build time into the text before each key, the keys and the text after the last;
    matching searches each delimiter once from where the last one ended (``str.find``), so it is linear in
    the value, and it fails as soon as a delimiter is missing."""

    def __init__(self, tokenizer: str, line: int) -> None:
        delimiters: list[str] = []
        keys: list[_Key] = []
        pos = 0
        while True:
            start = tokenizer.find("%{", pos)
            end = tokenizer.find("}", start + 2) if start >= 0 else -1
            if end < 0:
                break
            delimiters.append(tokenizer[pos:start])
            keys.append(_parse_key(tokenizer[start + 2:end], delimiters[-1], line))
            pos = end + 1
        if not keys:
            raise ConfigError(line, "dissect: the tokenizer has no %{key}")
        self.first = delimiters[0]
        # the delimiter after each key; the last key has none when the tokenizer ends with it
        self.after = delimiters[1:] + ([tokenizer[pos:]] if pos < len(tokenizer) else [])
        self.keys = keys
        self.ordered = sorted(range(len(keys)), key=lambda i: keys[i].ordinal)  # stable
        self.references = {k.name for k in keys if k.kind in ("named_skip", "pointer")}
        for key in keys:
            if key.kind == "indirect" and key.name not in self.references:
                raise ConfigError(line, f"dissect: '%{{&{key.name}}}' needs a '%{{?{key.name}}}' or "
                                  f"'%{{*{key.name}}}' to name it")
        self.static = {k.name for k in keys if k.kind in ("normal", "append")}

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        if not text or not text.startswith(self.first):
            return None
        offset = len(self.first)
        spans = []
        for key, delimiter in zip(self.keys, self.after, strict=False):
            start = offset
            if key.length:
                end = offset + key.length
                if end > len(text):
                    return None
            else:
                end = text.find(delimiter, offset) if delimiter else offset
                if end < 0:
                    return None
            offset = end
            if key.greedy and delimiter:
                while text.startswith(delimiter, offset + 1):  # Filebeat's padding rule, step for step
                    offset += 1
            spans.append((start, end))
            offset += len(delimiter)
        if len(self.after) < len(self.keys):  # the last key takes the rest
            last = self.keys[-1]
            if last.length and offset + last.length != len(text):
                return None
            spans.append((min(offset, len(text)), len(text)))
        return spans

    def dissect(self, text: str, trim: Callable[[str], str] | None) -> dict[str, Any] | None:
        spans = self.spans(text)
        if spans is None:
            return None
        found: dict[str, str] = {}
        types: dict[str, str] = {}
        for index in self.ordered:
            key = self.keys[index]
            start, end = spans[index]
            piece = text[start:end]
            if trim is not None:
                piece = trim(piece)
            if key.kind == "skip":
                continue
            if key.kind == "indirect":
                name = found.get(key.name)
                if name is None:
                    continue
                found[name] = piece
                if key.type:
                    types[name] = key.type
            elif key.kind == "append" and key.name in found:
                found[key.name] = found[key.name] + key.join + piece
            else:
                found[key.name] = piece
                if key.type:
                    types[key.name] = key.type
        out: dict[str, Any] = {}
        for name, piece in found.items():
            if name in self.references:
                continue
            kind = types.get(name)
            if kind is None:
                out[name] = piece
                continue
            try:  # as Filebeat: trailing spaces ignored, and a value that does not convert stays a string
                out[name] = _convert(piece.rstrip(" "), kind)
            except _Bad:
                out[name] = piece
        return out


class Dissect(Processor):
    """Filebeat's ``dissect``: ``field`` cut by ``tokenizer``; the keys written under ``target_prefix``
    (``dissect``; ``""``: the root). Nothing is written when the text does not match (``no_match``, or nothing
    at all with ``ignore_failure``) or when a key is already in the event and ``overwrite_keys`` is off
    (``target_exists``). Names made from the text (``%{&key}``) must pass GELF's field-name rule."""

    name: ClassVar[str] = "dissect"
    tag: ClassVar[str] = "_dissectfailure"

    def __init__(self, dissector: _Dissector, field: str, prefix: str, ignore_failure: bool, overwrite: bool,
                 trim: Callable[[str], str] | None, ctx: Context, schema: _Schema) -> None:
        self.dissector = dissector
        self.field = field
        self.prefix = f"{prefix}." if prefix else ""
        self.ignore_failure = ignore_failure
        self.overwrite = overwrite
        self.trim = trim
        self.max_name = ctx.limits.max_field_name
        self.schema = schema

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        text = lookup(doc, self.field)
        if text is MISSING:
            raise Failure("field_missing", f"'{self.field}' is not in the event")
        if type(text) is not str:
            raise Failure("bad_value", f"'{self.field}' is {kind_name(text)}, not a string")
        found = self.dissector.dissect(text, self.trim)
        if found is None:
            if self.ignore_failure:
                return doc
            raise Failure("no_match", f"'{self.field}' does not match the tokenizer")
        writes: list[tuple[str, Any]] = []
        for name, value in found.items():
            if name not in self.dissector.static and not self._dynamic_ok(name):
                continue
            path = self.prefix + name
            if not self.overwrite and lookup(doc, path) is not MISSING:
                raise Failure("target_exists", "a field it would write is already in the event (set overwrite_keys)")
            writes.append((path, value))

        def change(trial: dict[str, Any]) -> None:
            for path, value in writes:
                _put(trial, path, value)

        return _commit(doc, _attempt(doc, (path for path, _ in writes), change))

    def _dynamic_ok(self, name: str) -> bool:
        return _name_ok(name, self.max_name, root=not self.prefix) and \
            self.schema.problem_scalar(self.prefix + name) is None


def _trimmer(mode: str, chars: str) -> Callable[[str], str] | None:
    if mode == "none":
        return None
    if mode == "left":
        return lambda text: text.lstrip(chars)
    if mode == "right":
        return lambda text: text.rstrip(chars)
    return lambda text: text.strip(chars)


@processor("dissect")
def build_dissect(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    line = p.line_of("tokenizer")
    dissector = _Dissector(p.string("tokenizer"), line)
    prefix = p.string("target_prefix", "dissect", allow_empty=True)
    keys = {k.name for k in dissector.keys if k.kind in ("normal", "append")}
    if len(keys) > ctx.limits.max_fields:
        raise ConfigError(line, f"dissect: {len(keys)} keys (at most {ctx.limits.max_fields} fields)")
    for name in sorted(keys):
        path = f"{prefix}.{name}" if prefix else name
        if not all(path.split(".")):
            raise ConfigError(line, f"dissect: '{path}' is not a field name")
        _refuse(schema.problem_scalar(path), line, "dissect")
    trim = _trimmer(p.choice("trim_values", ("none", "left", "right", "all"), "none"),
                    p.string("trim_chars", " ", allow_empty=True))
    return Dissect(dissector, p.string("field", "message"), prefix, p.boolean("ignore_failure", False),
                   p.boolean("overwrite_keys", False), trim, ctx, schema)


# ---- decode_json_fields


def _name_ok(name: str, max_length: int, root: bool) -> bool:
    """GELF's rule for an additional field's name (fields.extra_name): letters, digits, ``_``, ``-`` and
    inner single dots, at most ``max_length`` characters; at the root also no leading ``_`` (Elasticsearch's
    metadata fields)."""
    return (0 < len(name) <= max_length and _FIELD_NAME.fullmatch(name) is not None and name[0] != "."
            and name[-1] != "." and ".." not in name and not (root and name[0] == "_"))


def _structured(text: str, first_only: bool) -> bool:
    """Whether ``text`` looks like a JSON object or array: its first character after blanks is ``{`` or
    ``[`` and its last one closes it (as Filebeat checks a layer inside a decoded value); at the top layer
    (``first_only``) an object need only open, so a JSON line cut short is tried and tagged."""
    body = text.strip(_JSON_SPACE)
    if not body or body[0] not in "{[":
        return False
    if first_only and body[0] == "{":  # a line that opens an object is meant as JSON: cut short, it fails
        return True
    # An array must close too: '[INFO] server started' and '[2024-01-01 12:00:00] ...' are log lines.
    return len(body) > 1 and body[-1] == ("}" if body[0] == "{" else "]")


class _Budget:
    """What one event's decode may still build and parse."""

    __slots__ = ("bytes", "fields")

    def __init__(self, fields: int, parse_bytes: int) -> None:
        self.fields = fields
        self.bytes = parse_bytes


class DecodeJsonFields(Processor):
    """Filebeat's ``decode_json_fields``: each field whose string looks like a JSON object or array is
    decoded and written over the field itself (``target`` unset), at ``target``, or merged into the root
    (``target: ""``).

    - Only values whose first character (after blanks) is ``{`` or ``[`` are tried; other values are left
      alone, untagged (a plain text line is not a failure). One that does not parse fails ``not_json``.
    - ``max_depth`` counts layers as Filebeat does: JSON text inside a decoded object's (with
      ``process_array``, array's) string values is decoded too, down to ``max_depth`` layers; deeper ones,
      and text that does not parse there, stay strings as they were. It is capped at ``--max-json-depth``,
      since each layer nests at least one level deeper.
    - Bounds: at most ``max_message_size`` bytes parsed per value (``too_large``) and twice that over all
      layers; more objects and arrays than ``--max-fields`` refused before parsing, and more fields (keys,
      objects and arrays, the event's own top-level ones counted) after it (``too_many_fields``); nesting
      deeper than ``--max-json-depth`` from the event's root (``too_deep``; orjson itself stops at 1024).
    - Names breaking GELF's rule for additional fields, or longer than ``--max-field-name-length``, are left
      out with their values, as the GELF decoder leaves such fields out.
    - Merging into the root (``target: ""``): objects are merged key by key; an existing key is kept unless
      ``overwrite_keys``. Keys naming a field gelfingest needs (``@timestamp``, ``host``, ``level``, ...) are
      left out even with ``overwrite_keys``, except ``message``, which takes the JSON's own scalar message;
      an object or array is never written where the template maps a scalar, nor a scalar where it maps an
      object: such keys are left out too, and the rest merged. A decoded array cannot be merged
      (``not_object``).
    - ``add_error_key`` writes Filebeat's ``error`` (``message``, ``type: json``, ``field``; not ``data``,
      which would copy a value that ``redact`` may be told to scrub only in its own field) as the one change
      a failure makes, besides the tag.
    - Several fields are decoded as one: if one fails, none is written.
    """

    name: ClassVar[str] = "decode_json_fields"
    tag: ClassVar[str] = "_jsonparsefailure"

    def __init__(self, fields: list[str], target: str | None, layers: int, overwrite: bool, add_error_key: bool,
                 process_array: bool, expand_keys: bool, ctx: Context, schema: _Schema) -> None:
        self.fields = fields
        self.target = target
        self.layers = layers
        self.overwrite = overwrite
        self.add_error_key = add_error_key
        self.process_array = process_array
        self.expand_keys = expand_keys
        self.limits = ctx.limits
        self.max_bytes = ctx.max_message_size
        self.schema = schema

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        budget = _Budget(self.limits.max_fields - len(doc), self.max_bytes * JSON_PARSE_BUDGET)
        decoded: list[tuple[str, Any]] = []
        for field in self.fields:
            text = lookup(doc, field)
            if type(text) is not str or not _structured(text, first_only=True):
                continue
            try:
                decoded.append((field, self._decode(field, text, budget)))
            except Failure as failure:
                if self.add_error_key:
                    put(doc, "error", {"message": f"parsing input as JSON: {failure.reason}: {failure.detail}",
                                       "type": "json", "field": field})
                raise
        if not decoded:
            return doc
        paths: list[str] = []
        for field, value in decoded:
            paths.extend(value if self.target == "" else (self.target or field,))

        def change(trial: dict[str, Any]) -> None:
            for field, value in decoded:
                if self.target == "":
                    self._merge(trial, value, "")
                else:
                    _put(trial, self.target or field, value)

        return _commit(doc, _attempt(doc, paths, change))

    def _decode(self, field: str, text: str, budget: _Budget) -> Any:
        value = self._parse(text, budget, strict=True)
        root = self.target == ""
        if root and type(value) is not dict:
            raise Failure("not_object", f"'{field}' holds a JSON array, which cannot be merged into the event")
        path = field if self.target is None else self.target
        depth = 1 if root else path.count(".") + 2  # where the decoded object sits, the event's root being 1
        before = budget.fields
        value = self._clean(value, depth, budget, 1, root)
        if self.expand_keys and type(value) is dict:
            value = _expand_keys(value)
            # expanding makes objects of dotted names: counted and bounded again
            budget.fields = before - self._measure(value, depth)
            if budget.fields < 0:
                raise Failure("too_many_fields", f"more than {self.limits.max_fields} fields, nested ones counted")
        return value

    def _parse(self, text: str, budget: _Budget, strict: bool) -> Any:
        """The JSON in ``text``; Failure (``strict``) or MISSING (a deeper layer, kept as a string) when it
        is not JSON; Failure always for a bound."""
        # A deeper layer past the parse budget stays a string; the first is at most max_message_size.
        if len(text) > self.max_bytes or len(text) > budget.bytes:
            if strict:
                raise Failure("too_large", f"{len(text)} characters of JSON (at most {self.max_bytes})")
            return MISSING
        try:
            payload = text.encode()
        except UnicodeEncodeError:
            if strict:
                raise Failure("not_json", "not UTF-8 text") from None
            return MISSING
        if len(payload) > self.max_bytes or len(payload) > budget.bytes:
            if strict:
                raise Failure("too_large", f"{len(payload)} bytes of JSON (at most {self.max_bytes})")
            return MISSING
        budget.bytes -= len(payload)
        if _too_many_containers(payload, self.limits.max_fields):
            raise Failure("too_many_fields", f"more than {self.limits.max_fields} objects and arrays")
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            if _json_reason(exc) == Reason.JSON_TOO_DEEP:
                raise Failure("too_deep", f"nested deeper than {self.limits.max_depth} levels") from None
            if strict:
                raise Failure("not_json", str(exc)[:200]) from None
            return MISSING

    def _clean(self, value: Any, depth: int, budget: _Budget, layer: int, root: bool) -> Any:
        """The decoded ``value`` (an object or array at ``depth``, the root of layer ``layer``) with its
        names checked and bounds counted, its deeper layers decoded; recursion is bounded by the depth."""
        if depth > self.limits.max_depth:
            raise Failure("too_deep", f"nested deeper than {self.limits.max_depth} levels")
        fresh = layer < self.layers
        if type(value) is dict:
            budget.fields -= 1 + len(value)
            if budget.fields < 0:
                raise Failure("too_many_fields", f"more than {self.limits.max_fields} fields, nested ones counted")
            out: dict[str, Any] = {}
            max_name = self.limits.max_field_name
            for key, inner in value.items():
                if _name_ok(key, max_name, root):
                    out[key] = self._member(inner, depth, budget, layer, fresh)
            return out
        budget.fields -= 1
        if budget.fields < 0:
            raise Failure("too_many_fields", f"more than {self.limits.max_fields} fields, nested ones counted")
        fresh = fresh and self.process_array
        return [self._member(inner, depth, budget, layer, fresh) for inner in value]

    def _member(self, value: Any, depth: int, budget: _Budget, layer: int, fresh: bool) -> Any:
        kind = type(value)
        if kind is dict or kind is list:
            return self._clean(value, depth + 1, budget, self.layers, False)
        if kind is str and fresh and _structured(value, first_only=False):
            inner = self._parse(value, budget, strict=False)
            if type(inner) is dict or (type(inner) is list and self.process_array):
                return self._clean(inner, depth + 1, budget, layer + 1, False)
        return value

    def _measure(self, value: Any, depth: int) -> int:
        """The fields ``value`` makes, counted as ``_clean`` counts them; Failure past the depth bound."""
        count = 0
        stack = [(value, depth)]
        while stack:
            item, level = stack.pop()
            if level > self.limits.max_depth:
                raise Failure("too_deep", f"nested deeper than {self.limits.max_depth} levels")
            inner = item.values() if type(item) is dict else item
            count += 1 + (len(item) if type(item) is dict else 0)
            stack.extend((x, level + 1) for x in inner if type(x) is dict or type(x) is list)
        return count

    def _merge(self, doc: dict[str, Any], value: dict[str, Any], prefix: str) -> None:
        """Filebeat's DeepUpdate (``overwrite_keys``) or DeepUpdateNoOverwrite, leaving out what the
        template or gelfingest forbid (see the class)."""
        for key, inner in value.items():
            path = prefix + key
            current = doc.get(key, MISSING)
            if type(inner) is dict and type(current) is dict:
                self._merge(current, inner, path + ".")
                continue
            if current is not MISSING and not self.overwrite:
                continue
            if self.schema.problem_value(path, inner) is None:
                doc[key] = inner


def _expand_keys(value: dict[str, Any]) -> dict[str, Any]:
    """Filebeat's ``expand_keys``: ``{"a.b": 1}`` becomes ``{"a": {"b": 1}}``, objects merged; a key given
    both as a value and as an object, or twice, fails ``key_conflict``. (Names were checked before: no
    empty parts, and the input's depth is bounded.)"""
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if type(inner) is dict:
            inner = _expand_keys(inner)
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            nested = node.setdefault(part, {})
            if type(nested) is not dict:
                raise Failure("key_conflict", "a key is both a value and an object")
            node = nested
        _merge_key(node, parts[-1], inner, key)
    return out


def _merge_key(node: dict[str, Any], name: str, value: Any, key: str) -> None:
    if name not in node:
        node[name] = value
        return
    current = node[name]
    if type(current) is not dict or type(value) is not dict:
        raise Failure("key_conflict", "a key is given twice")
    for inner_name, inner in value.items():
        _merge_key(current, inner_name, inner, key)


@processor("decode_json_fields")
def build_decode_json_fields(p: Params, ctx: Context) -> Processor:
    schema = _Schema(ctx)
    fields = p.strings("fields")
    target = _target(p, None)
    layers = p.integer("max_depth", 1, low=1)
    if p.string("document_id", "", allow_empty=True):
        p.fail("document_id", "is not supported: gelfingest gives each document its own id (a document id "
               "taken from the line would let one line overwrite another)")
    hint = " (set 'target', for example target: json, or target: \"\" to merge the keys into the event)"
    if target is None:
        for field in fields:
            _refuse(schema.problem_object(field), p.line_of("fields"), "decode_json_fields", hint)
    elif target:
        _refuse(schema.problem_object(target), p.line_of("target"), "decode_json_fields", hint)
    add_error_key = p.boolean("add_error_key", False)
    if add_error_key:
        _refuse(schema.problem_object("error"), p.line_of("add_error_key"), "decode_json_fields")
    return DecodeJsonFields(fields, target, min(layers, ctx.limits.max_depth), p.boolean("overwrite_keys", False),
                            add_error_key, p.boolean("process_array", False), p.boolean("expand_keys", False),
                            ctx, schema)
