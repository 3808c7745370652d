"""OTLP logs records per CPU-second through the core's decoder (core/otlp.py), protobuf and JSON, and
through the whole core (``Ingest.otlp``: decoded, mapped, sequenced, encoded and batched) in both schemas.

    .venv/bin/python -m benchmarks.otlp [--records 512] [--requests 200] [--rounds 5]

Requests as an SDK's batch processor sends them: ``--records`` log records each (512, the SDKs' default
batch), every record with a 45-character body, 10 attributes (strings, integers, a double, a boolean),
severity, trace and span ids, under one resource with 8 attributes and one scope. Each round decodes the same
``--requests`` requests in both encodings, in turn (the order alternating round by round); the figure is
the median over the rounds of records per CPU-second (time.process_time), and µs per record. The protobuf
runtime is printed with it (upb is the fast one; pure Python is several times slower). The rows "core" add
what the daemon does after decoding, in the Logstash and the ECS form (OTLP's own, otlp.py's
``OtlpEcsMapper``), the variants taken in turn, their order reversed every other round.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from collections.abc import Sequence

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.otlp import OtlpDecoder, protobuf_runtime

T0 = 1_765_000_000_000_000_000


def _value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _attributes(values: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in values.items()]


def make_request(records: int, seed: int) -> ExportLogsServiceRequest:
    resource = {"service.name": "checkout", "service.version": "1.4.2", "host.name": "node-7",
                "container.id": "3f4e5d6c7b8a", "k8s.pod.name": "checkout-6d9f", "k8s.namespace.name": "shop",
                "deployment.environment": "prod", "telemetry.sdk.language": "python"}
    logs = [LogRecord(
        time_unix_nano=T0 + (seed * records + i) * 1000, observed_time_unix_nano=T0 + (seed * records + i) * 1000,
        severity_number=9 if i % 5 else 17, severity_text="INFO" if i % 5 else "ERROR",
        body=AnyValue(string_value=f"order {seed}-{i:05d} paid by card, 3 items shipped"),
        attributes=_attributes({"http.method": "POST", "http.route": "/api/orders", "http.status_code": 200,
                                "order.id": seed * records + i, "user.id": f"u-{i % 97}", "cart.items": 3,
                                "duration_ms": 12.5, "retry": False, "region": "eu-west-1", "tenant": "acme"}),
        trace_id=bytes(range(16)), span_id=bytes(range(8)), flags=1) for i in range(records)]
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=_attributes(resource)),
        scope_logs=[ScopeLogs(scope=InstrumentationScope(name="checkout.orders", version="1.0"),
                              log_records=logs)])])


def to_json(req: ExportLogsServiceRequest) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping with enums as numbers and the ids in hex, as the specification says."""
    data = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rl in data["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for rec in sl["logRecords"]:
                for key in ("traceId", "spanId"):
                    rec[key] = base64.b64decode(rec[key]).hex()
    return orjson.dumps(data)


def rate(decode: object, bodies: Sequence[bytes], records: int) -> float:
    """Records per CPU-second decoding every body once."""
    start = time.process_time()
    for body in bodies:
        result = decode(body, "10.0.0.1", 1_765_000_000.0)  # type: ignore[operator]
        assert len(result.documents) == records, result.error_message()
    return records * len(bodies) / (time.process_time() - start)


def core_rate(schema: str, encoding: str, bodies: Sequence[bytes], records: int) -> float:
    """Records per CPU-second through ``Ingest.otlp`` (a fresh core each time, its batches let go)."""
    ingest = Ingest(IngestSettings(schema=schema, document_id_prefix="b-"))  # type: ignore[arg-type]
    taken = 0
    start = time.process_time()
    for body in bodies:
        ready, result = ingest.otlp(body, encoding, "10.0.0.1", 1_765_000_000.0)  # type: ignore[arg-type]
        taken += sum(map(len, ready))
        assert not result.rejected, result.error_message()
    last = ingest.flush()
    elapsed = time.process_time() - start
    assert taken + (len(last) if last is not None else 0) == records * len(bodies)
    return records * len(bodies) / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=512)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    requests = [make_request(args.records, seed) for seed in range(args.requests)]
    bodies = {"protobuf": [r.SerializeToString() for r in requests], "json": [to_json(r) for r in requests]}
    decoder = OtlpDecoder()
    decoders = {"protobuf": decoder.decode_protobuf, "json": decoder.decode_json}
    variants = {
        "decoder protobuf": lambda: rate(decoders["protobuf"], bodies["protobuf"], args.records),
        "decoder json": lambda: rate(decoders["json"], bodies["json"], args.records),
        "core logstash protobuf": lambda: core_rate("logstash", "protobuf", bodies["protobuf"], args.records),
        "core logstash json": lambda: core_rate("logstash", "json", bodies["json"], args.records),
        "core ecs protobuf": lambda: core_rate("ecs", "protobuf", bodies["protobuf"], args.records),
    }
    figures: dict[str, list[float]] = {name: [] for name in variants}
    for k in range(args.rounds):
        for name in (list(variants) if k % 2 == 0 else list(reversed(variants))):
            figures[name].append(variants[name]())
    print(f"protobuf runtime: {protobuf_runtime()}; {args.requests} requests of {args.records} records, "
          f"10 attributes each, median of {args.rounds} rounds")
    for name in variants:
        per_s = statistics.median(figures[name])
        kind = name.rsplit(" ", 1)[1]
        size = sum(map(len, bodies[kind])) / (args.requests * args.records)
        print(f"  {name:<23} {per_s:>10,.0f} records per CPU-second  {1e6 / per_s:6.2f} us per record  "
              f"{size:5.0f} bytes per record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
