import json

import pytest

from gelfingest.core.errors import DecodeError, Reason
from gelfingest.core.fields import DroppedField, Limits
from gelfingest.core.gelf import GelfDecoder
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


def test_a_top_level_field_gelf_does_not_name_is_dropped_counted_and_noted() -> None:
    """Before: dropped without a trace (and GELF's own file and line were dropped with them)."""
    d = GelfDecoder()
    for general in (False, True):  # the plan path, and the general one (a dotted name sends it there)
        extra = {"_a.b": 1} if general else {}
        doc, _ = d.decode(gelf(file="x.py", line=7, app="shop", message="forged", **extra), "10.0.0.1", NOW)
        assert doc["file"] == "x.py" and doc["line"] == 7
        assert "app" not in doc and doc["message"] == "hello"
    assert d.dropped_fields == {DroppedField.UNKNOWN: 4}
    (line,) = d.notes.take()
    assert "dropped field 'app' (field_unknown) in a message from 10.0.0.1" in line
    assert d.notes.take() == []


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
        (b"[" * 70_000 + b"]" * 70_000, Reason.TOO_MANY_FIELDS),  # counted before it is parsed
        (b"[" * 10_000 + b"]" * 10_000, Reason.JSON_TOO_DEEP),  # parsed: orjson stops at 1,024 levels
        (b'{"short_message": "x", "_a": ' + b"[" * 500 + b"]" * 500 + b"}", Reason.JSON_TOO_DEEP),
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


def _deep(depth: int) -> bytes:
    """A message whose ``_x`` holds ``depth`` nested arrays (written by hand: json.dumps would recurse)."""
    return b'{"short_message": "deep", "_x": ' + b"[" * depth + b'"leaf"' + b"]" * depth + b"}"


@pytest.mark.parametrize("limit", [1, 2, 20, 1500])
def test_nesting_is_bounded_at_exactly_max_depth(limit: int) -> None:
    """The message is depth 1; a bound above Python's recursion limit still answers with the reason."""
    d = GelfDecoder(Limits(max_depth=limit, max_fields=10_000))
    inner = min(limit - 1, 1000)  # orjson itself stops at 1024 levels
    d.decode(_deep(inner), "h", NOW)
    if limit <= 1000:
        with pytest.raises(DecodeError) as info:
            d.decode(_deep(limit), "h", NOW)
        assert info.value.reason == Reason.JSON_TOO_DEEP


def test_depth_counts_objects_in_passthrough_fields_too() -> None:
    with pytest.raises(DecodeError) as info:
        GelfDecoder(Limits(max_depth=3)).decode(gelf(host={"a": {"b": {"c": 1}}}), "h", NOW)
    assert info.value.reason == Reason.JSON_TOO_DEEP


def test_fields_are_counted_with_the_nested_keys() -> None:
    d = GelfDecoder(Limits(max_fields=10))
    d.decode(gelf(_a={"b": 1, "c": 2}), "h", NOW)  # 5 top-level (with version, host, short_message) + 2
    for payload in (gelf(**{f"_f{i}": i for i in range(8)}), gelf(_a={f"k{i}": i for i in range(7)})):
        with pytest.raises(DecodeError) as info:
            d.decode(payload, "h", NOW)
        assert info.value.reason == Reason.TOO_MANY_FIELDS


def test_a_long_field_name_rejects_the_message_even_once_other_names_are_cached() -> None:
    d = GelfDecoder(Limits(max_field_name=8))
    assert d.decode(gelf(_abcdefgh=1), "h", NOW)[0]["abcdefgh"] == 1
    for payload in (gelf(_abcdefghi=1), gelf(_ok={"abcdefghi": 1})):
        with pytest.raises(DecodeError) as info:
            d.decode(payload, "h", NOW)
        assert info.value.reason == Reason.FIELD_NAME_TOO_LONG


def test_a_dotted_name_under_one_of_our_fields_is_renamed_and_a_taken_name_dropped() -> None:
    d = GelfDecoder()
    doc = d.decode(gelf(**{"_host.name": "a", "_message.x": 1, "_sequence.n": 2}), "h", NOW)[0]
    assert (doc["host_name"], doc["message_x"], doc["sequence_n"]) == ("a", 1, 2)
    assert "host.name" not in doc and doc["host"] == "test-host"
    doc = d.decode(gelf(**{"_host_name": "first", "_host.name": "second"}), "h", NOW)[0]
    assert doc["host_name"] == "first"
    assert d.dropped_fields[DroppedField.CLASH] == 1


@pytest.mark.parametrize("order", ["value first", "dotted first"])
def test_a_dotted_name_below_a_value_is_dropped_whatever_the_order(order: str) -> None:
    fields = {"_a.b": 1, "_a.b.c": 2, "_a": "value", "_x.y": 3, "_obj": {"k": 1}, "_obj.z": 4}
    items = list(fields.items())
    d = GelfDecoder()
    doc = d.decode(gelf(**dict(items if order == "value first" else items[::-1])), "h", NOW)[0]
    assert doc["a"] == "value" and doc["x.y"] == 3 and doc["obj.z"] == 4
    assert "a.b" not in doc and "a.b.c" not in doc
    assert d.dropped_fields[DroppedField.CLASH] == 2


