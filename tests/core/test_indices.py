"""Index and pipeline names from field references: valid, within the pattern's prefix, bounded in number."""

from __future__ import annotations

from typing import Any

import pytest

from gelfingest.core.bulk import decode_item
from gelfingest.core.indices import (
    MAX_INDEX_NAME,
    Fallback,
    IndexRouter,
    PipelineRouter,
    literal_prefix,
    lookup,
    without_references,
)
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.template import index_template, index_wildcard
from tests.helpers import gelf

NOW = 1_763_900_000.0  # 2025-11-23
DAY = int(NOW)
PATTERN = "logs-%{container_name}-%Y.%m.%d"


def names(router: IndexRouter, *docs: dict[str, Any], now: float = NOW) -> list[str]:
    return router.names(list(docs), [DAY] * len(docs), now)


def test_a_reference_names_the_index_by_the_event_s_field_and_time() -> None:
    router = IndexRouter(PATTERN)
    assert names(router, {"container_name": "web-1"}, {"container_name": "db"}) == [
        "logs-web-1-2025.11.23", "logs-db-2025.11.23"]
    assert router.fallbacks == {}


@pytest.mark.parametrize(("value", "name"), [
    ("../x", "logs-.._x-2025.11.23"),
    ("_all", "logs-_all-2025.11.23"),
    ("*", "logs-_-2025.11.23"),
    ("a,b*c?d", "logs-a_b_c_d-2025.11.23"),
    ('q"u<o>t|e#s:\\', "logs-q_u_o_t_e_s__-2025.11.23"),
    ("Web Server", "logs-web_server-2025.11.23"),
    ("ÉCOLE-日本", "logs-école-日本-2025.11.23"),
    ("tab\tnew\nline", "logs-tab_new_line-2025.11.23"),
    ("%Y", "logs-%y-2025.11.23"),  # a value is never read as a directive
    (42, "logs-42-2025.11.23"),
    (True, "logs-true-2025.11.23"),
])
def test_hostile_values_are_made_a_valid_name_inside_the_prefix(value: Any, name: str) -> None:
    (got,) = names(IndexRouter(PATTERN), {"container_name": value})
    assert got == name and got.startswith("logs-")


def test_a_long_value_is_cut_to_a_name_of_at_most_255_bytes() -> None:
    (got,) = names(IndexRouter(PATTERN), {"container_name": "é" * 300})
    assert len(got.encode()) <= MAX_INDEX_NAME and got.startswith("logs-é") and got.endswith("-2025.11.23")
    (got,) = names(IndexRouter("logs-%{a}-%{b}"), {"a": "x" * 300, "b": "y" * 300})
    assert len(got.encode()) <= MAX_INDEX_NAME and "x" in got and "y" in got


@pytest.mark.parametrize("doc", [{}, {"container_name": ""}, {"container_name": None}, {"container_name": {"a": 1}},
                                 {"container_name": [1]}])
def test_an_event_without_the_field_goes_to_the_fallback(doc: dict[str, Any]) -> None:
    router = IndexRouter(PATTERN)
    assert names(router, doc) == ["logs-2025.11.23"]
    assert router.fallbacks == {Fallback.MISSING_FIELD: 1}
    assert names(IndexRouter(PATTERN, fallback="orphans-%Y"), doc) == ["orphans-2025"]


def test_past_max_targets_a_day_new_names_go_to_the_fallback_counted() -> None:
    router = IndexRouter(PATTERN, max_targets=100)
    got = names(router, *({"container_name": f"c{k}"} for k in range(10_000)))
    assert len(set(got)) == 101 and got[:100] == [f"logs-c{k}-2025.11.23" for k in range(100)]
    assert set(got[100:]) == {"logs-2025.11.23"}
    assert router.fallbacks == {Fallback.TOO_MANY_TARGETS: 9_900}
    # Names already written to keep being written to; the next day starts afresh.
    assert names(router, {"container_name": "c5"}) == ["logs-c5-2025.11.23"]
    assert names(router, {"container_name": "c500"}, now=NOW + 86400) == ["logs-c500-2025.11.23"]


