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
