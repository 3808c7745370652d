"""OTLP logs requests into documents (core/otlp.py): the mapping in both schemas, both encodings alike, the
field-name rule, and the bounds under hostile bodies.

Requests are built with the real generated classes (opentelemetry-proto); their OTLP/JSON form is protobuf's own
JSON printer's with the specification's changes (hex ids, enums as numbers), and the OTLP repository's
``examples/logs.json`` is read as it is.
"""

from __future__ import annotations

import base64
import math
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from gelfingest.core.ecs import ECS_VERSION
from gelfingest.core.errors import DecodeError, GelfError, Reason
from gelfingest.core.fields import DroppedField, Limits
from gelfingest.core.otlp import (
    SYSLOG_LEVELS,
    OtlpDecoder,
    OtlpDroppedField,
    OtlpEcsMapper,
    OtlpReason,
    OtlpResult,
)
from tests.helpers import ROOT, VECTORS

NOW = 1_763_900_000.0
NOW_ISO = "2025-11-23T12:13:20.000Z"
SENDER = "10.0.0.9"
T0 = 1_763_899_000_123_456_789  # 2025-11-23T11:56:40.123456789Z
T0_ISO = "2025-11-23T11:56:40.123Z"


# ---- building requests


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(value)))
    return AnyValue(string_value=value)


def attributes(values: dict[str, Any] | list[tuple[str, Any]]) -> list[KeyValue]:
    pairs = values.items() if isinstance(values, dict) else values
    return [KeyValue(key=k, value=any_value(v)) for k, v in pairs]


def record(body: Any = "hello", attrs: dict[str, Any] | list[tuple[str, Any]] | None = None,
           **fields: Any) -> LogRecord:
    fields.setdefault("time_unix_nano", T0)
    return LogRecord(body=any_value(body), attributes=attributes(attrs or {}), **fields)


def request(*records: LogRecord, resource: dict[str, Any] | None = None, scope: str = "",
            version: str = "", scope_attrs: dict[str, Any] | None = None) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(resource_logs=[resource_logs(list(records), resource, scope, version,
                                                                 scope_attrs)])


def resource_logs(records: list[LogRecord], resource: dict[str, Any] | None = None, scope: str = "",
                  version: str = "", scope_attrs: dict[str, Any] | None = None) -> ResourceLogs:
    return ResourceLogs(resource=Resource(attributes=attributes(resource or {})), scope_logs=[ScopeLogs(
        scope=InstrumentationScope(name=scope, version=version, attributes=attributes(scope_attrs or {})),
        log_records=records)])


def to_json(req: ExportLogsServiceRequest) -> bytes:
    """The OTLP/JSON form: protobuf's JSON mapping (lowerCamelCase, int64 as strings, bytes as base64) with
    the specification's changes: enums as numbers, trace and span ids in hex."""
    data = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rl in data.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in rec:
                        rec[key] = base64.b64decode(rec[key]).hex().upper()
    return orjson.dumps(data)


def decode(req: ExportLogsServiceRequest, decoder: OtlpDecoder | None = None, source: str = SENDER) -> OtlpResult:
    """Decoded from protobuf and from OTLP/JSON, which must give the same documents and refusals."""
    decoder = decoder or OtlpDecoder()
    twin = OtlpDecoder(decoder.limits, decoder.dedot, decoder.max_message_size, decoder.max_records,
                       decoder.max_values)
    pb = decoder.decode_protobuf(req.SerializeToString(), source, NOW)
    js = twin.decode_json(to_json(req), source, NOW)
    # repr: in order, with types (1 is not 1.0 nor True), and NaN equal to itself
    assert [repr(list(doc.items())) for doc, _ in pb.documents] == [repr(list(doc.items())) for doc, _ in js.documents]
    assert [s for _, s in pb.documents] == [s for _, s in js.documents]
    assert (pb.records, pb.rejected) == (js.records, js.rejected)
    return pb


def one(req: ExportLogsServiceRequest, decoder: OtlpDecoder | None = None) -> dict[str, Any]:
    result = decode(req, decoder)
    assert len(result.documents) == 1, result.rejected
    return result.documents[0][0]


# ---- the mapping (logstash schema)


EXAMPLE_DOC = {
    "@timestamp": "2018-12-13T14:51:00.300Z",
    "message": "Example log record",
    "severity_text": "Information",
    "trace_id": "5b8efff798038103d269b633813fc60c",
    "span_id": "eee19b7ec3c1b174",
    "host": SENDER,
    "source_host": SENDER,
    "resource.service.name": "my.service",
    "scope.name": "my.library",
    "scope.version": "1.0.0",
    "scope.my.scope.attribute": "some scope attribute",
    "string.attribute": "some string",
    "boolean.attribute": True,
    "int.attribute": 10,
    "double.attribute": 637.704,
    "array.attribute": ["many", "values"],
    "map.attribute": {"some.map.key": "some value"},
}


def test_the_otlp_repositorys_example_is_one_document() -> None:
    decoder = OtlpDecoder()
    result = decoder.decode_json((VECTORS / "otlp" / "logs.json").read_bytes(), SENDER, NOW)
    assert result.records == 1 and not result.rejected and not decoder.dropped_fields
    assert result.documents == [(EXAMPLE_DOC, 1544712660)]


def test_the_example_in_protobuf_is_the_same_document() -> None:
    req = request(record("Example log record", {
        "string.attribute": "some string", "boolean.attribute": True, "int.attribute": 10,
        "double.attribute": 637.704, "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"}},
        time_unix_nano=1544712660300000000, observed_time_unix_nano=1544712660300000000,
        severity_text="Information", trace_id=bytes.fromhex("5B8EFFF798038103D269B633813FC60C"),
        span_id=bytes.fromhex("EEE19B7EC3C1B174")),
        resource={"service.name": "my.service"}, scope="my.library", version="1.0.0",
        scope_attrs={"my.scope.attribute": "some scope attribute"})
    assert one(req) == EXAMPLE_DOC


def test_a_record_of_every_field() -> None:
    doc = one(request(record(
        "payment failed", {"http.method": "POST", "retry": 2}, severity_number=17, severity_text="ERROR",
        trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), flags=0x101, event_name="payment.failed",
        observed_time_unix_nano=T0 + 10**9),
        resource={"service.name": "pay", "host.name": "web-1"}, scope="app.payments", version="2.1"))
    assert doc == {
        "@timestamp": T0_ISO, "message": "payment failed", "level": 3, "severity_number": 17,
        "severity_text": "ERROR", "trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708",
        "trace_flags": 1, "event_name": "payment.failed", "host": "web-1", "source_host": SENDER,
        "resource.service.name": "pay", "resource.host.name": "web-1", "scope.name": "app.payments",
        "scope.version": "2.1", "http.method": "POST", "retry": 2}


