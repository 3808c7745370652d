import base64
import secrets

import orjson
import pytest

from gelfingest.core.bulk import (
    ID_PREFIX_BYTES,
    BulkEncoder,
    BulkResponse,
    decode_item,
    document_ids,
    id_prefix,
    id_sequence,
)
from tests.helpers import encode


def test_encode_names_the_index_from_the_event_time_in_utc() -> None:
    e = BulkEncoder("logstash-%Y.%m.%d")
    item = encode(e, {"message": "x", "sequence": 1}, 1700000000)  # 2023-11-14T22:13:20Z
    assert item == b'{"index":{"_index":"logstash-2023.11.14"}}\n{"message":"x","sequence":1}\n'
    # One second before midnight UTC, and just after.
    assert b"2023.11.14" in encode(e, {}, 1700006399)
    assert b"2023.11.15" in encode(e, {}, 1700006400)


def test_ids_from_the_sequence_make_create_items() -> None:
    e = BulkEncoder("logs-%Y", id_prefix="k3v9x2a1-")
    action, doc = decode_item(encode(e, {"a": 1, "sequence": 1000001}, 0))
    assert action == {"create": {"_index": "logs-1970", "_id": "k3v9x2a1-AAAAAAAAD0JB"}}
    assert doc == {"a": 1, "sequence": 1000001}
    # The action prefix is cached per index; the id is per event.
    assert decode_item(encode(e, {"sequence": 7}, 1))[0]["create"]["_id"] == "k3v9x2a1-AAAAAAAAAAAH"
    assert id_sequence("k3v9x2a1-AAAAAAAAAAAH", "k3v9x2a1-") == 7
    assert encode(BulkEncoder("logs", id_prefix=""), {"sequence": 3}, 0).startswith(
        b'{"create":{"_index":"logs","_id":"AAAAAAAAAAAD"}}\n')


def test_an_id_prefix_that_would_need_escaping_is_refused() -> None:
    with pytest.raises(ValueError):
        BulkEncoder("logs", id_prefix='a"b')


def test_clean_response() -> None:
    r = BulkResponse.classify({"errors": False}, 10)
    assert r.ok == 10 and not r.retry and not r.failed


def test_item_by_item() -> None:
    body = orjson.loads(orjson.dumps({"errors": True, "items": [
        {"index": {"status": 201}},
        {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"index": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}},
        {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        {"index": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
        {"index": {"status": 404, "error": {"type": "index_not_found_exception"}}},
        {"index": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
        {"index": {"status": 200}},
    ]}))
    r = BulkResponse.classify(body, 8)
    assert r.ok == 2
    assert r.duplicates == 1
    assert r.retry == [1, 4]
    assert [(f.position, f.status) for f in r.failed] == [(2, 400), (5, 404), (6, 409)]
    assert r.failed[0].error["type"] == "mapper_parsing_exception"


def test_a_response_that_does_not_match_is_retried_whole() -> None:
    assert BulkResponse.classify({"errors": True, "items": [{"index": {"status": 201}}]}, 3).retry == [0, 1, 2]
    assert BulkResponse.classify(None, 2).retry == [0, 1]


def test_a_pipeline_s_fail_processor_is_the_document_s_fault_not_a_reason_to_resend() -> None:
    """Elasticsearch 7.9.2 answers a missing pipeline with 400 and a fail processor with 500."""
    body = {"errors": True, "items": [
        {"create": {"status": 400, "error": {"type": "illegal_argument_exception",
                                             "reason": "pipeline with id [missing] does not exist"}}},
        {"create": {"status": 500, "error": {"type": "fail_processor_exception", "reason": "no"}}},
        {"create": {"status": 500, "error": {"type": "node_not_connected_exception"}}},
        {"create": {"status": 201}}]}
    result = BulkResponse.classify(body, 4)
    assert [f.position for f in result.failed] == [0, 1] and result.retry == [2] and result.ok == 1


def test_each_action_names_its_index_and_pipeline_and_our_id_stays_last() -> None:
    e = BulkEncoder("logs-%Y", id_prefix="p-")
    items = e.encode_many([{"a": 1}, {"a": 2}, {"a": 3}], [0, 0, 0], [1, 2, 3], indices=["logs-web", "logs-db",
                                                                                         "logs-web"],
                          pipelines=["gelf-web", None, "gelf-web"])
    actions = [decode_item(item)[0] for item in items]
    assert actions == [{"create": {"_index": "logs-web", "pipeline": "gelf-web", "_id": "p-AAAAAAAAAAAB"}},
                       {"create": {"_index": "logs-db", "_id": "p-AAAAAAAAAAAC"}},
                       {"create": {"_index": "logs-web", "pipeline": "gelf-web", "_id": "p-AAAAAAAAAAAD"}}]
    plain = BulkEncoder("logs-%Y").encode_many([{"a": 1}], [0], [1], pipelines=["x"])
    assert decode_item(plain[0])[0] == {"index": {"_index": "logs-1970", "pipeline": "x"}}


def test_an_id_with_the_daemon_s_prefix_is_base64_as_a_whole() -> None:
    """Elasticsearch stores an id that is URL-safe base64 as the bytes it decodes to: with the prefix drawn
    as the daemon draws it, the whole id is 20 characters that decode to 15 bytes."""
    for _ in range(100):
        prefix = id_prefix(secrets.token_bytes(ID_PREFIX_BYTES))
        (document_id,) = document_ids(prefix.encode(), [2**53 - 1])
        assert len(document_id) == 20
        assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(document_id)) == document_id
        assert len(base64.urlsafe_b64decode(document_id)) == 15
