"""The processors of one file, run over each event in order: Filebeat's ``processors:`` list.

Each entry is ``- NAME: {params..., when: CONDITION}`` or ``- if: CONDITION`` / ``then: [...]`` /
``else: [...]``. ``build`` checks the whole file before anything runs; ``Pipeline.run`` takes one event
and returns it (changed in place) or None when a processor dropped it. A processor that fails leaves the
event as it was before it, adds the processor's tag to ``tags`` and is counted by processor and reason;
the first failure of each kind is kept as a line for the daemon's reject log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gelfingest.core.processors.base import (
    MAX_PROCESSORS,
    REGISTRY,
    ConfigError,
    Context,
    Failure,
    Items,
    Node,
    Params,
    Processor,
    kind_name,
    line_of,
)
from gelfingest.core.processors.conditions import Condition, build_condition
from gelfingest.core.processors.loader import parse

# Lines kept for the daemon to log before it takes them (each distinct kind is said once).
_MAX_NOTES = 64


@dataclass(slots=True)
class Step:
    """A processor with its condition, or (``processor`` None) an ``if`` with its two branches."""

    label: str
    processor: Processor | None
    when: Condition | None
    then: list[Step] = field(default_factory=list)
    otherwise: list[Step] = field(default_factory=list)


class Pipeline:
    def __init__(self, steps: list[Step], count: int) -> None:
        self.steps = steps
        # Processors in the file, nested ones counted.
        self.count = count
        self.failures: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        self._said: set[tuple[str, str]] = set()
        self._notes: list[str] = []
        # For ``gelfingest processors test``: the step that dropped the last event dropped, and (a list)
        # every failure as it happens; None while the daemon runs.
        self.dropped_by = ""
        self.trace: list[str] | None = None

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        return self._run(self.steps, doc)

    def _run(self, steps: list[Step], doc: dict[str, Any] | None) -> dict[str, Any] | None:
        for step in steps:
            if doc is None:
                return None
            when = step.when
            processor = step.processor
            if processor is None:
                try:
                    taken = when is None or when(doc)
                except Exception as exc:  # conditions never raise (their tests hold them to it); if one did,
                    # neither branch can be trusted to run (one may redact): the event goes, as for a bug below
                    self.failures[("if", "internal_error")] += 1
                    self.dropped["if"] += 1
                    self.dropped_by = step.label
                    self._note(step.label, "internal_error", f"{type(exc).__name__} (a bug in gelfingest; please "
                               f"report it with the processors file); the event is dropped")
                    return None
                doc = self._run(step.then if taken else step.otherwise, doc)
                continue
            try:
                if when is not None and not when(doc):
                    continue
                out = processor.run(doc)
            except Failure as failure:
                self._failed(step, processor, doc, failure.reason, failure.detail)
                continue
            except Exception as exc:  # a bug in a processor costs one event, never the worker
                # It may have changed the event half-way, so nothing of it is kept: a redact that broke must
                # not let what it was halfway through go on. Counted, and said once, without the event.
                self._failed(step, processor, None, "internal_error", f"{type(exc).__name__} (a bug in "
                             f"gelfingest; please report it with the processors file)")
                self.dropped[processor.name] += 1
                self.dropped_by = step.label
                return None
            if out is None:
                self.dropped[processor.name] += 1
                self.dropped_by = step.label
                return None
            doc = out
        return doc

    def _failed(self, step: Step, processor: Processor, doc: dict[str, Any] | None, reason: str,
                detail: str) -> None:
        self.failures[(processor.name, reason)] += 1
        if doc is not None:
            add_tag(doc, processor.tag)
        if self.trace is not None:
            self.trace.append(f"{step.label}: {reason}: {detail}")
        outcome = f"the event is kept as it was, tagged {processor.tag}" if doc is not None else \
            "the event is dropped: it may be half-changed"
        self._note(step.label, reason, f"{detail}; {outcome}")

    def _note(self, label: str, reason: str, text: str) -> None:
        if (label, reason) not in self._said and len(self._notes) < _MAX_NOTES:
            self._said.add((label, reason))
            self._notes.append(f"processor {label} failed ({reason}): {text}")

    def processors(self) -> list[Processor]:
        """Every processor of the file, nested ones included, in order."""
        out: list[Processor] = []
        stack = list(reversed(self.steps))
        while stack:
            step = stack.pop()
            if step.processor is not None:
                out.append(step.processor)
            stack += reversed(step.then + step.otherwise)
        return out

    def redacted(self) -> Counter[str]:
        """Values ``redact`` replaced (``replaced``), and of those the ones replaced whole because they could
        not be scanned (``unscanned``)."""
        out: Counter[str] = Counter()
        for processor in self.processors():
            out["replaced"] += getattr(processor, "redacted", 0)
            out["unscanned"] += getattr(processor, "unscanned", 0)
        return out

    def notes(self) -> list[str]:
        """The first failure of each kind not said yet, for the daemon to log."""
        notes, self._notes = self._notes, []
        return notes


def add_tag(doc: dict[str, Any], tag: str) -> None:
    """Add ``tag`` to the event's ``tags`` (made a list when it is missing or a single value)."""
    tags = doc.get("tags")
    if type(tags) is list:
        if tag not in tags:
            tags.append(tag)
    elif tags is None:
        doc["tags"] = [tag]
    else:
        doc["tags"] = [tags, tag] if tags != tag else [tag]


