"""The OTLP/HTTP logs input (--otlp) against the real Elasticsearch, with OpenTelemetry's own Python SDK and
OTLP/HTTP exporter (protobuf, gzip) through the logging bridge, the specification's example request posted
as it is, and the error answers."""

from __future__ import annotations

import gzip
import json
import logging
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from tests.conftest import ES
from tests.harness import Daemon

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[1] / "vectors" / "otlp" / "logs.json"


def post(port: int, body: bytes, media: str = "application/json", encoding: str | None = None,
         ) -> tuple[int, bytes, str]:
    headers = {"Content-Type": media, **({"Content-Encoding": encoding} if encoding else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/logs", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


def test_the_python_sdk_s_records_are_indexed_once_in_order_with_severity_and_trace(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon) -> None:
    index = "otlp-python"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0"})
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "host.name": "box-1"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=f"http://127.0.0.1:{d.otlp_port}/v1/logs", compression=Compression.Gzip)))
    logger = logging.getLogger("otlp-python")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    trace_id, span_id = 0x5B8EFFF798038103D269B633813FC60C, 0xEEE19B7EC3C1B174
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)))
    from opentelemetry import context
    token = context.attach(set_span_in_context(span))
    for i in range(300):
        (logger.error if i % 3 == 0 else logger.info)("order %d paid", i, extra={"order_id": i, "user": "ann"})
    context.detach(token)
    provider.shutdown()
    d.settled(time.time())
    assert d.stop() == 0
    docs = elasticsearch.search_all(index)
    assert len(docs) == 300, d.text()
    by_order = sorted(docs, key=lambda doc: doc["sequence"])
    assert [int(doc["message"].split()[1]) for doc in by_order] == list(range(300))  # the order they were sent
    first = by_order[0]
    assert first["level"] == 3 and by_order[1]["level"] == 6  # ERROR and INFO as syslog levels
    assert first["trace_id"] == f"{trace_id:032x}" and first["span_id"] == f"{span_id:016x}"
    assert first["order_id"] == 0 and first["user"] == "ann"
    assert json.dumps(first).count("checkout") >= 1  # the resource's service.name is kept
    assert "otlp: " in d.text() and "rejected: none" in d.text()


def test_the_specification_s_example_and_the_error_answers(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    index = "otlp-example"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0", "GELFINGEST_OTLP_MAX_BODY": "65536"})
    example = EXAMPLE.read_bytes()
    status, body, media = post(d.otlp_port, example)
    assert (status, media) == (200, "application/json") and json.loads(body) == {}
    status, body, _ = post(d.otlp_port, gzip.compress(example), encoding="gzip")
    assert status == 200
    assert post(d.otlp_port, example, media="text/plain")[0] == 415
    assert post(d.otlp_port, example, encoding="br")[0] == 415
    status, body, _ = post(d.otlp_port, b"{not json")
    assert status == 400 and json.loads(body)["code"] == 3 and json.loads(body)["message"]
    status, body, _ = post(d.otlp_port, b"\xff\xff\xff", media="application/x-protobuf")
    assert status == 400
    assert post(d.otlp_port, gzip.compress(b"{" + b" " * 200_000 + b"}"), encoding="gzip")[0] == 413
    assert post(d.otlp_port, b" " * 100_000)[0] == 413
    # One record with more attributes than --max-fields: refused alone, the other taken.
    many = [{"key": f"k{i}", "value": {"intValue": i}} for i in range(1001)]
    request = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "kept"}}, {"body": {"stringValue": "too wide"}, "attributes": many}]}]}]}
    status, body, _ = post(d.otlp_port, json.dumps(request).encode())
    partial = json.loads(body)["partialSuccess"]
    assert status == 200 and partial["rejectedLogRecords"] == "1" and "too_many_fields" in partial["errorMessage"]
    d.settled(time.time())
    assert d.stop() == 0
    docs = elasticsearch.search_all(index)
    records = sum(len(scope["logRecords"]) for rl in json.loads(example)["resourceLogs"]
                  for scope in rl["scopeLogs"])
    assert len(docs) == 2 * records + 1
    assert [doc["message"] for doc in docs].count("kept") == 1


