"""--schema ecs: the ECS form of what go-gelf, graypy, pygelf and logspout send; ids, config and template."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gelfingest.config import load_config
from gelfingest.core.bulk import ECS_INDEX_PATTERN, decode_item, document_ids
from gelfingest.core.ecs import ECS_VERSION, SEVERITIES, EcsMapper
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.template import ECS_TEMPLATE_NAME, index_template
from tests.helpers import compress, datagram, gelf, json_line, read_vector

NOW = 1_795_469_600.25


def ingest(**settings: Any) -> Ingest:
    return Ingest(IngestSettings(schema="ecs", document_id_prefix="p-", batch_max_docs=1, **settings))


def one(data: bytes, source: str = "10.0.0.7", **settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The action and the document one datagram becomes."""
    batch = datagram(ingest(**settings), data, source, NOW)
    assert batch is not None
    return decode_item(batch.items[0])


def test_docker_s_gelf_driver_fields_land_in_ecs_container_fields() -> None:
    (data,) = read_vector("gogelf_gzip_l1")
    action, doc = one(data)
    assert doc["message"] == "gogelf gzip 1 0"
    assert doc["@timestamp"] == "2026-11-23T21:33:09.066Z"
    assert doc["ecs"] == {"version": ECS_VERSION}
    assert doc["log"] == {"level": "info", "syslog": {"severity": {"code": 6, "name": "Informational"}}}
    assert doc["host"] == {"name": "docker-host"}
    assert doc["source"] == {"address": "10.0.0.7", "ip": "10.0.0.7"}
    assert doc["container"] == {
        "id": "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e",
        "name": "web-1",
        "image": {"name": "nginx:1.25"},
    }
    assert doc["event"] == {"sequence": 1, "ingested": "2026-11-23T21:33:20.250Z"}
    # What has no ECS home stays, under one namespace.
    assert doc["gelf"] == {
        "version": "1.1",
        "command": "nginx -g daemon off;",
        "created": "2026-11-23T08:00:00.123456789Z",
        "image_id": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "tag": "3f4e5d6c7b8a",
    }
    assert set(doc) == {"@timestamp", "message", "ecs", "log", "host", "source", "container", "event", "gelf"}
    # The id still comes from the sequence, which the document now carries as event.sequence.
    assert action == {"create": {"_index": "logstash-2026.11.23", "_id": "p-AAAAAAAAAAAB"}}


def test_graypy_s_logging_fields_land_in_process_and_log_fields() -> None:
    (data,) = read_vector("graypy_zlib")
    _, doc = one(data)
    assert doc["log"]["level"] == "warning"
    assert doc["log"]["syslog"]["severity"] == {"code": 4, "name": "Warning"}
    # graypy's GELF file and line (dropped before issue 16) are the ECS source location.
    assert doc["log"]["origin"] == {"function": "py_logger",
                                    "file": {"name": "/work/main/tests/vectors/capture.py", "line": 75}}
    assert "file" not in doc["gelf"] and "line" not in doc["gelf"]
    assert doc["process"] == {"pid": 3600, "name": "MainProcess", "thread": {"name": "MainThread"}}
    assert doc["gelf"]["facility"].startswith("capture-")
    assert doc["gelf"]["user"] == "alice"
    assert doc["gelf"]["version"] == "1.0"
    assert doc["gelf"]["stack_info"] is None


def test_pygelf_s_extras_go_under_gelf() -> None:
    (data,) = read_vector("pygelf_zlib")
    _, doc = one(data)
    assert doc["gelf"]["request_id"] == "r-1"
    assert doc["log"]["level"] == "warning"


@pytest.mark.parametrize(("level", "expected"), [
    (0, {"level": "emerg", "syslog": {"severity": {"code": 0, "name": "Emergency"}}}),
    (3, {"level": "err", "syslog": {"severity": {"code": 3, "name": "Error"}}}),
    (7, {"level": "debug", "syslog": {"severity": {"code": 7, "name": "Debug"}}}),
    (12, {"level": "12"}),
    ("5", {"level": "notice", "syslog": {"severity": {"code": 5, "name": "Notice"}}}),
])
def test_levels_become_the_syslog_keyword(level: Any, expected: dict[str, Any]) -> None:
    _, doc = one(gelf("x", timestamp=NOW, level=level))
    assert doc["log"] == expected


