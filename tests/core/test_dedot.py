"""--dedot-fields: dots in additional field names become _, so labels that nest under one another in one
index stop clashing (Logstash's de_dot filter)."""

from __future__ import annotations

import pytest

from gelfingest.core.fields import DroppedField
from gelfingest.core.gelf import GelfDecoder
from gelfingest.core.logspout import LogspoutDecoder
from tests.helpers import gelf

NOW = 1_763_900_000.0
LABELS = {"_com.docker.compose.project": "demo", "_com.docker.compose.project.working_dir": "/srv/demo"}


@pytest.mark.parametrize("extra", [{}, {"_x": {"nested": 1}}])  # a plan, and the general path (nested)
def test_dots_become_underscores_and_both_labels_are_kept(extra: dict[str, object]) -> None:
    d = GelfDecoder(dedot=True)
    doc, _ = d.decode(gelf("labels", **LABELS, **extra), "h", NOW)
    assert doc["com_docker_compose_project"] == "demo"
    assert doc["com_docker_compose_project_working_dir"] == "/srv/demo"
    assert not [k for k in doc if "." in k] and not d.dropped_fields


def test_without_it_the_dotted_label_under_a_value_is_dropped_as_before() -> None:
    d = GelfDecoder()
    doc, _ = d.decode(gelf("labels", **LABELS), "h", NOW)
    assert doc["com.docker.compose.project"] == "demo" and "com.docker.compose.project.working_dir" not in doc
    assert d.dropped_fields == {DroppedField.CLASH: 1}


@pytest.mark.parametrize("order", [("_a.b", "_a_b"), ("_a_b", "_a.b")])
def test_a_dedotted_name_that_meets_a_plain_one_keeps_the_first(order: tuple[str, str]) -> None:
    for extra in ({}, {"_x": [1]}):
        d = GelfDecoder(dedot=True)
        doc, _ = d.decode(gelf("clash", **{order[0]: "first", order[1]: "second"}, **extra), "h", NOW)
        assert doc["a_b"] == "first" and d.dropped_fields == {DroppedField.CLASH: 1}


def test_our_own_fields_keep_their_rule() -> None:
    doc, _ = GelfDecoder(dedot=True).decode(gelf("ours", **{"_host.name": "web"}), "h", NOW)
    assert doc["host_name"] == "web" and doc["host"] == "test-host"


def test_logspout_lines_are_dedotted_too() -> None:
    line = b'{"message": "hi", "com.example.team": "ops", "docker": {"name": "/web"}}'
    doc, _ = LogspoutDecoder(dedot=True).decode(line, "h", NOW)
    assert doc["com_example_team"] == "ops"