@pytest.mark.parametrize("severity", range(25))
def test_every_severity_number_maps_onto_a_syslog_level(severity: int) -> None:
    doc = one(request(record(severity_number=severity)))
    expected = {0: None, 1: 7, 4: 7, 5: 7, 8: 7, 9: 6, 12: 6, 13: 4, 16: 4, 17: 3, 20: 3, 21: 2, 24: 2}
    level = SYSLOG_LEVELS[severity]
    assert level == expected.get(severity, level)
    assert doc.get("level") == level and doc.get("severity_number") == (severity or None)


@pytest.mark.parametrize("severity", [25, 100, -1, 2**31 - 1])
def test_a_severity_number_outside_the_enum_is_kept_without_a_level(severity: int) -> None:
    doc = one(request(record(severity_number=severity)))
    assert "level" not in doc and doc["severity_number"] == severity


def test_severity_ranges_are_trace_debug_info_warn_error_fatal() -> None:
    assert [SYSLOG_LEVELS[n] for n in (1, 5, 9, 13, 17, 21)] == [7, 7, 6, 4, 3, 2]


@pytest.mark.parametrize(("time", "observed", "iso", "seconds"), [
    (T0, 0, T0_ISO, T0 // 10**9),
    (0, T0, T0_ISO, T0 // 10**9),  # observed_time_unix_nano when the record has no time
    (0, 0, NOW_ISO, int(NOW)),  # the receive time when it has neither
    (2**64 - 1, T0, "2554-07-21T23:34:33.710Z", 18446744073),  # the last one protobuf can say
    (1_500_000, 0, "1970-01-01T00:00:00.002Z", 0),  # rounded to the millisecond
    (1_499_999, 0, "1970-01-01T00:00:00.001Z", 0),
])
def test_timestamps(time: int, observed: int, iso: str, seconds: int) -> None:
    result = decode(request(record(time_unix_nano=time, observed_time_unix_nano=observed)))
    [(doc, secs)] = result.documents
    assert (doc["@timestamp"], secs) == (iso, seconds)


@pytest.mark.parametrize(("body", "message", "kept"), [
    ({"user": "ann", "n": 3, "tags": ["a", "b"]}, '{"user":"ann","n":3,"tags":["a","b"]}', True),
    ([1, "two", {"three": 3.0}], '[1,"two",{"three":3.0}]', True),
    (42, "42", False),
    (-1.5, "-1.5", False),
    (True, "true", False),
    (b"\x00\xffbin", "AP9iaW4=", False),
    (None, "", False),
    ("", "", False),
])
def test_bodies(body: Any, message: str, kept: bool) -> None:
    doc = one(request(record(body)))
    assert doc["message"] == message
    assert ("body" in doc) is kept
    if kept:
        assert orjson.dumps(doc["body"]).decode() == message


def test_attribute_values_of_every_kind() -> None:
    values = {"s": "text", "empty": "", "t": True, "f": False, "i": -7, "big": 2**63 - 1, "small": -(2**63),
              "d": 0.25, "nan": math.nan, "inf": -math.inf, "b": b"\x01\x02", "none": None, "a": [1, "x", [True]],
              "kv": {"inner": {"deeper": [1.5, None]}, "": "empty key inside"}}
    doc = one(request(record("x", values)))
    assert doc["s"] == "text" and doc["empty"] == "" and doc["t"] is True and doc["f"] is False
    assert doc["i"] == -7 and doc["big"] == 2**63 - 1 and doc["small"] == -(2**63)
    assert doc["d"] == 0.25 and math.isnan(doc["nan"]) and doc["inf"] == -math.inf
    assert doc["b"] == "AQI=" and doc["none"] is None and doc["a"] == [1, "x", [True]]
    assert doc["kv"] == {"inner": {"deeper": [1.5, None]}, "": "empty key inside"}


def test_records_keep_their_order_across_resources_and_scopes() -> None:
    req = ExportLogsServiceRequest(resource_logs=[
        resource_logs([record(f"a{i}") for i in range(3)], {"service.name": "a"}),
        ResourceLogs(scope_logs=[ScopeLogs(log_records=[record("b0")]), ScopeLogs(),
                                 ScopeLogs(log_records=[record("b1"), record("b2", {"x" * 300: 1}),
                                                        record("b3")])]),
        ResourceLogs(),
        resource_logs([record("c0")]),
    ])
    result = decode(req)
    assert [doc["message"] for doc, _ in result.documents] == ["a0", "a1", "a2", "b0", "b1", "b3", "c0"]
    assert result.records == 8 and result.rejected == {Reason.FIELD_NAME_TOO_LONG: 1}
    assert [doc.get("resource.service.name") for doc, _ in result.documents][:4] == ["a", "a", "a", None]


def test_host_is_the_resources_host_name_else_the_sender() -> None:
    assert one(request(record(), resource={"host.name": "web-1"}))["host"] == "web-1"
    for bad in (" ", "", 7, ["web"]):
        doc = one(request(record(), resource={"host.name": bad}))
        assert doc["host"] == SENDER and doc["source_host"] == SENDER and doc["resource.host.name"] == bad


def test_trace_and_span_ids() -> None:
    def ids(trace: bytes, span: bytes) -> tuple[Any, Any, OtlpDecoder]:
        decoder = OtlpDecoder()
        doc = one(request(record(trace_id=trace, span_id=span)), decoder)
        return doc.get("trace_id"), doc.get("span_id"), decoder

    assert ids(b"", b"")[:2] == (None, None)
    assert ids(bytes(16), bytes(8))[:2] == (None, None)  # all zeros: no trace, and nothing counted
    trace, span, decoder = ids(b"\xab" * 15, b"\xcd" * 9)
    assert (trace, span) == (None, None)
    assert decoder.dropped_fields == {OtlpDroppedField.TRACE_ID_INVALID: 1, OtlpDroppedField.SPAN_ID_INVALID: 1}


@pytest.mark.parametrize(("trace", "expected", "counted"), [
    ("ABCDEF0123456789ABCDEF0123456789", "abcdef0123456789abcdef0123456789", 0),
    ("00000000000000000000000000000000", None, 0),
    ("", None, 0),
    ("xyz", None, 1),
    ("ABCDEF0123456789ABCDEF012345678G", None, 1),
    (12, None, 1),
    ("q0bvH3XGBC1S0nSCqJkrvA==", None, 1),  # base64, as protobuf's own JSON mapping would have it
])
def test_json_ids_are_hex_in_any_case(trace: Any, expected: str | None, counted: int) -> None:
    decoder = OtlpDecoder()
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": trace, "body": {"stringValue": "x"}}]}]}]}
    [(doc, _)] = decoder.decode_json(orjson.dumps(body), SENDER, NOW).documents
    assert doc.get("trace_id") == expected
    assert decoder.dropped_fields[OtlpDroppedField.TRACE_ID_INVALID] == counted


# ---- names


@pytest.mark.parametrize(("key", "name", "reason"), [
    ("http.method", "http.method", None),
    ("user_id", "user_id", None),
    ("a-b", "a-b", None),
    ("id", "id", None),
    ("host.name", "host_name", None),  # below a field of ours: the first dot becomes "_"
    ("resource.attr", "resource_attr", None),
    ("trace_id.x", "trace_id_x", None),
    ("level.x.y", "level_x.y", None),
    ("a b", None, DroppedField.INVALID_NAME),
    ("", None, DroppedField.INVALID_NAME),
    (".a", None, DroppedField.INVALID_NAME),
    ("a.", None, DroppedField.INVALID_NAME),
    ("a..b", None, DroppedField.INVALID_NAME),
    ("ä\u200b", None, DroppedField.INVALID_NAME),
    ("message", None, DroppedField.RESERVED),
    ("level", None, DroppedField.RESERVED),
    ("host", None, DroppedField.RESERVED),
    ("@timestamp", None, DroppedField.INVALID_NAME),
    ("_id", None, DroppedField.RESERVED),
    ("_index", None, DroppedField.RESERVED),
    ("trace_id", None, DroppedField.RESERVED),
    ("severity_text", None, DroppedField.RESERVED),
    ("body", None, DroppedField.RESERVED),
    ("resource", None, DroppedField.RESERVED),
    ("scope", None, DroppedField.RESERVED),
])
def test_attribute_names_take_the_rule_of_gelfs_additional_fields(key: str, name: str | None,
                                                                 reason: str | None) -> None:
    decoder = OtlpDecoder()
    doc = one(request(record("x", {key: "v"}, severity_text="INFO", trace_id=b"\x01" * 16)), decoder)
    if name is None:
        assert "v" not in doc.values()
        assert decoder.dropped_fields == {reason: 1}
        assert decoder.notes.take()[0].startswith(f"dropped attribute {key!r} ({reason})")
    else:
        assert doc[name] == "v" and not decoder.dropped_fields


def test_names_below_a_value_and_names_twice_are_dropped_and_counted() -> None:
    decoder = OtlpDecoder()
    attrs = [("a.b", "below"), ("a", "value"), ("k", {"x": 1}), ("k.y", 2), ("dup", 1), ("dup", 2),
             ("host_name", "first"), ("host.name", "second"), ("m.n", 1), ("m.n.o", 2)]
    for _ in range(2):  # the plan made, then the plan used
        doc = one(request(record("x", attrs)), decoder)
        assert doc["a"] == "value" and "a.b" not in doc
        assert doc["k"] == {"x": 1} and doc["k.y"] == 2  # below an object: kept
        assert doc["dup"] == 1 and doc["host_name"] == "first"
        assert doc["m.n"] == 1 and "m.n.o" not in doc
    assert decoder.dropped_fields == {DroppedField.CLASH: 2 * 4}


def test_the_plan_sees_a_parent_holding_an_object_in_one_record_and_a_value_in_the_next() -> None:
    decoder = OtlpDecoder()
    assert one(request(record("x", [("a", {"b": 1}), ("a.c", 2)])), decoder)["a.c"] == 2
    assert "a.c" not in one(request(record("x", [("a", "text"), ("a.c", 2)])), decoder)
    assert decoder.dropped_fields == {DroppedField.CLASH: 1}


def test_more_attributes_than_a_plan_takes_are_placed_alike() -> None:
    attrs = [(f"k{i}", i) for i in range(100)] + [("a.b", 1), ("a", 2), ("message", 3), ("bad key", 4)]
    decoder = OtlpDecoder()
    doc = one(request(record("x", attrs)), decoder)
    assert doc["k99"] == 99 and doc["a"] == 2 and "a.b" not in doc and doc["message"] == "x"
    assert decoder.dropped_fields == {DroppedField.CLASH: 1, DroppedField.RESERVED: 1, DroppedField.INVALID_NAME: 1}


def test_dedot_turns_the_records_dots_into_underscores_but_not_the_resources() -> None:
    decoder = OtlpDecoder(dedot=True)
    doc = one(request(record("x", [("com.example.team", "ops"), ("com_example_team", "dev"), ("host.name", "h")]),
                      resource={"k8s.pod.name": "p"}), decoder)
    assert doc["com_example_team"] == "ops" and doc["host_name"] == "h" and doc["resource.k8s.pod.name"] == "p"
    assert decoder.dropped_fields == {DroppedField.CLASH: 1}


def test_resource_and_scope_attributes_keep_the_rule_under_their_prefix() -> None:
    decoder = OtlpDecoder()
    req = request(record("one"), record("two"),
                  resource={"message": "m", "host": "h", "_x": 1, "bad key": 2, "k8s.pod": "p", "k8s.pod.name": "n"},
                  scope="lib", scope_attrs={"name": "clash", "name.x": "below", "ok": True})
    result = decode(req, decoder)
    doc = result.documents[0][0]
    assert doc["resource.message"] == "m" and doc["resource.host"] == "h" and doc["resource._x"] == 1
    assert doc["resource.k8s.pod"] == "p" and "resource.k8s.pod.name" not in doc
    assert doc["scope.name"] == "lib" and doc["scope.ok"] is True and "scope.name.x" not in doc
    # counted with each record the fields would have been in (the decoder ran twice: protobuf and JSON)
    assert decoder.dropped_fields == {DroppedField.INVALID_NAME: 2, DroppedField.CLASH: 6}


# ---- OTLP/JSON's own rules


def json_request(*records: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    rl: dict[str, Any] = {"scopeLogs": [{"logRecords": list(records)}]}
    if resource is not None:
        rl["resource"] = resource
    return orjson.dumps({"resourceLogs": [rl]})


def json_one(*records: dict[str, Any], decoder: OtlpDecoder | None = None, **kw: Any) -> OtlpResult:
    return (decoder or OtlpDecoder()).decode_json(json_request(*records, **kw), SENDER, NOW)


def test_int64s_as_strings_or_numbers_and_enums_as_numbers_or_names() -> None:
    result = json_one(
        {"timeUnixNano": str(T0), "severityNumber": 13, "body": {"intValue": "-12"},
         "attributes": [{"key": "n", "value": {"intValue": 12}}, {"key": "s", "value": {"intValue": "12"}},
                        {"key": "f", "value": {"intValue": 12.0}}, {"key": "d", "value": {"doubleValue": "NaN"}},
                        {"key": "e", "value": {"doubleValue": 3}}]},
        {"timeUnixNano": T0, "severityNumber": "SEVERITY_NUMBER_ERROR3", "flags": "1"})
    [(first, _), (second, _)] = result.documents
    assert first["@timestamp"] == T0_ISO and first["level"] == 4 and first["message"] == "-12"
    assert (first["n"], first["s"], first["f"], first["e"]) == (12, 12, 12, 3.0) and math.isnan(first["d"])
    assert second["@timestamp"] == T0_ISO and second["severity_number"] == 19 and second["trace_flags"] == 1


def test_the_proto_field_names_are_taken_too() -> None:
    snake = {"resource_logs": [{"resource": {"attributes": [{"key": "service.name",
                                                             "value": {"string_value": "svc"}}]},
                                "scope_logs": [{"scope": {"name": "lib"}, "log_records": [{
                                    "time_unix_nano": str(T0), "severity_number": 9, "severity_text": "INFO",
                                    "trace_id": "01" * 16, "span_id": "02" * 8, "event_name": "e",
                                    "body": {"kvlist_value": {"values": [{"key": "a", "value": {"bool_value": True}}]}},
                                    "attributes": [{"key": "k", "value": {"array_value": {"values": [
                                        {"double_value": 1.5}, {"bytes_value": "AQI="}]}}}]}]}]}]}
    [(doc, _)] = OtlpDecoder().decode_json(orjson.dumps(snake), SENDER, NOW).documents
    assert doc == {"@timestamp": T0_ISO, "message": '{"a":true}', "level": 6, "severity_number": 9,
                   "severity_text": "INFO", "trace_id": "01" * 16, "span_id": "02" * 8, "event_name": "e",
                   "body": {"a": True}, "host": SENDER, "source_host": SENDER, "resource.service.name": "svc",
                   "scope.name": "lib", "k": [1.5, "AQI="]}


def test_unknown_fields_and_nulls_are_ignored() -> None:
    result = json_one({"timeUnixNano": None, "futureField": {"x": [1]}, "body": {"stringValue": "x", "other": 1},
                       "severityText": None, "traceId": None,
                       "attributes": [{"key": "a", "value": {"newKind": 1, "intValue": "5"}},
                                      {"key": "b", "value": None}, {"key": "c", "value": {}},
                                      {"key": "d", "value": {"stringValue": None}}]},
                      resource={"attributes": None, "droppedAttributesCount": 3, "entityRefs": []})
    [(doc, _)] = result.documents
    assert doc["message"] == "x" and doc["@timestamp"] == NOW_ISO and "severity_text" not in doc
    assert (doc["a"], doc["b"], doc["c"], doc["d"]) == (5, None, None, None)


def test_bytes_values_in_any_base64_become_standard_base64() -> None:
    values = [{"key": k, "value": {"bytesValue": v}} for k, v in
              (("std", "+/8="), ("url", "-_8="), ("bare", "-_8"))]
    [(doc, _)] = json_one({"attributes": values}).documents
    assert doc["std"] == doc["url"] == doc["bare"] == "+/8="


@pytest.mark.parametrize("bad", [
    {"body": "a string, not an AnyValue"},
    {"body": {"stringValue": 5}},
    {"body": {"boolValue": "true"}},
    {"body": {"intValue": "12x"}},
    {"body": {"intValue": str(2**63)}},
    {"body": {"intValue": True}},
    {"body": {"doubleValue": "many"}},
    {"body": {"bytesValue": "not base64!"}},
    {"body": {"arrayValue": []}},
    {"body": {"kvlistValue": {"values": [1]}}},
    {"body": {"kvlistValue": {"values": [{"key": 1, "value": {}}]}}},
    {"timeUnixNano": "soon"},
    {"timeUnixNano": -1},
    {"timeUnixNano": str(2**64)},
    {"severityNumber": "LOUD"},
    {"severityNumber": 2**31},
    {"severityText": 3},
    {"flags": 2**32},
    {"eventName": ["e"]},
    {"attributes": {"key": "a"}},
    {"attributes": ["a"]},
    {"attributes": [{"key": 1, "value": {}}]},
    "a record that is a string",
])
def test_a_record_of_the_wrong_types_is_refused_alone(bad: Any) -> None:
    result = json_one({"body": {"stringValue": "before"}}, bad, {"body": {"stringValue": "after"}})
    assert [doc["message"] for doc, _ in result.documents] == ["before", "after"]
    assert result.rejected == {OtlpReason.INVALID_RECORD: 1} and result.records == 3
    assert result.error_message().startswith("1 of 3 log records rejected: 1 invalid_record (first: ")


@pytest.mark.parametrize(("body", "reason"), [
    (b"", Reason.INVALID_JSON),
    (b"{", Reason.INVALID_JSON),
    (b"\xff{}", Reason.INVALID_UTF8),
    (b"[]", Reason.NOT_AN_OBJECT),
    (b'{"resourceLogs": {"a": 1}}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": "x"}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [1]}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [{"scopeLogs": {"a": 1}}]}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [{"scopeLogs": ["x"]}]}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [{"resource": [], "scopeLogs": []}]}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [{"scopeLogs": [{"scope": 1}]}]}', OtlpReason.NOT_A_REQUEST),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": true}]}]}', OtlpReason.NOT_A_REQUEST),
    (b"[" * 2000 + b"]" * 2000, Reason.JSON_TOO_DEEP),
])
def test_a_body_that_is_no_request_is_refused_whole(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        OtlpDecoder().decode_json(body, SENDER, NOW)
    assert caught.value.reason == reason


def test_an_empty_request_is_no_records() -> None:
    # (a falsy value is the field's default, as an empty list would be)
    for body in (b"{}", b'{"resourceLogs": []}', b'{"resourceLogs": [{}, {"scopeLogs": [{}]}]}',
                 b'{"resourceLogs": {}}', b'{"resourceLogs": [{"scopeLogs": [{"logRecords": 0}]}]}'):
        assert OtlpDecoder().decode_json(body, SENDER, NOW) == OtlpResult()
    assert OtlpDecoder().decode_protobuf(b"", SENDER, NOW) == OtlpResult()


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\x12\x05", b"{}", b"\x08"])
def test_a_body_that_is_no_protobuf_request_is_refused_whole(body: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        OtlpDecoder().decode_protobuf(body, SENDER, NOW)
    assert caught.value.reason == OtlpReason.INVALID_PROTOBUF


# ---- bounds


def length_delimited(tag: int, payload: bytes) -> bytes:
    """A protobuf field of wire type 2 (``tag``: its number shifted left 3, plus 2)."""
    size, out = len(payload), bytearray([tag])
    while True:
        low, size = size & 0x7F, size >> 7
        out.append(low | (0x80 if size else 0))
        if not size:
            return bytes(out) + payload


def wire_request(*records: bytes) -> bytes:
    """ExportLogsServiceRequest{resource_logs: [{scope_logs: [{log_records: records}]}]} from encoded records."""
    scope = b"".join(length_delimited(0x12, r) for r in records)
    return length_delimited(0x0A, length_delimited(0x12, scope))


def wire_array_body(levels: int) -> bytes:
    """A LogRecord whose body is an array in an array ... ``levels`` deep, holding one string."""
    value = length_delimited(0x0A, b"x")
    for _ in range(levels):
        value = length_delimited(0x2A, length_delimited(0x0A, value))
    return length_delimited(0x2A, value)


def test_more_attributes_than_max_fields_refuse_the_record_alone() -> None:
    limits = Limits(max_fields=20)
    req = request(record("small", {f"k{i}": i for i in range(16)}), record("big", {f"k{i}": i for i in range(17)}),
                  record("nested", {"a": {f"k{i}": i for i in range(15)}}),  # 4 + 1 + the map and its 15
                  record("within", {"a": {f"k{i}": i for i in range(14)}}), record("after"))
    result = decode(req, OtlpDecoder(limits))
    assert [doc["message"] for doc, _ in result.documents] == ["small", "within", "after"]
    assert result.rejected == {Reason.TOO_MANY_FIELDS: 2}


def test_the_resources_attributes_count_with_each_record() -> None:
    limits = Limits(max_fields=20)
    req = ExportLogsServiceRequest(resource_logs=[
        resource_logs([record("a", {"x": 1, "y": 2}), record("b", {"x": 1})], {f"r{i}": i for i in range(15)}),
        resource_logs([record("c"), record("d")], {f"r{i}": i for i in range(17)}),
        resource_logs([record("e")], {f"r{i}": i for i in range(30)}),
    ])
    result = decode(req, OtlpDecoder(limits))
    assert [doc["message"] for doc, _ in result.documents] == ["b"]
    assert result.rejected == {Reason.TOO_MANY_FIELDS: 4} and result.records == 5


def test_a_million_attributes_are_refused_by_their_count() -> None:
    body = wire_request(b"\x32\x00" * 1_000_000 + length_delimited(0x2A, length_delimited(0x0A, b"x")),
                        length_delimited(0x2A, length_delimited(0x0A, b"kept")))
    start = time.process_time()
    result = OtlpDecoder().decode_protobuf(body, SENDER, NOW)
    assert time.process_time() - start < 1.0  # the parse (~0.05 s); no attribute is walked
    assert result.rejected == {Reason.TOO_MANY_FIELDS: 1}
    assert [doc["message"] for doc, _ in result.documents] == ["kept"]
    # A million in one nested map: refused once its length is seen.
    kv = length_delimited(0x12, length_delimited(0x32, b"\x0a\x00" * 1_000_000))  # KeyValue.value = kvlist
    result = OtlpDecoder().decode_protobuf(wire_request(length_delimited(0x32, kv)), SENDER, NOW)
    assert result.rejected == {Reason.TOO_MANY_FIELDS: 1}


def test_a_json_record_of_many_attributes_is_refused_by_their_count() -> None:
    attrs = [{"key": f"k{i}", "value": {"intValue": i}} for i in range(50_000)]
    result = json_one({"attributes": attrs}, {"body": {"stringValue": "kept"}})
    assert result.rejected == {Reason.TOO_MANY_FIELDS: 1} and len(result.documents) == 1


def test_a_json_body_of_empty_containers_is_refused_before_it_is_built() -> None:
    attrs = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":' + attrs + b"}]}]}]}"
    start = time.process_time()
    with pytest.raises(DecodeError) as caught:
        OtlpDecoder().decode_json(body, SENDER, NOW)
    assert caught.value.reason == Reason.TOO_MANY_FIELDS and time.process_time() - start < 1.0