def test_the_node_sdk_s_json_records_are_indexed_once_in_order(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, otel_node: Path) -> None:
    import subprocess

    index = "otlp-node"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0"})
    subprocess.run(["node", str(otel_node / "send.js"), f"http://127.0.0.1:{d.otlp_port}/v1/logs", "200"], check=True,
                   timeout=60)
    d.settled(time.time())
    assert d.stop() == 0
    docs = sorted(elasticsearch.search_all(index), key=lambda doc: doc["sequence"])
    assert [doc["message"] for doc in docs] == [f"cart {i} checked out" for i in range(200)], d.text()
    assert [doc["level"] for doc in docs[:4]] == [4, 6, 6, 6]  # WARN, INFO as syslog levels
    first = docs[0]
    assert first["severity_text"] == "WARN" and first["user"] == "bo" and first["ok"] is False
    assert first["scope.name"] == "cart-logger" and first["resource.service.name"] == "cart"
    assert first["host"] == "node-box"
    assert "200=" in d.text() and "0 records refused" in d.text()


# ---- hostile bodies through the real listener: bounded in memory and CPU, refused (or partly taken) with the
# answer the specification gives, and no harm to the requests that follow

PROTOBUF = "application/x-protobuf"
MIB = 1 << 20
# google.rpc.Code
INVALID_ARGUMENT, RESOURCE_EXHAUSTED = 3, 8
# The longest any one hostile request may take to be answered (they take milliseconds to half a second here).
HOSTILE_SECONDS = 5.0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(tag: int, payload: bytes) -> bytes:
    """A protobuf field of wire type 2 (``tag``: its number shifted left 3, plus 2)."""
    return bytes([tag]) + _varint(len(payload)) + payload


def _pb_resource_logs(*records: bytes, resource: bytes = b"") -> bytes:
    """ExportLogsServiceRequest.resource_logs{resource: {attributes: resource}, scope_logs: [{log_records}]},
    from encoded records (and a resource's encoded attributes), to be joined into a request."""
    scope = b"".join(_ld(0x12, record) for record in records)
    return _ld(0x0A, (_ld(0x0A, resource) if resource else b"") + _ld(0x12, scope))


def _pb_text(text: str) -> bytes:
    """A LogRecord{body: {string_value: text}}."""
    return _ld(0x2A, _ld(0x0A, text.encode()))


def _pb_deep(levels: int) -> bytes:
    """An AnyValue nested ``levels`` deep, arrays and maps (kvlist_value) by turns, around "x": built from the
    inside out, each level a prefix (its lengths) of what it holds, so that 10,000 levels cost no quadratic
    copying (and protobuf's own serializer, which stops at 100 levels, is not needed)."""
    inner = _ld(0x0A, b"x")  # AnyValue{string_value: "x"}
    size = len(inner)
    prefixes = []
    for level in range(levels):
        if level % 2:  # AnyValue{kvlist_value: KeyValueList{values: [KeyValue{key: "k", value: inner}]}}
            key_value = b"\x0a\x01k\x12" + _varint(size)
            size += len(key_value)
            values = b"\x0a" + _varint(size)
            size += len(values)
            kvlist = b"\x32" + _varint(size)
            size += len(kvlist)
            prefixes.append(kvlist + values + key_value)
        else:  # AnyValue{array_value: ArrayValue{values: [inner]}}
            values = b"\x0a" + _varint(size)
            size += len(values)
            array = b"\x2a" + _varint(size)
            size += len(array)
            prefixes.append(array + values)
    out = b"".join(reversed(prefixes)) + inner
    assert len(out) == size
    return out


def _json_deep(levels: int) -> bytes:
    """As ``_pb_deep`` in OTLP/JSON (three JSON levels an array, four a map)."""
    opening = [b'{"kvlistValue":{"values":[{"key":"k","value":' if level % 2 else b'{"arrayValue":{"values":['
               for level in range(levels)]
    closing = [b"}]}}" if level % 2 else b"]}}" for level in reversed(range(levels))]
    return b"".join(opening) + b'{"stringValue":"x"}' + b"".join(closing)


