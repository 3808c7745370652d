"""What every processor and condition shares: the file's nodes with their lines, checked parameters,
field paths, bounded regular expressions, and the two ways a processor ends (``Failure``, ``Drop``).

A processors file is read once into ``Node`` (a mapping that knows its line and each key's line) and
``Items`` (a list that knows its line); every builder takes one, reads its parameters through ``Params``,
and raises ``ConfigError`` with the line of what is wrong. Nothing here sees a socket or a clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, NoReturn

import re2

from gelfingest.core.fields import Limits

# A pattern longer than this is refused: RE2 compiles in time and memory linear in the pattern, and no
# rule a person writes is this long (Filebeat's own longest built-in patterns are under 300 characters).
MAX_PATTERN_LENGTH: Final = 4096
# RE2's memory for one compiled program and its DFA caches (RE2's own default is 8 MiB): a pattern that
# needs more is refused at start, and a search that would exceed it falls back to RE2's NFA, still linear.
MAX_PATTERN_MEMORY: Final = 8 << 20
# Processors in one file, nested ones counted: each costs a call per event.
MAX_PROCESSORS: Final = 256
# Replacements one processor makes in one value (``replace``, ``redact``): a value with more matches has
# the rest left as it was (``replace``) or is redacted whole (``redact`` fails closed).
MAX_REPLACEMENTS: Final = 1000


class ConfigError(ValueError):
    """A processors file that cannot run: the line (1-based; 0 when unknown) and the problem."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.line = line
        self.problem = problem


class Failure(Exception):
    """A processor could not do its work on this event: the event stays as it was before the processor,
    is tagged with the processor's tag, and is counted by ``reason`` (a short stable token)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Node(dict[str, Any]):
    """A mapping of the processors file, with its line and each key's line."""

    line: int
    key_lines: dict[str, int]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class Items(list[Any]):
    """A sequence of the processors file, with its line."""

    line: int

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line


def line_of(value: Any, default: int) -> int:
    return value.line if isinstance(value, (Node, Items)) else default


_MISSING: Final = object()


