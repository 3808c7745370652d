import pytest

from gelfingest.core.template import index_template, index_wildcard


@pytest.mark.parametrize(("pattern", "wildcard"), [
    ("logstash-%Y.%m.%d", "logstash-*"),
    ("logs-%Y-%m", "logs-*"),
    ("gelf", "gelf"),
    ("app-%Y.%m.%d-docker", "app-*-docker"),
    ("100%%-%Y", "100%-*"),
])
def test_wildcard(pattern: str, wildcard: str) -> None:
    assert index_wildcard(pattern) == wildcard


def test_template_maps_the_fields_that_matter() -> None:
    t = index_template("logstash-%Y.%m.%d")
    props = t["template"]["mappings"]["properties"]
    assert t["index_patterns"] == ["logstash-*"]
    assert props["sequence"] == {"type": "long"}
    assert props["@timestamp"] == {"type": "date"}
    assert props["message"]["type"] == "text"


def test_names_are_keywords_and_the_line_is_text_by_default() -> None:
    props = index_template("logstash-%Y.%m.%d")["template"]["mappings"]["properties"]
    for name in ("container_name", "image_name", "host", "tag", "command", "container_id", "image_id"):
        assert props[name]["type"] == "keyword" and "fields" not in props[name], name
    assert props["message"] == {"type": "text", "norms": False}
    dynamic = index_template("x")["template"]["mappings"]["dynamic_templates"]
    assert dynamic == [{"strings_as_keyword": {"match_mapping_type": "string",
                                               "mapping": {"type": "keyword", "ignore_above": 1024}}}]


def test_the_logstash_mapping_keeps_text_with_a_keyword_sub_field() -> None:
    props = index_template("x", mapping="logstash")["template"]["mappings"]["properties"]
    for name in ("container_name", "image_name", "host", "tag", "command"):
        assert props[name]["type"] == "text" and props[name]["fields"]["keyword"]["type"] == "keyword", name


def test_refresh_auto_leaves_the_interval_unset_and_shortens_search_idle() -> None:
    template = index_template("x")
    assert template["template"]["settings"] == {"index.search.idle.after": "1s"}
    assert template["_meta"] == {"managed_by": "gelfingest", "mapping": "keyword", "refresh_interval": "auto"}
    explicit = index_template("x", "ecs", refresh_interval="5s")
    assert explicit["template"]["settings"] == {"index.refresh_interval": "5s"}
    assert explicit["_meta"]["mapping"] == "ecs"
    # A lifecycle policy's settings go beside the refresh.
    with_policy = index_template("x", settings={"index.lifecycle.name": "p"})["template"]["settings"]
    assert with_policy == {"index.search.idle.after": "1s", "index.lifecycle.name": "p"}
