"""Kibana's everyday use on indices made by gelfingest's own template, against the real server: full-text
search on ``message``, exact filters and terms aggregations on the names Kibana users filter by, Discover's
sort by ``@timestamp`` then ``sequence`` and its time histogram, the shipped data view's fields; and lines
searchable within 5 s of arriving, by a search that does not refresh (as Kibana's do not), on an index whose
shards skip their scheduled refreshes while nobody searches (``--refresh-interval auto``)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ES
from tests.helpers import compress, gelf

pytestmark = pytest.mark.integration

SAVED_OBJECTS = Path(__file__).resolve().parents[2] / "docker" / "setup" / "saved-objects.ndjson"
CONTAINERS = (("web-1", "nginx:1.25", "docker-a"), ("api-2", "registry.local/api:4.2.1", "docker-b"),
              ("orders-1", "registry.local/orders:2.9.0", "docker-a"))
# What Discover asks for a time range, newest first, with the histogram of its time bar.
DISCOVER = {"size": 500, "track_total_hits": True,
            "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "boolean"}},
                     {"sequence": {"order": "desc", "unmapped_type": "boolean"}}],
            "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": "now-15m", "lte": "now"}}}]}},
            "aggs": {"histogram": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30s"}}}}


def lines(count: int) -> list[bytes]:
    """Docker-shaped lines of three containers, several of one millisecond; every 10th says 'timeout'."""
    now = round(time.time(), 3)
    out = []
    for i in range(count):
        name, image, host = CONTAINERS[i % 3]
        text = f"line {i} upstream {'timeout' if i % 10 == 0 else 'ok'} after {i % 7} ms"
        out.append(compress(gelf(text, host=host, timestamp=now + (i // 4) / 1000, level=3 if i % 10 == 0 else 6,
                                 _container_name=name, _image_name=image, _tag=f"tag-{i % 2}", _i=i), "gzip"))
    return out


def send(port: int, datagrams: list[bytes]) -> float:
    """Send, one after the other; the time the last one left."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))
    return time.monotonic()


def search(es: ES, index: str, body: dict[str, Any]) -> dict[str, Any]:
    """A search as Kibana sends it: no refresh first (an index not made yet has no hits)."""
    return es.call("POST", f"/{index}/_search?ignore_unavailable=true", body)  # type: ignore[no-any-return]


def visible(es: ES, index: str) -> int:
    """The lines a search sees now (none while the index is being made: its shard may not answer yet)."""
    answer = search(es, index, {"size": 0, "track_total_hits": True})
    return int(answer.get("hits", {}).get("total", {}).get("value", 0))


def terms(es: ES, index: str, field: str) -> dict[Any, int]:
    answer = search(es, index, {"size": 0, "aggs": {"t": {"terms": {"field": field, "size": 10}}}})
    assert "error" not in answer, answer
    return {b["key"]: b["doc_count"] for b in answer["aggregations"]["t"]["buckets"]}


def hits(es: ES, index: str, query: dict[str, Any]) -> int:
    answer = search(es, index, {"size": 0, "track_total_hits": True, "query": query})
    assert "error" not in answer, answer
    return int(answer["hits"]["total"]["value"])


def test_kibana_queries_on_the_default_template(elasticsearch: ES, daemon: Any) -> None:
    index = "kibana-default"
    d = daemon({"GELFINGEST_INDEX": index, "GELFINGEST_TEMPLATE_NAME": "kibana-default",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    settings = elasticsearch.call("GET", "/_index_template/kibana-default")["index_templates"][0]
    assert settings["index_template"]["template"]["settings"]["index"] == {"search": {"idle": {"after": "1s"}}}
    # Nobody has searched the index yet: its shards skip their refreshes. A search that does not refresh must
    # still see every line within 5 s of the last one sent.
    sent_at = send(d.udp_port, lines(300))
    while visible(elasticsearch, index) < 300:
        assert time.monotonic() - sent_at < 5.0, "not searchable within 5 s"
        time.sleep(0.2)
    # Full-text search on the message, as the query bar sends it (KQL's match and match_phrase).
    assert hits(elasticsearch, index, {"match": {"message": "timeout"}}) == 30
    assert hits(elasticsearch, index, {"match_phrase": {"message": "upstream timeout"}}) == 30
    assert hits(elasticsearch, index, {"query_string": {"query": "message:timeout AND level:3"}}) == 30
    # Exact filters and terms aggregations (Discover's field list, Lens) on the names.
    assert terms(elasticsearch, index, "container_name") == {"web-1": 100, "api-2": 100, "orders-1": 100}
    assert terms(elasticsearch, index, "image_name") == {"nginx:1.25": 100, "registry.local/api:4.2.1": 100,
                                                         "registry.local/orders:2.9.0": 100}
    assert terms(elasticsearch, index, "host") == {"docker-a": 200, "docker-b": 100}
    assert terms(elasticsearch, index, "tag") == {"tag-0": 150, "tag-1": 150}
    assert terms(elasticsearch, index, "level") == {6: 270, 3: 30}
    assert hits(elasticsearch, index, {"bool": {"filter": [{"term": {"container_name": "api-2"}},
                                                          {"term": {"level": 6}}]}}) == 90
    # Discover: newest first, ties of a millisecond broken by the sequence, the histogram beside.
    answer = search(elasticsearch, index, DISCOVER)
    assert answer["hits"]["total"]["value"] == 300
    assert [h["_source"]["i"] for h in answer["hits"]["hits"]] == list(range(299, -1, -1))
    assert sum(b["doc_count"] for b in answer["aggregations"]["histogram"]["buckets"]) == 300
    # The shipped data view and saved search: every column and sort field is there, sortable or searchable.
    objects = [json.loads(line) for line in SAVED_OBJECTS.read_text().splitlines()]
    search_object = next(o for o in objects if o["id"] == "gelfingest-logs")["attributes"]
    fields = {*search_object["columns"], *(f for f, _ in search_object["sort"])}
    caps = elasticsearch.call("GET", f"/{index}/_field_caps?fields={','.join(sorted(fields))}")["fields"]
    assert set(caps) == fields
    for name in fields - {"message"}:
        (cap,) = caps[name].values()
        assert cap["aggregatable"] and cap["searchable"], (name, cap)
    assert next(iter(caps["message"].values()))["type"] == "text"
    assert d.stop() == 0
    assert "keyword mapping, refresh auto" in d.text()


def test_the_logstash_mapping_keeps_the_keyword_sub_fields(elasticsearch: ES, daemon: Any) -> None:
    """--mapping logstash: names are text with a .keyword, as Logstash's template made them, for saved
    searches and visualisations that use container_name.keyword; --refresh-interval sets the interval."""
    index = "kibana-logstash"
    d = daemon({"GELFINGEST_INDEX": index, "GELFINGEST_TEMPLATE_NAME": "kibana-logstash",
                "GELFINGEST_MAPPING": "logstash", "GELFINGEST_REFRESH_INTERVAL": "5s",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    send(d.udp_port, lines(30))
    assert elasticsearch.wait_count(index, 30) == 30
    assert d.stop() == 0
    assert "logstash mapping, refresh every 5s" in d.text()
    assert elasticsearch.call("GET", f"/{index}/_settings")[index]["settings"]["index"]["refresh_interval"] == "5s"
    assert terms(elasticsearch, index, "container_name.keyword") == {"web-1": 10, "api-2": 10, "orders-1": 10}
    assert hits(elasticsearch, index, {"match": {"container_name": "orders"}}) == 10  # text: a word of the name
    assert terms(elasticsearch, index, "host.keyword") == {"docker-a": 20, "docker-b": 10}