def test_nested_and_dotted_references() -> None:
    doc = {"labels": {"team": "Shop"}, "com.docker.compose.service": "api"}
    assert lookup(doc, ("labels", "team")) == "Shop"
    assert names(IndexRouter("logs-%{[labels][team]}"), doc) == ["logs-shop"]
    assert names(IndexRouter("logs-%{labels.team}"), doc) == ["logs-shop"]
    assert names(IndexRouter("logs-%{com.docker.compose.service}"), doc) == ["logs-api"]


def test_the_prefix_the_fallback_and_the_template_cover_every_name() -> None:
    assert literal_prefix(PATTERN) == "logs-" and literal_prefix("%{app}-x") == ""
    assert without_references(PATTERN) == "logs-%Y.%m.%d"
    assert without_references("logs_%{a}_%{b}") == "logs"
    assert index_wildcard(PATTERN) == "logs-*"
    assert index_template(PATTERN, also=["orphans-%Y"])["index_patterns"] == ["logs-*", "orphans-*"]
    with pytest.raises(ValueError):
        IndexRouter("%{container_name}-%Y")


def test_pipelines_keep_their_case_and_an_event_without_the_field_goes_through_none() -> None:
    router = PipelineRouter("gelf-%{pipeline_label}")
    assert router.names([{"pipeline_label": "Nginx Access"}, {}]) == ["gelf-Nginx_Access", None]
    assert PipelineRouter("fixed").names([{}, {}]) == ["fixed", "fixed"]


def test_through_the_core_each_event_is_routed_before_the_ecs_form_moves_its_fields() -> None:
    for schema in ("logstash", "ecs"):
        ingest = Ingest(IngestSettings(index=PATTERN, pipeline="gelf-%{tag}", schema=schema,  # type: ignore[arg-type]
                                       document_id_prefix="p-"))
        ready, _ = ingest.take_many([gelf("a", _container_name="Web", _tag="nginx", timestamp=NOW),
                                     gelf("b", timestamp=NOW)], ["h", "h"], NOW)
        tail = ingest.flush()
        items = [i for b in [*ready, *([tail] if tail else [])] for i in b.items]
        actions = [decode_item(i)[0]["create"] for i in items]
        assert actions == [{"_index": "logs-web-2025.11.23", "pipeline": "gelf-nginx", "_id": "p-AAAAAAAAAAAB"},
                           {"_index": "logs-2025.11.23", "_id": "p-AAAAAAAAAAAC"}]
        assert ingest.index_fallbacks == {Fallback.MISSING_FIELD: 1}


# -- lifecycle names -----------------------------------------------------------------------------------------

def test_names_are_read_back_with_their_date_and_the_end_of_the_period_they_cover() -> None:
    from gelfingest.core.indices import dated_index, period_end, rolled_base, rolled_pattern, without_dates, write_alias

    daily = dated_index("logs-%{app}-%Y.%m.%d")
    assert daily is not None
    m = daily.fullmatch("logs-web-1-2025.11.23")
    assert m is not None and str(period_end(m)) == "2025-11-24 00:00:00+00:00"
    bad = daily.fullmatch("logs-web-2025.13.40")
    assert bad is not None and period_end(bad) is None  # a date that is not one: never deleted
    assert daily.fullmatch("logs-2025.11.23") is None and daily.fullmatch("other-web-2025.11.23") is None
    monthly = dated_index("x-%Y.%m")
    assert monthly is not None and str(period_end(monthly.fullmatch("x-2025.12"))) == "2026-01-01 00:00:00+00:00"  # type: ignore[arg-type]
    assert dated_index("x-%Y-%j") is None and dated_index("x-%m.%d") is None and dated_index("x") is None
    assert without_dates("logstash-%Y.%m.%d") == "logstash" and write_alias("logs-%{app}-%Y") == "logs-%{app}-write"
    assert rolled_pattern("logs-%{app}-%Y") == "logs-%{app}-*" and rolled_base("logs-web-000012") == "logs-web"
    assert rolled_base("logs-web-2025.11.23") is None