def test_no_level_no_log_object_and_a_bad_level_is_dropped_as_in_the_logstash_form() -> None:
    _, doc = one(gelf("x", timestamp=NOW))
    assert "log" not in doc
    _, doc = one(gelf("x", timestamp=NOW, level="loud"))
    assert "log" not in doc


def test_a_value_of_the_wrong_type_for_its_ecs_home_stays_under_gelf() -> None:
    _, doc = one(gelf("x", timestamp=NOW, _container_name=5, _pid="12", _thread_name=["a"],
                      _container_id="abc"))
    assert doc["container"] == {"id": "abc"}
    assert doc["gelf"]["container_name"] == 5
    assert doc["gelf"]["pid"] == "12"
    assert doc["gelf"]["thread_name"] == ["a"]
    assert "process" not in doc


def test_a_client_cannot_write_ecs_fields_it_does_not_mean() -> None:
    """Extras named like ECS objects (or dotted into them) stay under gelf: nothing but EXTRAS leaves it."""
    _, doc = one(gelf("x", timestamp=NOW, _ecs="1", _container={"id": "spoof"},
                      **{"_event.sequence": 5, "_log.level": "emerg", "_source.ip": "1.2.3.4"}))
    assert doc["event"]["sequence"] == 1
    assert "container" not in doc and doc["source"]["ip"] == "10.0.0.7"
    assert doc["ecs"] == {"version": ECS_VERSION}
    assert "log" not in doc
    assert doc["gelf"]["ecs"] == "1" and doc["gelf"]["container"] == {"id": "spoof"}
    assert doc["gelf"]["event.sequence"] == 5 and doc["gelf"]["log.level"] == "emerg"


def test_source_ip_only_when_the_sender_address_is_one() -> None:
    mapper = EcsMapper()
    base = {"@timestamp": "t", "message": "m"}
    assert mapper.document(base | {"source_host": "::1"}, 1, "i")["source"] == {"address": "::1", "ip": "::1"}
    assert mapper.document(base | {"source_host": "sock"}, 1, "i")["source"] == {"address": "sock"}
    assert mapper.document(base | {"host": 5}, 1, "i")["gelf"] == {"host": 5}


def test_logspout_lines_map_labels_and_tags() -> None:
    line = orjson.dumps({"message": "hi", "stream": "stderr", "tags": ["a", "b"],
                         "docker": {"name": "/web", "id": "cid", "image": "img:1", "hostname": "h",
                                    "labels": {"com.example.team": "ops"}}})
    batch = json_line(ingest(), line, "10.0.0.9", NOW)
    assert batch is not None
    _, doc = decode_item(batch.items[0])
    assert doc["container"] == {"name": "web", "id": "cid", "image": {"name": "img:1"},
                                "labels": {"com.example.team": "ops"}}
    assert doc["tags"] == ["a", "b"]
    assert doc["log"]["level"] == "err"
    assert doc["gelf"] == {"stream": "stderr"}


def test_sequences_and_ids_follow_the_progression_over_a_burst() -> None:
    ing = Ingest(IngestSettings(schema="ecs", document_id_prefix="q", sequence_seed=2, sequence_iterator=2,
                                batch_max_docs=3))
    batches, rejected = ing.take_many([compress(gelf(f"m{i}", timestamp=NOW), "gzip") for i in range(3)],
                                      ["10.0.0.1"] * 3, NOW)
    assert not rejected
    items = [decode_item(item) for item in batches[0].items]
    assert [doc["event"]["sequence"] for _, doc in items] == [2, 4, 6]
    assert [action["create"]["_id"] for action, _ in items] == [s.decode() for s in document_ids(b"q", [2, 4, 6])]
    assert all("sequence" not in doc for _, doc in items)


def test_the_logstash_form_stays_the_default() -> None:
    batch = datagram(Ingest(IngestSettings(document_id_prefix="p", batch_max_docs=1)),
                     gelf("x", timestamp=NOW, level=6, _container_name="web"), "10.0.0.7", NOW)
    assert batch is not None
    _, doc = decode_item(batch.items[0])
    assert doc["sequence"] == 1 and doc["level"] == 6 and doc["container_name"] == "web"