def test_nesting_deeper_than_max_depth_refuses_the_record_alone() -> None:
    for levels, refused in ((19, 0), (20, 1), (45, 1)):  # an attribute's value is at depth 2
        body = wire_request(wire_array_body(levels), length_delimited(0x2A, length_delimited(0x0A, b"kept")))
        result = OtlpDecoder().decode_protobuf(body, SENDER, NOW)
        assert result.rejected == ({Reason.JSON_TOO_DEEP: 1} if refused else {})
        assert len(result.documents) == 2 - refused
    deep = b'{"kvlistValue":{"values":[{"key":"k","value":' * 200 + b'{"stringValue":"x"}' + b"}]}}" * 200
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + deep + b'},{"body":{"stringValue":"kept"}}]}]}]}'
    result = OtlpDecoder().decode_json(body, SENDER, NOW)
    assert result.rejected == {Reason.JSON_TOO_DEEP: 1} and len(result.documents) == 1


def test_protobufs_own_nesting_bound_refuses_the_record_alone() -> None:
    """upb parses 100 messages deep at most (about 49 levels of values below a record): a record nested deeper
    does not parse, and is refused as any record that is not protobuf is."""
    limits = Limits(max_depth=1000)
    body = wire_request(wire_array_body(48), wire_array_body(60), b"\x2a\x05\x0a\x03abc", b"\x2a\x09")
    result = OtlpDecoder(limits).decode_protobuf(body, SENDER, NOW)
    assert [doc["message"][:3] for doc, _ in result.documents] == ["[[[", "abc"]
    assert result.rejected == {OtlpReason.INVALID_RECORD: 2}
    assert result.details[OtlpReason.INVALID_RECORD].startswith("a log record that is not protobuf")


