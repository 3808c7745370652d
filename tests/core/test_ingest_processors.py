"""The processors inside the core's data path (core/ingest.py): where they run and what they see."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gelfingest.core.bulk import decode_item
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.processors import Context, build
from gelfingest.core.streams import PIECE_SIZE
from tests.helpers import gelf

DOCKER = {"_container_id": "c1", "_container_name": "web-1", "_image_name": "nginx", "_command": "x",
          "_created": "2026-01-01T00:00:00Z", "_tag": "c1"}


def indexed(batches: list[Any], last: Any = None) -> list[tuple[str, dict[str, Any]]]:
    items = [item for b in [*batches, *([last] if last is not None else [])] for item in b.items]
    out = []
    for item in items:
        action, doc = decode_item(item)
        out.append((next(iter(action.values()))["_index"], doc))
    return out


def run(settings: IngestSettings, text: str, messages: list[bytes], now: float = 1_800_000_000.0,
        ) -> list[tuple[str, dict[str, Any]]]:
    ingest = Ingest(settings, processors=build(text, Context(schema=settings.schema)))
    batches, rejected = ingest.take_many(messages, ["10.0.0.1"] * len(messages), now)
    assert rejected == []
    batches += ingest.tick(now + 60)
    return indexed(batches, ingest.flush())


DROP_PROBES = """
processors:
  - drop_event:
      when:
        contains:
          message: "kube-probe"
"""


def test_a_dropped_event_takes_no_sequence_number() -> None:
    messages = [gelf("GET /healthz kube-probe/1.29" if i % 3 == 0 else f"line {i}", **DOCKER) for i in range(30)]
    docs = [doc for _, doc in run(IngestSettings(), DROP_PROBES, messages)]
    assert [d["message"] for d in docs] == [f"line {i}" for i in range(30) if i % 3]
    assert [d["sequence"] for d in docs] == list(range(1, 21))


def test_a_json_line_docker_cut_into_pieces_is_parsed_whole_after_they_are_joined() -> None:
    line = json.dumps({"service": "billing", "payload": "p" * (2 * PIECE_SIZE)})
    pieces = [line[i:i + PIECE_SIZE] for i in range(0, len(line), PIECE_SIZE)]
    text = """
processors:
  - decode_json_fields:
      fields: [message]
      target: json
"""
    settings = IngestSettings(join_partial=True, index="logs-%{json.service}-%Y.%m.%d", index_fallback="logs-other")
    out = run(settings, text, [gelf(piece, **DOCKER) for piece in pieces])
    assert len(out) == 1
    index, doc = out[0]
    assert doc["json"]["service"] == "billing" and len(doc["json"]["payload"]) == 2 * PIECE_SIZE
    assert index.startswith("logs-billing-")  # routed by a field the processors made


def test_with_ecs_the_processors_see_and_write_ecs_names() -> None:
    text = """
processors:
  - drop_event:
      when:
        equals:
          container.name: "noisy"
  - add_fields:
      target: labels
      fields:
        team: payments
"""
    messages = [gelf("kept", **DOCKER), gelf("gone", **{**DOCKER, "_container_name": "noisy"})]
    out = run(IngestSettings(schema="ecs"), text, messages)
    assert len(out) == 1
    doc = out[0][1]
    assert doc["message"] == "kept" and doc["container"]["name"] == "web-1"
    assert doc["labels"] == {"team": "payments"}
    assert doc["event"]["sequence"] == 1 and "ingested" in doc["event"]
    assert "sequence" not in doc


def test_a_failing_processor_keeps_the_event_as_it_was_and_tags_it() -> None:
    text = """
processors:
  - decode_json_fields:
      fields: [message]
      target: json
"""
    out = run(IngestSettings(), text, [gelf('{"broken": ', **DOCKER), gelf("plain text", **DOCKER)])
    docs = [doc for _, doc in out]
    assert docs[0]["message"] == '{"broken": ' and "json" not in docs[0]
    assert docs[0]["tags"] == ["_jsonparsefailure"]
    assert docs[1]["message"] == "plain text" and "tags" not in docs[1]  # not JSON-looking: not tried


def test_without_processors_nothing_changes() -> None:
    messages = [gelf(f"line {i}", **DOCKER) for i in range(5)]
    plain = Ingest(IngestSettings())
    batches, _ = plain.take_many(messages, ["10.0.0.1"] * 5, 1_800_000_000.0)
    empty = run(IngestSettings(), "processors: []\n", messages)
    assert indexed(batches, plain.flush()) == empty


EVERY_PROCESSOR = """
processors:
  - drop_event:
      when:
        or:
          - regexp: {message: 'kube-probe|^DROP'}
          - range: {json.status: {gte: 600}}
          - network: {source_host: [loopback]}
  - decode_json_fields: {fields: [message, payload], target: json, max_depth: 3, add_error_key: true}
  - if:
      has_fields: [json.level]
    then:
      - rename: {fields: [{from: json.level, to: json.severity}], ignore_missing: true}
    else:
      - add_tags: {tags: [plain]}
  - dissect: {tokenizer: '%{verb} %{path} %{status}', field: message, target_prefix: http}
  - convert: {fields: [{from: http.status, to: http.code, type: integer}], ignore_missing: true,
              fail_on_error: false}
  - replace: {fields: [{field: message, pattern: '[0-9]+', replacement: 'N'}], ignore_missing: true}
  - truncate_fields: {fields: [message], max_bytes: 200}
  - drop_fields: {fields: ['/^json\\\\.tmp/', payload], ignore_missing: true}
  - redact: {fields: [message, json], keys: '(?i)password|token'}
  - add_fields: {target: meta, fields: {team: a}}
  - sample: {rate: 2, key_field: container_name}
  - include_fields: {fields: [message, json, http, meta, tags, container_name, sample_rate, error]}
"""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
messages = st.one_of(st.text(max_size=80), json_values.map(json.dumps),
                     st.sampled_from(["GET /healthz 200", '{"status": 700}', '{"level": "warn", "password": "p"}',
                                      "DROP me", '{"a": {"b": {"c": {"d": 1}}}}', "[1, 2", "{" * 50]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(messages, st.dictionaries(
    st.sampled_from(["_payload", "_container_name", "_password", "_status", "_x.y"]), json_values, max_size=3)),
    min_size=1, max_size=8), st.sampled_from(["logstash", "ecs"]))
def test_no_event_through_every_processor_breaks_the_core(items: list[tuple[str, dict[str, Any]]],
                                                          schema: str) -> None:
    text = EVERY_PROCESSOR if schema == "logstash" else EVERY_PROCESSOR.replace(
        "container_name", "container.name").replace("source_host", "source.ip").replace(
        "  - include_fields: {fields: [message, json, http, meta, tags, container.name, sample_rate, error]}\n", "")
    ingest = Ingest(IngestSettings(schema=schema), processors=build(text, Context(schema=schema)))
    datagrams = [gelf(message, **extra) for message, extra in items]
    batches, rejected = ingest.take_many(datagrams, ["10.0.0.1"] * len(datagrams), 1_800_000_000.0)
    assert all(err.reason != "internal_error" for err, _ in rejected)
    assert ("internal_error" not in {reason for _, reason in ingest.processors.failures})  # type: ignore[union-attr]
    for _, doc in indexed(batches, ingest.flush()):
        assert "message" in doc and "@timestamp" in doc
        decoded = doc.get("json")
        assert not (isinstance(decoded, dict) and decoded.get("password") == "p")
