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
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from tests.conftest import ES

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


NODE_CLIENT = Path(__file__).resolve().parents[1] / "interop" / "otel_node"


@pytest.fixture(scope="session")
def node_sender(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OpenTelemetry's Node SDK and OTLP/HTTP log exporter (it sends JSON), installed from npm once."""
    import shutil
    import subprocess

    where = tmp_path_factory.mktemp("otel-node")
    for name in ("package.json", "send.js"):
        shutil.copy(NODE_CLIENT / name, where / name)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=where, check=True,
                   timeout=300)
    return where / "send.js"


def test_the_node_sdk_s_json_records_are_indexed_once_in_order(  # type: ignore[no-untyped-def]
        elasticsearch: ES, daemon, node_sender: Path) -> None:
    import subprocess

    index = "otlp-node"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_OTLP": "127.0.0.1:0"})
    subprocess.run(["node", str(node_sender), f"http://127.0.0.1:{d.otlp_port}/v1/logs", "200"], check=True,
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