def test_schema_ecs_changes_the_index_and_template_defaults_but_not_given_ones() -> None:
    config = load_config([], {"GELFINGEST_SCHEMA": "ecs"})
    assert (config.schema, config.index, config.template_name) == ("ecs", ECS_INDEX_PATTERN, ECS_TEMPLATE_NAME)
    assert config.ingest_settings().schema == "ecs"
    config = load_config(["--schema", "ecs", "--index", "mine-%Y", "--template-name", "t"], {})
    assert (config.index, config.template_name) == ("mine-%Y", "t")
    config = load_config([], {})
    assert (config.schema, config.index, config.template_name) == ("logstash", "logstash-%Y.%m.%d", "gelfingest")


def _leaves(doc: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in doc.items():
        if type(value) is dict and prefix + key not in ("gelf", "container.labels"):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def _mapped(properties: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in properties.items():
        out.add(prefix + key)
        if "properties" in value:
            out |= _mapped(value["properties"], f"{prefix}{key}.")
    return out


def test_the_ecs_template_maps_every_field_the_mapper_writes() -> None:
    docs = []
    for vector in ("gogelf_gzip_l1", "graypy_zlib", "pygelf_zlib"):
        docs.append(one(read_vector(vector)[0])[1])
    docs.append(one(gelf("x", timestamp=NOW, level=12, _logger_name="app", _tags=["t"]))[1])
    template = index_template(ECS_INDEX_PATTERN, "ecs")
    assert template["index_patterns"] == ["ecs-gelfingest-*"]
    mapped = _mapped(template["template"]["mappings"]["properties"])
    written = set().union(*(_leaves(doc) for doc in docs))
    assert written <= mapped, written - mapped
    props = template["template"]["mappings"]["properties"]
    assert props["event"]["properties"]["sequence"] == {"type": "long"}
    assert props["source"]["properties"]["ip"] == {"type": "ip"}
    assert "sequence" not in props


# Not a value any message holds: a field that went missing never equals what was sent (None, {} included).
_MISSING = object()
_NAMES = st.sampled_from(["container_id", "container_name", "image_name", "labels", "tags", "pid",
                          "process_name", "thread_name", "logger_name", "function", "event", "log", "ecs",
                          "gelf", "source", "x", "host.name", "a.b"])
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=5), st.lists(st.text(max_size=3), max_size=3),
                    st.dictionaries(st.text(min_size=1, max_size=3), st.text(max_size=3), max_size=2))


@settings(max_examples=300, deadline=None)
@given(extras=st.dictionaries(_NAMES, _VALUES, max_size=8), level=_VALUES, host=_VALUES)
def test_every_field_of_the_logstash_form_lands_somewhere_in_the_ecs_form(
        extras: dict[str, Any], level: Any, host: Any) -> None:
    """Nothing the Logstash form keeps is lost or changed by the ECS form: each field is at its ECS home
    or under gelf with its value."""
    from gelfingest.core.ecs import EXTRAS
    from gelfingest.core.gelf import GelfDecoder

    message = {"short_message": "m", "timestamp": NOW, "level": level, "host": host,
               **{"_" + k: v for k, v in extras.items()}}
    logstash, _ = GelfDecoder().decode(orjson.dumps(message), "10.1.2.3", NOW)
    doc = EcsMapper().document(logstash, 7, "i")
    orjson.dumps(doc)
    assert doc["event"] == {"sequence": 7, "ingested": "i"} and doc["message"] == "m"
    for key, value in logstash.items():
        if key in ("@timestamp", "message"):
            continue
        if key == "level":  # the decoder keeps only integer levels
            assert doc["log"]["level"] == (SEVERITIES[value][0] if 0 <= value < 8 else str(value))
            continue
        home = {"host": ("host", "name"), "source_host": ("source", "address")}.get(key) or \
            (EXTRAS[key][0] if key in EXTRAS else None)
        at_home: Any = doc if home else _MISSING
        for name in home or ():
            at_home = at_home.get(name, _MISSING) if type(at_home) is dict else _MISSING
        assert at_home == value or doc.get("gelf", {}).get(key, _MISSING) == value, key