def kind_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Params:
    """A processor's or condition's parameters: each read once, with its type checked; ``done()`` refuses
    the ones nobody read (a misspelt parameter is an error, never ignored)."""

    def __init__(self, node: Any, where: str, line: int) -> None:
        if node is None:
            node = Node(line)
        if not isinstance(node, dict):
            raise ConfigError(line, f"{where} takes a mapping of parameters, not {kind_name(node)}")
        self.node: Node = node if isinstance(node, Node) else _as_node(node, line)
        self.where = where
        self.line = self.node.line or line
        self._read: set[str] = set()

    def line_of(self, key: str) -> int:
        return self.node.line_of(key)

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(self.line_of(key), f"{self.where}: '{key}' {problem}")

    def has(self, key: str) -> bool:
        return key in self.node

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._read.add(key)
        if key not in self.node:
            if default is _MISSING:
                raise ConfigError(self.line, f"{self.where}: '{key}' is required")
            return default
        return self.node[key]

    def string(self, key: str, default: Any = _MISSING, allow_empty: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {kind_name(value)}")
        if not value and not allow_empty:
            self.fail(key, "must not be empty")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {kind_name(value)}")
        return value

    def integer(self, key: str, default: Any = _MISSING, low: int | None = None, high: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, not {kind_name(value)}")
        if low is not None and value < low:
            self.fail(key, f"must be at least {low}, not {value}")
        if high is not None and value > high:
            self.fail(key, f"must be at most {high}, not {value}")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, not {kind_name(value)}")
        return value

    def strings(self, key: str, default: Any = _MISSING, allow_one: bool = True) -> Any:
        """A list of non-empty strings; a single string stands for a list of one when ``allow_one``."""
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if isinstance(value, str) and allow_one:
            value = [value]
        if not isinstance(value, list):
            self.fail(key, f"must be a list of strings, not {kind_name(value)}")
        for item in value:
            if not isinstance(item, str) or not item:
                self.fail(key, f"must hold only non-empty strings, not {kind_name(item)}")
        return list(value)

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, not {kind_name(value)}")
        return value if isinstance(value, Node) else _as_node(value, self.line_of(key))

    def mappings(self, key: str, default: Any = _MISSING) -> Any:
        """A list of mappings (``fields: [{from: a, to: b}]``), each a Node with its line."""
        value = self.raw(key, default)
        if value is default and key not in self.node:
            return value
        if not isinstance(value, list) or not value:
            self.fail(key, f"must be a non-empty list of mappings, not {kind_name(value)}")
        out = []
        for item in value:
            if not isinstance(item, dict):
                raise ConfigError(line_of(item, self.line_of(key)),
                                  f"{self.where}: '{key}' must hold mappings, not {kind_name(item)}")
            out.append(item if isinstance(item, Node) else _as_node(item, self.line_of(key)))
        return out

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, not '{value}'")
        return str(value)

    def done(self) -> None:
        unknown = [key for key in self.node if key not in self._read]
        if unknown:
            key = unknown[0]
            raise ConfigError(self.line_of(key), f"{self.where}: unknown parameter '{key}'")


def _as_node(value: dict[str, Any], line: int) -> Node:
    node = Node(line)
    for key, inner in value.items():
        node[str(key)] = inner
    return node


# ---- regular expressions


def compile_regex(pattern: Any, line: int, where: str, max_length: int = MAX_PATTERN_LENGTH) -> re2._Regexp:
    """An RE2 program for ``pattern``, or ConfigError with RE2's reason (look-around and back-references
    are not RE2's: matching stays linear in the text whatever a sender writes). ``max_length`` is raised
    only for a program joined from patterns each already checked against MAX_PATTERN_LENGTH."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(line, f"{where}: a regular expression must be a non-empty string, not "
                          f"{kind_name(pattern)}")
    if len(pattern) > max_length:
        raise ConfigError(line, f"{where}: a {len(pattern)}-character regular expression (at most "
                          f"{max_length})")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in YAML): not text RE2 can read
        raise ConfigError(line, f"{where}: the regular expression is not valid Unicode text") from None
    except re2.error as exc:
        reason = exc.args[0] if exc.args else str(exc)
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hint = (" (RE2 has no look-around or back-references: matching must stay linear in the text)"
                if "perl operator" in reason or "escape sequence" in reason else "")
        raise ConfigError(line, f"{where}: regular expression {pattern!r} cannot be used: {reason}{hint}") \
            from None


# ---- field paths: the document's own names, dotted for nested fields


def lookup(doc: dict[str, Any], path: str) -> Any:
    """The value at ``path``, or ``MISSING``. A key holding dots is found as it is (``a.b`` as one key)
    before the path is walked through nested objects, so both spellings of a field work."""
    value = doc.get(path, MISSING)
    if value is not MISSING or "." not in path:
        return value
    node: Any = doc
    rest = path
    while True:
        if type(node) is not dict:
            return MISSING
        if rest in node:
            return node[rest]
        if "." not in rest:
            return MISSING
        # the longest prefix that is a key of its own (``labels.app`` under ``kubernetes``)
        cut = rest.rfind(".")
        while cut > 0:
            if rest[:cut] in node:
                break
            cut = rest.rfind(".", 0, cut)
        if cut <= 0:
            return MISSING
        node, rest = node[rest[:cut]], rest[cut + 1:]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()


def has(doc: dict[str, Any], path: str) -> bool:
    return lookup(doc, path) is not MISSING


def put(doc: dict[str, Any], path: str, value: Any, overwrite: bool = True) -> bool:
    """Set ``path`` to ``value``, making the objects on the way; False (and nothing changed) when the
    field is there and ``overwrite`` is off, or when a value on the way is not an object."""
    if path in doc or "." not in path:
        if not overwrite and path in doc:
            return False
        doc[path] = value
        return True
    parent, name = _parent(doc, path, create=False)
    if parent is not None:
        if not overwrite and name in parent:
            return False
        parent[name] = value
        return True
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        inner = node.get(part)
        if inner is None:
            inner = node[part] = {}
        elif type(inner) is not dict:
            return False
        node = inner
    if not overwrite and parts[-1] in node:
        return False
    node[parts[-1]] = value
    return True


def delete(doc: dict[str, Any], path: str) -> Any:
    """Remove the field at ``path``; its value, or MISSING when it was not there."""
    if path in doc:
        return doc.pop(path)
    if "." not in path:
        return MISSING
    parent, name = _parent(doc, path, create=False)
    if parent is None or name not in parent:
        return MISSING
    return parent.pop(name)


def _parent(doc: dict[str, Any], path: str, create: bool) -> tuple[dict[str, Any] | None, str]:
    """The object holding ``path``'s last part as the document has it, found as ``lookup`` finds it."""
    cut = path.rfind(".")
    while cut > 0:
        head, name = path[:cut], path[cut + 1:]
        node = lookup(doc, head)
        if type(node) is dict:
            return node, name
        cut = path.rfind(".", 0, cut)
    return None, path


# ---- what building a processor or condition knows


@dataclass(frozen=True, slots=True)
class Context:
    """What the daemon's configuration tells the builders."""

    schema: str = "logstash"
    limits: Limits = field(default_factory=Limits)
    max_message_size: int = 1 << 20
    # A key for ``redact``'s keyed hash (read from its file by the daemon), by the path the file names.
    keys: dict[str, bytes] = field(default_factory=dict)
    # Reads a key file named in the processors file (the daemon's; None: no file can be read here).
    read_key: Callable[[str], bytes] | None = None

    @property
    def scalar_fields(self) -> frozenset[str]:
        """Fields the index template maps as scalars, which no processor may turn into an object."""
        return ECS_SCALARS if self.schema == "ecs" else LOGSTASH_SCALARS

    @property
    def required_fields(self) -> frozenset[str]:
        """Fields gelfingest itself needs on every event: ``include_fields`` keeps them."""
        return ECS_REQUIRED if self.schema == "ecs" else LOGSTASH_REQUIRED


LOGSTASH_SCALARS: Final = frozenset({
    "@timestamp", "@version", "message", "sequence", "level", "host", "source_host", "facility",
    "full_message", "version", "file", "line", "container_id", "container_name", "image_name", "image_id",
    "command", "created", "tag", "multiline_lines"})
LOGSTASH_REQUIRED: Final = frozenset({"@timestamp", "message", "host", "source_host", "level"})
ECS_SCALARS: Final = frozenset({
    "@timestamp", "message", "event.sequence", "event.ingested", "log.level", "host.name",
    "source.address", "source.ip", "container.id", "container.name", "container.image.name",
    "ecs.version"})
ECS_REQUIRED: Final = frozenset({"@timestamp", "message", "ecs", "event", "host", "source"})


# ---- processors


class Processor:
    """One step of the file. ``run`` changes the event in place and returns it, returns None to drop it,
    or raises ``Failure`` having changed nothing (a processor that changes several fields works on a copy
    or checks first, so a failure leaves the event as it was)."""

    # The processor's name in the file, and the tag a failure adds (Logstash's ``_<name>failure``).
    name: ClassVar[str] = ""
    tag: ClassVar[str] = ""

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError


Builder = Callable[[Params, Context], Processor]
REGISTRY: dict[str, Builder] = {}


def processor(name: str) -> Callable[[Builder], Builder]:
    """Register a builder under the name the file uses."""
    def register(builder: Builder) -> Builder:
        if name in REGISTRY:
            raise RuntimeError(f"processor {name!r} registered twice")
        REGISTRY[name] = builder
        return builder
    return register