def _json_request(*records: bytes) -> bytes:
    return b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + b",".join(records) + b"]}]}]}"


def _json_text(text: str) -> bytes:
    return json.dumps({"body": {"stringValue": text}}).encode()


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at``, and where the next field starts."""
    value = shift = 0
    while True:
        byte, at = data[at], at + 1
        value, shift = value | (byte & 0x7F) << shift, shift + 7
        if byte < 0x80:
            return value, at


def _status(body: bytes, media: str) -> tuple[int, str]:
    """A google.rpc.Status answer's code and message (in protobuf: field 1 a varint, field 2 a string)."""
    if media == "application/json":
        status = json.loads(body)
        return int(status["code"]), str(status["message"])
    assert body[:1] == b"\x08", body[:40]
    code, at = _read_varint(body, 1)
    assert body[at:at + 1] == b"\x12", body[:40]
    length, at = _read_varint(body, at + 1)
    assert len(body) == at + length, "a Status of a code and a message, nothing else"
    return code, body[at:].decode()


def _partial(body: bytes, media: str) -> tuple[int, str]:
    """An ExportLogsServiceResponse's partial_success: the records refused and why."""
    if media == "application/json":
        partial = json.loads(body).get("partialSuccess", {})
        return int(partial.get("rejectedLogRecords", 0)), str(partial.get("errorMessage", ""))
    answer: Any = ExportLogsServiceResponse.FromString(body)
    return int(answer.partial_success.rejected_log_records), str(answer.partial_success.error_message)


class _Hostile:
    """Posts to one daemon's OTLP listener, timing each answer; after each hostile request, a good one, which
    must be answered 200 and indexed (answers are given once the records are indexed: --http-ack durable)."""

    def __init__(self, d: Daemon, es: ES, index: str) -> None:
        self.d, self.es, self.index = d, es, index
        self.good_sent: list[str] = []
        self.seconds: dict[str, float] = {}

    def post(self, name: str, body: bytes, media: str = PROTOBUF, encoding: str | None = None,
             ) -> tuple[int, bytes, str]:
        start = time.monotonic()
        status, answer, answered_as = post(self.d.otlp_port, body, media, encoding)
        self.seconds[name] = elapsed = time.monotonic() - start
        assert elapsed < HOSTILE_SECONDS, f"{name}: answered after {elapsed:.1f} s"
        assert answered_as == media, f"{name}: answered as {answered_as}, asked in {media}"
        assert self.d.proc.poll() is None, f"{name}: the daemon died\n{self.d.text()}"
        self.good(name)
        return status, answer, answered_as

    def refused(self, name: str, body: bytes, status: int, code: int, reason: str, media: str = PROTOBUF,
                encoding: str | None = None) -> str:
        """A request refused whole: ``status`` with a google.rpc.Status of ``code`` that says ``reason``."""
        answered, answer, _ = self.post(name, body, media, encoding)
        assert answered == status, f"{name}: {answered} {answer[:300]!r}"
        got_code, message = _status(answer, media)
        assert got_code == code and message.startswith(f"{reason}: "), f"{name}: {got_code} {message}"
        return message

    def partly(self, name: str, body: bytes, rejected: int, reasons: tuple[str, ...],
               media: str = PROTOBUF) -> str:
        """A request taken with ``rejected`` records refused one by one (partial_success) for ``reasons``."""
        answered, answer, _ = self.post(name, body, media)
        assert answered == 200, f"{name}: {answered} {answer[:300]!r}"
        count, message = _partial(answer, media)
        assert count == rejected and all(reason in message for reason in reasons), f"{name}: {count} {message}"
        return message

    def good(self, after: str) -> None:
        text = f"good after {after}"
        status, answer, _ = post(self.d.otlp_port, _pb_resource_logs(_pb_text(text)), PROTOBUF)
        assert (status, answer) == (200, b""), f"after {after}: {status} {answer[:300]!r}"
        self.good_sent.append(text)
        assert text in self.messages(), f"after {after}: the good record is not indexed"

    def messages(self) -> list[str]:
        return [doc["message"] for doc in self.es.search_all(self.index)]

    def peak_mib(self) -> float:
        """The worker's peak RSS (VmHWM) so far (one worker: the daemon's own process)."""
        return self.d.peak_rss_mib()