def build(text: str, ctx: Context | None = None) -> Pipeline:
    """The pipeline of a processors file's text; ConfigError (with the line) for the first problem."""
    ctx = ctx or Context()
    doc = parse(text)
    if doc is None:
        raise ConfigError(0, "the file is empty: it needs a 'processors:' list")
    if not isinstance(doc, Node):
        raise ConfigError(line_of(doc, 1), f"the file must be a mapping with a 'processors:' list, not "
                          f"{kind_name(doc)}")
    for key in doc:
        if key != "processors":
            raise ConfigError(doc.line_of(key), f"unknown key '{key}' (the file holds 'processors:')")
    if "processors" not in doc:
        raise ConfigError(doc.line, "the file needs a 'processors:' list")
    counter = [0]
    steps = _steps(doc["processors"], doc.line_of("processors"), ctx, counter, "processors")
    return Pipeline(steps, counter[0])


def _steps(items: Any, line: int, ctx: Context, counter: list[int], where: str) -> list[Step]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(line, f"'{where}' must be a list of processors, not {kind_name(items)}")
    return [_step(item, line_of(items, line), ctx, counter) for item in items]


def _step(item: Any, line: int, ctx: Context, counter: list[int]) -> Step:
    if not isinstance(item, Node):
        raise ConfigError(line_of(item, line), f"a processor must be a mapping such as '- drop_event: {{}}', "
                          f"not {kind_name(item)} {item!r}"[:300])
    if "if" in item:
        for key in item:
            if key not in ("if", "then", "else"):
                raise ConfigError(item.line_of(key), f"'if' takes 'then' and 'else', not '{key}'")
        if "then" not in item:
            raise ConfigError(item.line, "'if' needs a 'then' list")
        when = build_condition(item["if"], item.line_of("if"), ctx)
        then = _steps(item["then"], item.line_of("then"), ctx, counter, "then")
        otherwise = _steps(item.get("else"), item.line_of("else"), ctx, counter, "else")
        return Step(f"if (line {item.line})", None, when, then, otherwise)
    if len(item) != 1:
        names = ", ".join(f"'{key}'" for key in item)
        raise ConfigError(item.line, f"a processor entry holds one processor, not {names} (is the indentation "
                          f"of its parameters right?)")
    name, params = next(iter(item.items()))
    key_line = item.line_of(name)
    builder = REGISTRY.get(name)
    if builder is None:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(key_line, f"unknown processor '{name}' (known: {known})")
    counter[0] += 1
    if counter[0] > MAX_PROCESSORS:
        raise ConfigError(key_line, f"more than {MAX_PROCESSORS} processors in one file")
    p = Params(params, name, key_line)
    condition = build_condition(p.raw("when"), p.line_of("when"), ctx) if p.has("when") else None
    built = builder(p, ctx)
    p.done()
    return Step(f"{name} (line {key_line})", built, condition)


Run = Callable[[dict[str, Any]], dict[str, Any] | None]
__all__ = ["Items", "Pipeline", "Step", "add_tag", "build"]
