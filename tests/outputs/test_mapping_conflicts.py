"""No line lost to a mapping conflict, against the suite's real Elasticsearch (7.9.2) and graypy: a field
whose type does not fit the index's mapping is moved into gelfingest_conflict, tagged and counted; what is
refused again goes to the dead-letter queue as it was first sent."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graypy
import pytest

from gelfingest.core.bulk import id_sequence
from gelfingest.core.conflicts import CONFLICT_FIELD, CONFLICT_TAG
from gelfingest.storage import deadletters as dlq
from tests.conftest import ES
from tests.integration.test_metrics import scrape

pytestmark = pytest.mark.integration


@pytest.fixture
def graylog(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A graypy logger for a port: ``graylog(port).warning(msg, extra={...})``."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(port: int) -> logging.Logger:
        logger = logging.getLogger(f"conflicts.{request.node.name}.{len(made)}")
        logger.propagate = False
        handler = graypy.GELFUDPHandler("127.0.0.1", port)
        logger.addHandler(handler)
        made.append((logger, handler))
        return logger

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        handler.close()


def letters(data_dir: Path) -> list[dict[str, Any]]:
    return [record for path in dlq.files(data_dir / "dlq") for record in dlq.read(path)]


def by_message(es: ES, index: str) -> dict[str, dict[str, Any]]:
    return {doc["message"]: doc for doc in es.search_all(index)}


def test_a_field_of_another_type_is_kept_as_json_tagged_and_counted(elasticsearch: ES, daemon: Any,
                                                                   graylog: Any) -> None:
    index = "conflict-graypy"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_HTTP": "127.0.0.1:0"})
    log = graylog(d.udp_port)
    # The first of each field maps it: status and kubernetes.labels.app as numbers.
    log.warning("as a number", extra={"status": 200, "kubernetes": {"labels": {"app": 1, "tier": "web"}}})
    assert elasticsearch.wait_count(index, 1) == 1
    log.warning("as an object", extra={"status": {"code": 503, "why": "busy"}, "service": "search"})
    log.warning("as a string", extra={"status": "abc"})
    # Named [kubernetes.labels.app] by Elasticsearch; held here as a literal dotted key.
    log.warning("as a dotted key", extra={"kubernetes.labels.app": "shop", "status": 201})
    log.warning("fits", extra={"status": 404})
    assert elasticsearch.wait_count(index, 5) == 5
    time.sleep(1.2)  # the worker's counters after the last answer
    metrics = scrape(d.http_port)
    assert d.stop() == 0

    docs = by_message(elasticsearch, index)
    assert set(docs) == {"as a number", "as an object", "as a string", "as a dotted key", "fits"}
    for fits in ("as a number", "fits"):
        assert CONFLICT_FIELD not in docs[fits] and CONFLICT_TAG not in docs[fits].get("tags", []), fits
    assert docs["as a number"]["status"] == 200 and docs["fits"]["status"] == 404
    obj, text, dotted = docs["as an object"], docs["as a string"], docs["as a dotted key"]
    assert json.loads(obj[CONFLICT_FIELD]) == {"status": {"code": 503, "why": "busy"}}
    assert "status" not in obj and obj["service"] == "search" and obj["tags"] == [CONFLICT_TAG]
    assert json.loads(text[CONFLICT_FIELD]) == {"status": "abc"} and "status" not in text
    assert json.loads(dotted[CONFLICT_FIELD]) == {"kubernetes.labels.app": "shop"}
    assert dotted["status"] == 201 and "kubernetes.labels.app" not in dotted
    # Sent again with the same _id (this start's prefix and the event's own sequence) and op_type create.
    prefix = docs["fits"]["_id"][:8]
    for doc in docs.values():
        assert doc["_id"].startswith(prefix) and id_sequence(doc["_id"], prefix) == doc["sequence"]

    # Searchable by the tag, and by everything but the moved field; the field itself is not indexed.
    tagged = elasticsearch.call("POST", f"/{index}/_search", {"query": {"term": {"tags": CONFLICT_TAG}}})
    assert sorted(h["_source"]["message"] for h in tagged["hits"]["hits"]) == [
        "as a dotted key", "as a string", "as an object"]
    found = elasticsearch.call("POST", f"/{index}/_search", {"query": {"match": {"message": "object"}}})
    assert [h["_source"]["message"] for h in found["hits"]["hits"]] == ["as an object"]
    mapping = elasticsearch.call("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping[CONFLICT_FIELD] == {"type": "text", "index": False}
    assert mapping["status"] == {"type": "long"}

    assert metrics["gelfingest_mapping_conflicts_total", ()] == 3
    assert metrics["gelfingest_mapping_conflicts_refused_again_total", ()] == 0
    assert metrics["gelfingest_dead_lettered_total", ()] == 0
    assert metrics["gelfingest_documents_indexed_total", ()] == 5
    assert letters(d.data_dir) == []
    assert "5 delivered to elasticsearch, 0 failed, 0 to the dead-letter queue" in d.text()
    assert "3 sent again for a mapping conflict" in d.text()
    assert "did not fit the mapping of their index" in d.text()


def test_a_second_conflict_in_the_same_document_sends_it_to_the_dead_letter_queue_as_first_sent(
        elasticsearch: ES, daemon: Any, graylog: Any) -> None:
    index = "conflict-twice"
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_HTTP": "127.0.0.1:0"})
    log = graylog(d.udp_port)
    log.warning("numbers", extra={"status": 1, "count": 2})
    assert elasticsearch.wait_count(index, 1) == 1
    # Elasticsearch names only the first; the re-send (once) is refused for the second.
    log.warning("two conflicts", extra={"status": {"code": 5}, "count": "many"})
    log.warning("one conflict", extra={"status": "x", "count": 3})
    assert elasticsearch.wait_count(index, 2) == 2
    time.sleep(1.5)
    metrics = scrape(d.http_port)
    assert d.stop() == 0

    assert set(by_message(elasticsearch, index)) == {"numbers", "one conflict"}
    (letter,) = letters(d.data_dir)
    # The document as first sent, with the first refusal; the second beside it.
    assert letter["document"]["status"] == {"code": 5} and letter["document"]["count"] == "many"
    assert CONFLICT_FIELD not in letter["document"] and "tags" not in letter["document"]
    assert letter["status"] == 400 and "failed to parse field [status]" in letter["error"]["reason"]
    assert letter["resent"]["field"] == "status" and letter["resent"]["status"] == 400
    assert "failed to parse field [count]" in letter["resent"]["error"]["reason"]
    assert letter["op_type"] == "create" and letter["index"] == index
    assert id_sequence(letter["id"], letter["id"][:8]) == letter["document"]["sequence"]
    assert metrics["gelfingest_mapping_conflicts_total", ()] == 2
    assert metrics["gelfingest_mapping_conflicts_refused_again_total", ()] == 1
    assert metrics["gelfingest_dead_lettered_total", ()] == 1
    assert "2 delivered to elasticsearch, 0 failed, 1 to the dead-letter queue" in d.text()
    assert "sent again with [status] moved, and refused again" in d.text()


def test_the_resend_goes_through_the_same_pipeline_and_its_refusal_is_dead_lettered(
        elasticsearch: ES, daemon: Any, graylog: Any) -> None:
    index = "conflict-piped"
    # A pipeline that refuses what carries the tag: the re-send is refused for another reason than a mapping.
    assert elasticsearch.call("PUT", "/_ingest/pipeline/conflict-guard", {"processors": [
        {"set": {"field": "piped", "value": True}},
        {"fail": {"if": f"ctx.tags != null && ctx.tags.contains('{CONFLICT_TAG}')", "message": "tagged"}},
    ]})["acknowledged"]
    d = daemon({"GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": elasticsearch.url,
                "GELFINGEST_PIPELINE": "conflict-guard"})
    log = graylog(d.udp_port)
    log.warning("number", extra={"status": 1})
    assert elasticsearch.wait_count(index, 1) == 1
    log.warning("object", extra={"status": {"code": 5}})
    log.warning("after", extra={"status": 2})
    assert elasticsearch.wait_count(index, 2) == 2
    time.sleep(1.5)
    assert d.stop() == 0

    docs = by_message(elasticsearch, index)
    assert set(docs) == {"number", "after"} and docs["after"]["piped"] is True
    (letter,) = letters(d.data_dir)
    assert letter["document"]["status"] == {"code": 5} and letter["error"]["type"] == "mapper_parsing_exception"
    assert letter["resent"]["status"] == 500 and letter["resent"]["error"]["type"] == "fail_processor_exception"
    assert "1 to the dead-letter queue" in d.text() and "1 sent again for a mapping conflict" in d.text()
