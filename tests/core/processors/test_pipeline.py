"""The file as a whole (loader.py, pipeline.py): what a file cannot do to the daemon, and what a bug costs."""

from __future__ import annotations

from typing import Any

import pytest

from gelfingest.core.processors import ConfigError, build
from gelfingest.core.processors.base import Processor
from gelfingest.core.processors.loader import MAX_FILE_SIZE
from gelfingest.core.processors.pipeline import Step


@pytest.mark.parametrize(("text", "line", "problem"), [
    # Nine nested aliases in 500 bytes made gigabytes before they were refused.
    ("a: &x [1, 1]\nb: &y [*x, *x]\n", 2, "YAML aliases"),
    ("processors:\n  - drop_event:\n      when:\n        equals: {a: " + "9" * 5000 + "}\n", 0,
     "a value that cannot be read"),
    ('processors:\n  - drop_event:\n      when: {regexp: {message: "\\ud800"}}\n', 3, "not valid Unicode"),
    ("processors:\n" + "  - add_tags: {tags: [x]}\n" * (MAX_FILE_SIZE // 20), 0, "a processors file is at most"),
    ("processors:\n  - drop_event: {}\n  - drop_event: {}\n" + "\n" * 3 + "  - drop_event:\n    when: {}\n", 7,
     "one processor"),
])
def test_a_file_that_cannot_run_is_one_error_with_its_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(text)
    assert caught.value.line == line and problem in caught.value.problem, caught.value


class _Broken(Processor):
    name = "broken"
    tag = "_brokenfailure"

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        doc["message"] = "half-redacted"
        raise KeyError("a bug")


def test_a_processor_bug_drops_that_event_counted_and_said_without_its_content() -> None:
    pipeline = build("processors:\n  - add_tags: {tags: [a]}\n")
    pipeline.steps.append(Step("broken (line 9)", _Broken(), None))
    assert pipeline.run({"message": "secret 123"}) is None
    assert pipeline.failures == {("broken", "internal_error"): 1} and pipeline.dropped == {"broken": 1}
    (note,) = pipeline.notes()
    assert "KeyError" in note and "dropped" in note and "secret" not in note


def test_a_condition_that_raised_would_drop_the_event_not_crash() -> None:
    pipeline = build("processors:\n  - add_tags: {tags: [a]}\n  - if: {has_fields: [x]}\n"
                     "    then: [{add_tags: {tags: [then]}}]\n    else: [{add_tags: {tags: [else]}}]\n")

    def boom(doc: dict[str, Any]) -> bool:
        raise ValueError("a bug")

    pipeline.steps[1].when = boom
    assert pipeline.run({"message": "m"}) is None  # neither branch is trusted (one may redact)
    assert pipeline.failures == {("if", "internal_error"): 1} and pipeline.dropped == {"if": 1}
    pipeline.steps[0].when = boom
    assert pipeline.run({"message": "m"}) is None
    assert pipeline.failures[("add_tags", "internal_error")] == 1