def test_logspout_lines_have_the_same_bounds() -> None:
    from gelfingest.core.logspout import LogspoutDecoder

    d = LogspoutDecoder(Limits(max_depth=2, max_fields=5, max_field_name=10))
    d.decode(b'{"message": "m", "stream": "stdout"}', "h", NOW)
    for line, reason in ((b'{"message": "m", "a": {"b": {}}}', Reason.JSON_TOO_DEEP),
                         (b'{"message": "m", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5}', Reason.TOO_MANY_FIELDS),
                         (b'{"message": "m", "abcdefghijk": 1}', Reason.FIELD_NAME_TOO_LONG)):
        with pytest.raises(DecodeError) as info:
            d.decode(line, "h", NOW)
        assert info.value.reason == reason


@pytest.mark.parametrize("level", ["²", "99999999999999999999999", 2**31, -(2**31) - 1, "1e3", 1.5, None, [6]])
def test_a_level_elasticsearch_cannot_hold_is_dropped_not_a_crash(level: object) -> None:
    d = GelfDecoder()
    doc = d.decode(gelf(level=level), "h", NOW)[0]
    assert "level" not in doc
    assert d.dropped_fields[DroppedField.INVALID_LEVEL] == 1


@pytest.mark.parametrize("level", [0, 7, "3", " 6 ", 6.0, -1, 2**31 - 1])
def test_levels_that_fit_are_kept_as_integers(level: object) -> None:
    assert decode(gelf(level=level))["level"] == int(level)  # type: ignore[call-overload]


def test_the_last_millisecond_before_the_year_10000_does_not_round_into_it() -> None:
    doc = decode(gelf(timestamp=253402300799.9996))
    assert doc["@timestamp"] == "9999-12-31T23:59:59.999Z"


def test_a_million_empty_objects_are_refused_before_they_are_built() -> None:
    """A few KiB of zlib expand into this; parsing it took 3 s of CPU and 400 MiB before it was refused."""
    with pytest.raises(DecodeError) as info:
        decode(b'{"short_message": "x", "_a": [' + b"{}," * 1_000_000 + b"{}]}")
    assert info.value.reason == Reason.TOO_MANY_FIELDS


def test_brackets_inside_strings_are_not_fields() -> None:
    text = '{[ "\\" ' * 2000
    doc = decode(gelf(text, _b="]}" * 3000, _c='\\"{{'))
    assert doc["message"] == text and doc["b"] == "]}" * 3000


def test_brackets_outside_strings_are_counted_in_c_as_a_json_scanner_counts_them() -> None:
    """The count taken past PARSE_FIRST_BRACKETS, against a plain scan of the JSON text, on texts full of
    escapes, quotes across the window's edges, and brackets both inside and outside strings."""
    import random
    import re

    from gelfingest.core.fields import _WINDOW, _brackets_outside_strings

    string = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
    pieces = ["{", "[", '"', "\\", "a", "}", "]", '\\"', "\\\\"]
    rng = random.Random(3)
    texts = []
    for n in (10, 3_000, 40_000):
        value: list[object] = []
        for _ in range(n):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
            value.append(text if rng.random() < 0.6 else {text: [text, {}]})
        texts.append(json.dumps({"short_message": "x", "_a": value}).encode())
    texts.append(json.dumps({"m": "{" * (_WINDOW - 7), "n": "[x" * _WINDOW, "o": [[{}]] * 5}).encode())
    for text in texts:
        bare = string.sub(b"", text)
        assert _brackets_outside_strings(text) == bare.count(b"{") + bare.count(b"["), len(text)


def test_a_message_with_more_brackets_in_its_strings_than_parse_first_is_still_taken() -> None:
    from gelfingest.core.fields import PARSE_FIRST_BRACKETS

    text = "{[" * PARSE_FIRST_BRACKETS
    doc = decode(gelf(text, _b='\\"{' * 100, _list=["[", "{"] * 3))
    assert doc["message"] == text
    with pytest.raises(DecodeError) as info:  # and a million keyed objects are refused unbuilt
        decode(b'{"short_message": "x", "_a": [' + b'{"":""},' * 1_000_000 + b"{}]}")
    assert info.value.reason == Reason.TOO_MANY_FIELDS


def test_a_first_timestamp_of_minus_one_is_converted_not_taken_from_an_empty_cache() -> None:
    from gelfingest.core.gelf import GelfDecoder

    doc, _ = GelfDecoder().decode(b'{"short_message": "x", "timestamp": -1.0}', "h", 1_763_900_000.0)
    assert doc["@timestamp"] != ""