def test_no_max_depth_is_too_large_for_the_walk() -> None:
    """The walks keep their own stack, and refuse what orjson could not write (MAX_ENCODED_DEPTH) whatever
    max_depth says: no recursion error, no document the bulk encoder cannot encode."""
    limits = Limits(max_depth=10**6, max_fields=10**6)
    decoder = OtlpDecoder(limits)
    for levels, refused in ((249, False), (250, True), (330, True)):  # 330: 990 JSON levels, near orjson's 1024
        deep = b'{"arrayValue":{"values":[' * levels + b'{"stringValue":"x"}' + b"]}}" * levels
        body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + deep + b"}]}]}]}"
        result = decoder.decode_json(body, SENDER, NOW)
        assert result.rejected == ({Reason.JSON_TOO_DEEP: 1} if refused else {})
        for doc, _ in result.documents:
            assert doc["message"] == "[" * levels + '"x"' + "]" * levels
            orjson.dumps(doc)
            orjson.dumps(OtlpEcsMapper().document(doc, 1, NOW_ISO))
    [(doc, _)] = decoder.decode_protobuf(wire_request(wire_array_body(48)), SENDER, NOW).documents
    assert doc["message"].count("[") == 48


def test_attribute_names_longer_than_max_field_name_refuse_the_record() -> None:
    limits = Limits(max_field_name=10)
    req = ExportLogsServiceRequest(resource_logs=[
        resource_logs([record("a", {"k" * 10: 1}), record("b", {"k" * 11: 1}), record("c", {"m": {"k" * 11: 1}})]),
        resource_logs([record("d")], {"r" * 11: 1}),
        resource_logs([record("e")], scope_attrs={"s" * 11: 1}),
    ])
    result = decode(req, OtlpDecoder(limits))
    assert [doc["message"] for doc, _ in result.documents] == ["a"]
    assert result.rejected == {Reason.FIELD_NAME_TOO_LONG: 4}