def test_otlp_values_nested_ten_thousand_deep_are_refused_and_harm_nothing(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon) -> None:
    """A record's body or attribute (or a resource's attribute) nested 10,000 levels deep: protobuf parses the
    request's lists as bytes and each record on its own, so upb's own bound (100 messages) makes the record no
    protobuf to it: refused alone (``invalid_record``), the others taken, 200 with partial_success. Deeper than
    --max-json-depth (20) within upb's bound: refused alone too (``json_too_deep``). In JSON, orjson does not
    parse past 1024 levels: the body does not parse, and is refused whole (400, ``json_too_deep``); within
    orjson's bound the deep record is refused alone, as in protobuf."""
    index = "otlp-hostile-depth"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0"})
    hostile = _Hostile(d, elasticsearch, index)
    hostile.good("start")  # protobuf loaded, the output connected
    start_mib = hostile.peak_mib()
    deep = _pb_deep(10_000)
    assert len(deep) > 100_000
    body_deep = _ld(0x2A, deep)  # LogRecord.body
    attribute_deep = _ld(0x32, b"\x0a\x01a" + _ld(0x12, deep))  # LogRecord.attributes: {key: "a", value: deep}
    hostile.partly("a body 10,000 deep", _pb_resource_logs(body_deep, _pb_text("kept 1")), 1,
                   ("invalid_record", "not protobuf"))
    hostile.partly("an attribute 10,000 deep", _pb_resource_logs(attribute_deep, _pb_text("kept 2")), 1,
                   ("invalid_record",))
    resource_deep = _ld(0x0A, b"\x0a\x01r" + _ld(0x12, deep))  # Resource.attributes: {key: "r", value: deep}
    hostile.partly("a resource attribute 10,000 deep",
                   _pb_resource_logs(_pb_text("lost with its resource"), _pb_text("lost too"), resource=resource_deep)
                   + _pb_resource_logs(_pb_text("kept 3")), 2, ("invalid_record", "a resource that is not protobuf"))
    hostile.partly("a body 30 deep", _pb_resource_logs(_ld(0x2A, _pb_deep(30)), _pb_text("kept 4")), 1,
                   ("json_too_deep",))
    # Every record refused: still 200 (partial_success), nothing taken.
    hostile.partly("only records 10,000 deep", _pb_resource_logs(body_deep, attribute_deep), 2, ("invalid_record",))
    # Unknown fields as 10,000 nested groups (wire types 3 and 4, which upb skips level by level): in a record,
    # that record refused; in the request's envelope, the request (400).
    groups = b"\x7b" * 10_000 + b"\x7c" * 10_000  # field 15: start group, end group
    hostile.partly("a record of 10,000 nested groups", _pb_resource_logs(groups + _pb_text("lost"),
                                                                         _pb_text("kept 5")), 1, ("invalid_record",))
    hostile.refused("a request of 10,000 nested groups", groups + _pb_resource_logs(_pb_text("refused with it")),
                    400, INVALID_ARGUMENT, "invalid_protobuf")

    json_deep = _json_deep(10_000)
    assert len(json_deep) > 300_000
    hostile.refused("JSON 10,000 deep", _json_request(_json_text("refused with the body"),
                                                      b'{"body":' + json_deep + b"}"),
                    400, INVALID_ARGUMENT, "json_too_deep", media="application/json")
    hostile.partly("JSON 100 deep", _json_request(b'{"body":' + _json_deep(100) + b"}", _json_text("kept 6")), 1,
                   ("json_too_deep",), media="application/json")
    deep_attribute = b'{"attributes":[{"key":"a","value":' + _json_deep(100) + b"}]}"
    hostile.partly("JSON attribute 100 deep", _json_request(deep_attribute, _json_text("kept 7")), 1,
                   ("json_too_deep",), media="application/json")

    grown = hostile.peak_mib() - start_mib
    print(f"\ndepth: peak RSS {start_mib:.0f} MiB at start, +{grown:.1f} MiB; seconds: "
          + ", ".join(f"{name} {seconds:.3f}" for name, seconds in hostile.seconds.items()))
    assert grown < 32, f"the peak RSS grew by {grown:.0f} MiB"
    assert d.stop() == 0
    assert not d.errors(), d.text()
    assert sorted(hostile.messages()) == sorted([*(f"kept {i}" for i in range(1, 8)), *hostile.good_sent])


