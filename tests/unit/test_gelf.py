import json

import pytest

from gelfingest.errors import DecodeError, Reason
from gelfingest.gelf import DroppedField, GelfDecoder
from tests.helpers import gelf

NOW = 1_763_900_000.5


def decode(payload: bytes, now: float = NOW) -> dict:
    doc, _ = GelfDecoder().decode(payload, "10.1.2.3", now)
    return doc


def test_docker_message_maps_like_logstash() -> None:
    doc = decode(gelf("GET / 200", timestamp=1700000000.123, level=6, facility="web", full_message="long",
                      _container_name="web-1", _container_id="abc", _tag="t"))
    assert doc == {
        "@timestamp": "2023-11-14T22:13:20.123Z",
        "message": "GET / 200",
        "full_message": "long",
        "host": "test-host",
        "facility": "web",
        "version": "1.1",
        "level": 6,
        "source_host": "10.1.2.3",
        "container_name": "web-1",
        "container_id": "abc",
        "tag": "t",
    }


def test_returns_whole_epoch_seconds_for_the_index() -> None:
    _, seconds = GelfDecoder().decode(gelf(timestamp=1700000000.999), "h", NOW)
    assert seconds == 1700000000
    _, seconds = GelfDecoder().decode(gelf(timestamp=1700000000.9996), "h", NOW)
    assert seconds == 1700000001  # rounds to the millisecond first


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1700000000, "2023-11-14T22:13:20.000Z"),
        (1700000000.5, "2023-11-14T22:13:20.500Z"),
        ("1700000000.25", "2023-11-14T22:13:20.250Z"),
        (1700000000.0019, "2023-11-14T22:13:20.002Z"),
    ],
)
def test_timestamps(ts: object, expected: str) -> None:
    assert decode(gelf(timestamp=ts))["@timestamp"] == expected


@pytest.mark.parametrize("ts", ["yesterday", None, True, [], {}, -5, 1e20, "nan"])
def test_unusable_timestamps_fall_back_to_the_receive_time(ts: object) -> None:
    assert decode(gelf(timestamp=ts))["@timestamp"] == "2025-11-23T12:13:20.500Z"


def test_missing_timestamp_uses_the_receive_time() -> None:
    assert decode(gelf())["@timestamp"] == "2025-11-23T12:13:20.500Z"


def test_graypy_version_1_0_is_accepted() -> None:
    assert decode(gelf(version="1.0"))["version"] == "1.0"


def test_id_never_becomes_the_document_id() -> None:
    doc = decode(gelf(_id="spoof"))
    assert doc["id"] == "spoof"
    assert "_id" not in doc


def test_booleans_and_nested_values_are_kept() -> None:
    doc = decode(gelf(_ok=True, _ctx={"a": [1, {"b": None}]}, _n=1.5))
    assert doc["ok"] is True
    assert doc["ctx"] == {"a": [1, {"b": None}]}
    assert doc["n"] == 1.5


def test_names_outside_the_gelf_rule_are_dropped_and_counted() -> None:
    d = GelfDecoder()
    doc, _ = d.decode(gelf(**{"_app.kubernetes.io/name": "x", "_ok.name-1": 1, "_": 2, "_a..b": 3,
                              "_.a": 4}), "h", NOW)
    assert doc["ok.name-1"] == 1
    assert not {"app.kubernetes.io/name", "", "a..b", ".a"} & doc.keys()
    assert d.dropped_fields[DroppedField.INVALID_NAME] == 4


@pytest.mark.parametrize("name", ["_message", "_sequence", "_source_host", "_host", "__id", "__index",
                                  "__source", "_timestamp", "_level"])
def test_names_that_would_overwrite_ours_or_metadata_are_dropped(name: str) -> None:
    d = GelfDecoder()
    doc, _ = d.decode(gelf(**{name: "spoof"}), "10.0.0.1", NOW)
    assert "spoof" not in doc.values()
    assert d.dropped_fields[DroppedField.RESERVED] == 1


def test_level_is_kept_as_an_integer_or_dropped() -> None:
    assert decode(gelf(level="3"))["level"] == 3
    assert decode(gelf(level=4.0))["level"] == 4
    d = GelfDecoder()
    doc, _ = d.decode(gelf(level="WARN"), "h", NOW)
    assert "level" not in doc
    assert d.dropped_fields[DroppedField.INVALID_LEVEL] == 1


def test_non_underscore_unknown_fields_are_not_indexed() -> None:
    assert "file" not in decode(gelf(file="x.py"))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"null", Reason.NOT_AN_OBJECT),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b"42", Reason.NOT_AN_OBJECT),
        (b'"text"', Reason.NOT_AN_OBJECT),
        (b"{}", Reason.MISSING_SHORT_MESSAGE),
        (b'{"short_message": ""}', Reason.MISSING_SHORT_MESSAGE),
        (b'{"short_message": 5}', Reason.MISSING_SHORT_MESSAGE),
        (b'{"short_message": "a"} {"x": 1}', Reason.TRAILING_DATA),
        (b'{"short_message": "a"}\x00', Reason.TRAILING_DATA),
        (b'{"short_message": "a"}garbage', Reason.TRAILING_DATA),
        (b'{"short_message": "\xff\xfe"}', Reason.INVALID_UTF8),
        (b'{"short_message": "a"', Reason.INVALID_JSON),
        (b"", Reason.INVALID_JSON),
        (b"[" * 10_000 + b"]" * 10_000, Reason.INVALID_JSON),
    ],
)
def test_rejections_carry_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(payload)
    assert info.value.reason == reason


def test_trailing_whitespace_is_fine() -> None:
    assert decode(gelf() + b"\n  ")["message"] == "hello"


def test_unicode_survives() -> None:
    doc = decode(json.dumps({"short_message": "héllo ✓ 日本"}, ensure_ascii=False).encode())
    assert doc["message"] == "héllo ✓ 日本"