def test_a_record_larger_than_max_message_size_is_refused_alone() -> None:
    limits_size = 2000
    req = request(record("small"), record("x" * 3000), record("small too", {"k": "y" * 1500}),
                  record("big attribute", {"k": "y" * 2500}), resource={"service.name": "s"})
    result = decode(req, OtlpDecoder(max_message_size=limits_size))
    assert [doc["message"] for doc, _ in result.documents] == ["small", "small too"]
    assert result.rejected == {Reason.TOO_LARGE: 2}
    # A body within the size is never measured record by record.
    assert not decode(request(record("x" * 1500)), OtlpDecoder(max_message_size=limits_size)).rejected


def test_the_resource_counts_in_a_records_size() -> None:
    req = request(record("x"), resource={"big": "y" * 3000})
    assert decode(req, OtlpDecoder(max_message_size=2000)).rejected == {Reason.TOO_LARGE: 1}


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_too_many_records_refuse_the_request(encoding: str) -> None:
    decoder = OtlpDecoder(max_records=10)
    req = request(*[record(f"r{i}") for i in range(11)])
    body = req.SerializeToString() if encoding == "protobuf" else to_json(req)
    decode_body = decoder.decode_protobuf if encoding == "protobuf" else decoder.decode_json
    with pytest.raises(DecodeError) as caught:
        decode_body(body, SENDER, NOW)
    assert caught.value.reason == OtlpReason.TOO_MANY_RECORDS
    assert len(decode_body(request(*[record() for _ in range(10)]).SerializeToString() if encoding == "protobuf"
                           else to_json(request(*[record() for _ in range(10)])), SENDER, NOW).documents) == 10


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_more_values_than_max_values_refuse_the_request(encoding: str) -> None:
    def outcome(req: ExportLogsServiceRequest) -> str | int:
        decoder = OtlpDecoder(max_values=50)
        try:
            if encoding == "protobuf":
                return len(decoder.decode_protobuf(req.SerializeToString(), SENDER, NOW).documents)
            return len(decoder.decode_json(to_json(req), SENDER, NOW).documents)
        except DecodeError as err:
            return err.reason

    ten = {f"k{i}": i for i in range(10)}
    assert outcome(request(*[record("x", ten) for _ in range(5)])) == 5  # 50 attributes
    assert outcome(request(*[record("x", ten) for _ in range(5)], record("x", {"k": 1}))) == \
        OtlpReason.TOO_MANY_VALUES
    assert outcome(request(record([0] * 50))) == 1  # an array's items count too
    assert outcome(request(record([0] * 51))) == OtlpReason.TOO_MANY_VALUES
    assert outcome(request(record({"m": {f"k{i}": i for i in range(45)}}), resource=ten)) == \
        OtlpReason.TOO_MANY_VALUES  # 10 of the resource's, 45 of the map's