def _deflate(size: int) -> bytes:
    """``size`` zero bytes as raw deflate (about 1/1000 of it)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(MIB)
    return b"".join(deflater.compress(chunk) for _ in range(size // MIB)) + deflater.flush()


def _bombs(size: int) -> tuple[bytes, bytes, bytes]:
    """``size`` zero bytes as gzip, as zlib (HTTP's deflate) and as raw deflate, deflated once."""
    raw = _deflate(size)
    crc, adler = 0, 1
    chunk = bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
        adler = zlib.adler32(chunk, adler)
    gzipped = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + crc.to_bytes(4, "little") + \
        (size % 2**32).to_bytes(4, "little")
    zlibbed = b"\x78\xda" + raw + adler.to_bytes(4, "big")
    return gzipped, zlibbed, raw


def _inflated_size(gzipped: bytes) -> int:
    """The size of a gzip stream inflated a MiB at a time (its CRC and length checked at its end)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    size = len(inflater.decompress(gzipped, MIB))
    while inflater.unconsumed_tail:
        size += len(inflater.decompress(inflater.unconsumed_tail, MIB))
    size += len(inflater.flush())
    assert inflater.eof and not inflater.unused_data
    return size


def test_otlp_a_million_attributes_and_decompression_bombs_are_bounded(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon) -> None:
    """Decompression bombs (200 MiB of zeros in 200 KiB) are refused 413 once they pass --otlp-max-body (16 MiB):
    inflating stops there. A million attributes: in one record (refused alone, by their count before any is
    walked, or by the record's size before it is parsed), in one resource (its records refused), over a body
    larger than --otlp-max-body (413), or spread over records each within --max-fields (more than --max-values
    in the request: refused whole, 413, after a bounded walk). Each answered within seconds, memory bounded."""
    index = "otlp-hostile-size"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0"})  # --otlp-max-body 16 MiB, --max-message-size 8 MiB
    hostile = _Hostile(d, elasticsearch, index)
    hostile.good("start")
    start_mib = hostile.peak_mib()

    bomb = 200 * MIB
    gzipped, zlibbed, raw = _bombs(bomb)
    for wbits, stream in ((16 + zlib.MAX_WBITS, gzipped), (zlib.MAX_WBITS, zlibbed), (-zlib.MAX_WBITS, raw)):
        assert zlib.decompressobj(wbits).decompress(stream, MIB) == bytes(MIB)
    assert _inflated_size(gzipped) == bomb  # whole, its trailer checked
    assert max(len(gzipped), len(zlibbed), len(raw)) < MIB // 4
    for name, body, encoding, media in (("gzip bomb", gzipped, "gzip", PROTOBUF),
                                        ("deflate bomb", zlibbed, "deflate", "application/json"),
                                        ("raw deflate bomb", raw, "deflate", PROTOBUF)):
        message = hostile.refused(name, body, 413, RESOURCE_EXHAUSTED, "decompressed_too_large", media, encoding)
        assert str(16 * MIB) in message
    bombs_mib = hostile.peak_mib() - start_mib

    # One record of a million empty attributes (2 MB): upb parses it, the count refuses it before a walk.
    empty = b"\x32\x00" * 1_000_000 + _pb_text("too wide")
    hostile.partly("1,000,000 empty attributes", _pb_resource_logs(empty, _pb_text("kept 1")), 1,
                   ("too_many_fields", "1000004 or more fields"))
    # A million named attributes (000000 ... 0f423f, int 1 each) in 14 MB: within --otlp-max-body, the record
    # is larger than --max-message-size and refused before it is parsed.
    named = b"".join([b"\x32\x0c\x0a\x06" + b"%06x" % i + b"\x12\x02\x18\x01" for i in range(1_000_000)])
    body = _pb_resource_logs(named + _pb_text("too large"), _pb_text("kept 2"))
    assert 8 * MIB < len(body) < 16 * MIB
    hostile.partly("1,000,000 named attributes", body, 1, ("too_large",))
    del body
    # A resource of a million attributes: its records are refused.
    hostile.partly("a resource of 1,000,000 attributes",
                   _pb_resource_logs(_pb_text("lost"), resource=b"\x0a\x00" * 1_000_000)
                   + _pb_resource_logs(_pb_text("kept 3")), 1, ("too_many_fields", "a resource of 1000000"))
    # Longer names past --otlp-max-body as sent: 413, the body not read past it.
    longer = b"".join([b"\x32\x0f\x0a\x09" + b"%09x" % i + b"\x12\x02\x18\x01" for i in range(1_000_000)])
    assert len(longer) > 16 * MIB
    hostile.refused("1,000,000 attributes past --otlp-max-body", _pb_resource_logs(longer), 413,
                    RESOURCE_EXHAUSTED, "body_too_large")
    del named, longer
    # 2001 records of 500 attributes, each record within --max-fields (1000), 1,000,500 values in the request:
    # past --max-values (1,000,000) the request is refused whole (413), none of its records taken (the walk
    # stops at the record that passes the count). Gzipped (about 100 KiB on the wire): decompressing does not get
    # past the bounds.
    record = b"".join(_ld(0x32, _ld(0x0A, b"k%d" % i) + _ld(0x12, b"\x18" + _varint(i))) for i in range(500))
    spread = _pb_resource_logs(*[record + _pb_text("spread")] * 2001)
    assert len(spread) < 16 * MIB
    hostile.refused("1,000,500 attributes over 2001 records", gzip.compress(spread, 1), 413, RESOURCE_EXHAUSTED,
                    "too_many_values", encoding="gzip")

    grown = hostile.peak_mib() - start_mib
    print(f"\nsize: peak RSS {start_mib:.0f} MiB at start, +{bombs_mib:.1f} MiB after the bombs, +{grown:.1f} MiB "
          "at the end; seconds: " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in hostile.seconds.items()))
    # The bombs: inflating stops one byte past --otlp-max-body (16 MiB), not at the 200 MiB they hold.
    assert bombs_mib < 64, f"the bombs grew the peak RSS by {bombs_mib:.0f} MiB"
    assert grown < 200, f"the peak RSS grew by {grown:.0f} MiB"
    assert d.stop() == 0
    assert not d.errors(), d.text()
    assert sorted(hostile.messages()) == sorted(["kept 1", "kept 2", "kept 3", *hostile.good_sent])


def test_with_ecs_records_are_stored_as_elastic_maps_otlp(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    index = "otlp-ecs"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_SCHEMA": "ecs",
                "GELFINGEST_OTLP": "127.0.0.1:0"})
    assert post(d.otlp_port, EXAMPLE.read_bytes())[0] == 200  # answered once indexed (--http-ack durable)
    assert d.stop() == 0
    assert "durable answers: 1 once indexed or spooled, 0 spooled at --http-ack-timeout, 0 refused" in d.text()
    elasticsearch.call("POST", f"/{index}/_refresh")
    [doc] = [hit["_source"] for hit in elasticsearch.call("POST", f"/{index}/_search", {})["hits"]["hits"]]
    assert doc["message"] == "Example log record" and doc["@timestamp"] == "2018-12-13T14:51:00.300Z"
    assert doc["trace"] == {"id": "5b8efff798038103d269b633813fc60c"} and doc["span"] == {"id": "eee19b7ec3c1b174"}
    assert doc["log"]["level"] == "Information" and doc["log"]["logger"] == "my.library"
    assert doc["service.name"] == "my.service" and doc["event"]["sequence"] >= 1
    assert doc["agent"] == {"name": "otlp"} and doc["ecs"]["version"]
    mapping = elasticsearch.call("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping["trace"]["properties"]["id"]["type"] == "keyword"
    assert mapping["service"]["properties"]["name"]["type"] == "keyword"
    assert mapping["event"]["properties"]["sequence"]["type"] == "long"