def test_a_million_empty_records_or_scopes_are_refused_by_their_count() -> None:
    records = length_delimited(0x0A, length_delimited(0x12, b"\x12\x00" * 1_000_000))
    scopes = length_delimited(0x0A, b"\x12\x00" * 1_000_000)
    resources = b"\x0a\x00" * 1_000_000
    for body in (records, scopes, resources):
        start = time.process_time()
        with pytest.raises(DecodeError) as caught:
            OtlpDecoder().decode_protobuf(body, SENDER, NOW)
        assert caught.value.reason == OtlpReason.TOO_MANY_RECORDS and time.process_time() - start < 1.0


# ---- hostile and random bodies raise the decoder's error and nothing else


def _examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_examples(300)
@given(body=st.binary(max_size=400))
def test_random_bytes_raise_nothing_but_gelf_errors(body: bytes) -> None:
    for decode_body in (OtlpDecoder().decode_protobuf, OtlpDecoder().decode_json):
        try:
            result = decode_body(body, SENDER, NOW)
        except GelfError:
            continue
        orjson.dumps([doc for doc, _ in result.documents])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)
any_values = st.recursive(
    st.builds(lambda k, v: {k: v}, st.sampled_from(["stringValue", "intValue", "boolValue", "doubleValue",
                                                    "bytesValue", "string_value", "int_value", "unknown"]),
              json_values),
    lambda inner: st.builds(lambda values: {"arrayValue": {"values": values}}, st.lists(inner, max_size=3))
    | st.builds(lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
                st.lists(st.tuples(st.text(max_size=6), inner), max_size=3)),
    max_leaves=10)
otlp_fields = st.fixed_dictionaries({}, optional={
    "timeUnixNano": json_values, "observedTimeUnixNano": json_values, "severityNumber": json_values,
    "severityText": json_values, "traceId": json_values | st.text("0123456789abcdefABCDEF", min_size=32,
                                                                   max_size=32),
    "spanId": json_values, "flags": json_values, "eventName": json_values, "body": any_values | json_values,
    "attributes": st.lists(st.fixed_dictionaries({"key": st.text(max_size=8) | json_values,
                                                  "value": any_values | json_values}), max_size=4) | json_values,
})
otlp_json = st.builds(
    lambda records, resource, scope: {"resourceLogs": [{"resource": resource, "scopeLogs": [
        {"scope": scope, "logRecords": records}]}]},
    st.lists(otlp_fields | json_values, max_size=4),
    st.fixed_dictionaries({}, optional={"attributes": st.lists(st.fixed_dictionaries(
        {"key": st.text(max_size=8), "value": any_values}), max_size=3) | json_values}),
    st.fixed_dictionaries({}, optional={"name": json_values, "version": json_values}))


@_examples(400)
@given(body=otlp_json | json_values)
def test_random_json_raises_nothing_but_gelf_errors(body: Any) -> None:
    decoder = OtlpDecoder(Limits(max_depth=5, max_fields=30, max_field_name=6))
    try:
        result = decoder.decode_json(orjson.dumps(body), SENDER, NOW)
    except GelfError:
        return
    docs = [doc for doc, _ in result.documents]
    assert len(docs) + result.rejected_count == result.records
    orjson.dumps(docs)
    mapper = OtlpEcsMapper()
    orjson.dumps([mapper.document(doc, 1, NOW_ISO) for doc in docs])


scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) \
    | st.text(max_size=10) | st.binary(max_size=6)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
keys = st.sampled_from(["a", "a.b", "http.method", "host.name", "message", "", "bad key", "x_y", "x.y"]) \
    | st.text(max_size=6)
records = st.builds(
    lambda body, attrs, severity, time_ns, trace, span, flags: record(
        body, attrs, severity_number=severity, time_unix_nano=time_ns, trace_id=trace, span_id=span, flags=flags),
    values, st.lists(st.tuples(keys, values), max_size=6), st.integers(0, 30), st.integers(0, 2**64 - 1),
    st.sampled_from([b"", bytes(16), b"\x01" * 16, b"\x01" * 3]), st.sampled_from([b"", bytes(8), b"\x02" * 8]),
    st.integers(0, 2**32 - 1))


@_examples(200)
@given(recs=st.lists(records, min_size=1, max_size=4),
       resource=st.dictionaries(keys, scalars, max_size=4), dedot=st.booleans())
def test_both_encodings_of_any_request_give_the_same_documents(recs: list[LogRecord], resource: dict[str, Any],
                                                              dedot: bool) -> None:
    decoder = OtlpDecoder(Limits(max_depth=4, max_fields=25), dedot=dedot)
    result = decode(request(*recs, resource=resource), decoder)
    assert len(result.documents) + result.rejected_count == len(recs)


# ---- the ECS form


def ecs(req: ExportLogsServiceRequest) -> dict[str, Any]:
    return OtlpEcsMapper().document(one(req), 5, NOW_ISO)


def test_the_example_in_ecs() -> None:
    [(doc, _)] = OtlpDecoder().decode_json((VECTORS / "otlp" / "logs.json").read_bytes(), SENDER, NOW).documents
    assert OtlpEcsMapper().document(doc, 5, NOW_ISO) == {
        "@timestamp": "2018-12-13T14:51:00.300Z", "message": "Example log record", "ecs": {"version": ECS_VERSION},
        "service.name": "my.service", "my.scope.attribute": "some scope attribute",
        "string.attribute": "some string", "boolean.attribute": True, "int.attribute": 10,
        "double.attribute": 637.704, "array.attribute": ["many", "values"],
        "map.attribute": {"some.map.key": "some value"},
        "event": {"sequence": 5, "ingested": NOW_ISO}, "log": {"level": "Information", "logger": "my.library"},
        "trace": {"id": "5b8efff798038103d269b633813fc60c"}, "span": {"id": "eee19b7ec3c1b174"},
        "host": {"name": SENDER}, "source": {"address": SENDER, "ip": SENDER}, "agent": {"name": "otlp"}}


def test_ecs_maps_resource_attributes_as_elastic_does() -> None:
    doc = ecs(request(record("x", severity_number=21, severity_text="FATAL", event_name="crash"), resource={
        "service.name": "pay", "service.version": "1.2", "service.instance.id": "i-1",
        "deployment.environment.name": "prod", "host.name": "web-1", "host.arch": "amd64", "os.type": "darwin",
        "os.description": "macOS 14", "container.id": "c0ffee", "k8s.pod.name": "pay-1", "k8s.namespace.name": "ns",
        "k8s.cluster.name": "eu", "cloud.platform": "aws_ec2", "process.pid": 42, "process.executable.path": "/x",
        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.27.0"}))
    assert doc["service.name"] == "pay" and doc["service.version"] == "1.2" and doc["service.node.name"] == "i-1"
    assert doc["service.environment"] == "prod" and doc["host.hostname"] == "web-1"
    assert doc["host"] == {"name": "web-1", "os": {"type": "macos"}} and doc["host.architecture"] == "amd64"
    assert doc["host.os.platform"] == "darwin" and doc["host.os.full"] == "macOS 14"
    assert doc["container.id"] == "c0ffee" and doc["kubernetes.pod.name"] == "pay-1"
    assert doc["kubernetes.namespace"] == "ns" and doc["orchestrator.cluster.name"] == "eu"
    assert doc["cloud.service.name"] == "aws_ec2" and doc["process.pid"] == 42 and doc["process.executable"] == "/x"
    assert doc["agent"] == {"name": "opentelemetry/python", "version": "1.27.0"}
    assert not [k for k in doc if k.startswith("telemetry.")]
    assert doc["event"] == {"sequence": 5, "ingested": NOW_ISO, "severity": 21, "action": "crash"}
    assert doc["log"] == {"level": "FATAL", "syslog": {"severity": {"code": 2, "name": "Critical"}}}


def test_ecs_maps_record_attributes_as_elastic_does() -> None:
    doc = ecs(request(record("boom", {"exception.type": "ValueError", "exception.message": "bad",
                                      "exception.stacktrace": "Traceback ...", "event.name": "failure",
                                      "http.response.body.size": 10, "user.id": "u1"})))
    assert (doc["error.type"], doc["error.message"], doc["error.stack_trace"]) == ("ValueError", "bad",
                                                                                   "Traceback ...")
    assert doc["event.action"] == "failure" and doc["http.response.encoded_body_size"] == 10
    assert doc["user.id"] == "u1" and "exception.type" not in doc


def test_ecs_log_level_falls_back_to_the_syslog_keyword() -> None:
    assert ecs(request(record(severity_number=13)))["log"] == {
        "level": "warning", "syslog": {"severity": {"code": 4, "name": "Warning"}}}
    assert "log" not in ecs(request(record()))
    assert ecs(request(record(severity_text="Custom")))["log"] == {"level": "Custom"}


def test_ecs_our_fields_win_and_parents_move_to_value() -> None:
    doc = ecs(request(record("x", {"event": "login", "trace.id": "theirs", "source.address": "1.2.3.4",
                                   "host.name.x": 1, "agent": "a", "a.b": 2, "ecs.version": "0"},
                             trace_id=b"\x01" * 16), resource={"a": 1}))
    assert doc["event"] == {"sequence": 5, "ingested": NOW_ISO} and doc["event.value"] == "login"
    assert doc["trace"] == {"id": "01" * 16} and "trace.id" not in doc
    assert doc["source"] == {"address": SENDER, "ip": SENDER} and "source.address" not in doc
    assert "host.name.x" not in doc and doc["agent.value"] == "a" and doc["agent"] == {"name": "otlp"}
    assert doc["a.value"] == 1 and doc["a.b"] == 2 and doc["ecs"] == {"version": ECS_VERSION}
    # Without a trace of its own, the record's trace.id attribute stays.
    assert ecs(request(record("x", {"trace.id": "theirs"})))["trace.id"] == "theirs"


def test_ecs_leaves_out_the_structured_body_flags_and_scope_version() -> None:
    doc = ecs(request(record({"k": 1}, flags=1), scope="lib", version="1.0"))
    assert doc["message"] == '{"k":1}' and doc["log"] == {"logger": "lib"}
    assert "body" not in doc and "trace_flags" not in doc and "scope.version" not in doc
    assert "k" not in doc


def test_a_sender_name_that_is_no_address_has_no_source_ip() -> None:
    doc = OtlpDecoder().decode_protobuf(request(record()).SerializeToString(), "collector.local", NOW)
    assert OtlpEcsMapper().document(doc.documents[0][0], 1, NOW_ISO)["source"] == {"address": "collector.local"}


# ---- the core without OTLP never loads protobuf


def test_importing_the_core_loads_no_protobuf() -> None:
    code = ("import sys, gelfingest.core.otlp, gelfingest.core.ingest\n"
            "assert not [m for m in sys.modules if m.startswith(('google.protobuf', 'opentelemetry'))]\n"
            "from gelfingest.core.otlp import OtlpDecoder\n"
            "OtlpDecoder().decode_json(b'{}', 'h', 0.0)\n"
            "assert not [m for m in sys.modules if m.startswith('google.protobuf')]\n"
            "OtlpDecoder().decode_protobuf(b'', 'h', 0.0)\n"
            "assert 'google.protobuf' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


RICH = request(record({"m": [1, {"k": b"\x00"}]}, {"a.b": [1.5, None], "host.name": "h", "n": -3},
                      severity_number=9, trace_id=b"\x01" * 16, span_id=b"\x02" * 8, flags=1, event_name="e"),
               record("second", {"x": {"y": {"z": True}}}), resource={"service.name": "s", "host.name": "h"},
               scope="lib", version="1", scope_attrs={"k": "v"}).SerializeToString()


@_examples(300)
@given(edits=st.lists(st.tuples(st.integers(0, len(RICH) - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_a_damaged_protobuf_request_raises_nothing_but_gelf_errors(edits: list[tuple[int, int]]) -> None:
    body = bytearray(RICH)
    for at, byte in edits:
        body[at] = byte
    decoder = OtlpDecoder(Limits(max_depth=4, max_fields=20))
    try:
        result = decoder.decode_protobuf(bytes(body), SENDER, NOW)
    except GelfError:
        return
    docs = [doc for doc, _ in result.documents]
    orjson.dumps(docs)
    orjson.dumps([OtlpEcsMapper().document(doc, 1, NOW_ISO) for doc in docs])


def test_a_resource_or_scope_that_is_no_protobuf_refuses_its_records_alone() -> None:
    good = length_delimited(0x2A, length_delimited(0x0A, b"kept"))
    bad_resource = length_delimited(0x0A, b"\x0a\x05ab") + length_delimited(0x12, length_delimited(0x12, good))
    bad_scope = length_delimited(0x12, length_delimited(0x0A, b"\x12\x09") + length_delimited(0x12, good))
    fine = length_delimited(0x12, length_delimited(0x12, good))
    body = b"".join(length_delimited(0x0A, rl) for rl in (bad_resource, bad_scope, fine))
    result = OtlpDecoder().decode_protobuf(body, SENDER, NOW)
    assert [doc["message"] for doc, _ in result.documents] == ["kept"]
    assert result.rejected == {OtlpReason.INVALID_RECORD: 2} and result.records == 3


def test_ecs_names_never_run_below_one_another() -> None:
    doc = ecs(request(record("x", {"a.value.b": 1, "z": 1}), resource={"a": 1, "a.value": 2, "z.q": 3}))
    names = [k for k in doc if "." in k or k in ("a", "z")]
    assert not [n for n in names for m in names if n != m and n.startswith(m + ".")]
    assert doc["z.value"] == 1 and doc["z.q"] == 3


# -- through the core with --schema ecs ------------------------------------------------------------------------

def _ecs_ingest(processors: str = "", **settings: Any) -> Any:
    from gelfingest.core.ingest import Ingest, IngestSettings
    from gelfingest.core.processors import Context, build

    s = IngestSettings(schema="ecs", document_id_prefix="p-", index="logs-%{service.name}-%Y.%m.%d",
                       index_fallback="logs-other", **settings)
    return Ingest(s, processors=build(processors, Context(schema="ecs")) if processors else None)


def _stored(batches: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(orjson.loads(action), orjson.loads(doc)) for b in batches for item in b.items
            for action, doc in [item.split(b"\n")[:2]]]


def test_with_ecs_otlp_records_are_stored_in_otlp_s_ecs_form_in_order() -> None:
    ingest = _ecs_ingest()
    req = request(record("one", {"exception.message": "bad"}, severity_number=17, severity_text="ERROR",
                         trace_id=bytes(range(16)), span_id=bytes(range(8))),
                  record("two"), resource={"service.name": "checkout", "container.id": "c0ffee"}, scope="app.log")
    ready, result = ingest.otlp(req.SerializeToString(), "protobuf", SENDER, NOW)
    last = ingest.flush()
    stored = _stored(ready + ([last] if last is not None else []))
    assert result.rejected_count == 0 and [doc["message"] for _, doc in stored] == ["one", "two"]
    action, doc = stored[0]
    # The mapper's own form (the same as OtlpEcsMapper gives), with the sequence the core stamped.
    expected = OtlpEcsMapper().document(decode(req).documents[0][0], 0, doc["event"]["ingested"])
    expected["event"]["sequence"] = doc["event"]["sequence"]
    assert doc == expected
    assert doc["trace"] == {"id": bytes(range(16)).hex()} and doc["log"]["level"] == "ERROR"
    assert doc["service.name"] == "checkout" and doc["error.message"] == "bad" and doc["log"]["logger"] == "app.log"
    assert [d["event"]["sequence"] for _, d in stored] == [1, 2]
    # The index is named by the ECS field.
    assert action["create"]["_index"].startswith("logs-checkout-")


def test_with_ecs_the_processors_see_otlp_records_in_the_ecs_form() -> None:
    ingest = _ecs_ingest("""
processors:
  - drop_event:
      when:
        equals:
          log.level: DEBUG
  - add_fields:
      target: labels
      fields:
        seen: ecs
      when:
        has_fields: ["trace.id", "service.name"]
""")
    req = request(record("noise", severity_text="DEBUG"), record("kept", trace_id=bytes(16 * [1])),
                  resource={"service.name": "cart"})
    ready, _ = ingest.otlp(to_json(req), "json", SENDER, NOW)
    last = ingest.flush()
    stored = _stored(ready + ([last] if last is not None else []))
    assert [doc["message"] for _, doc in stored] == ["kept"]
    doc = stored[0][1]
    assert doc["labels"] == {"seen": "ecs"} and doc["event"]["sequence"] == 1  # the dropped one took no number
