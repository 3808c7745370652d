"""logspout's logstash adapter JSON lines over TCP and UDP, into the real Elasticsearch."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.conftest import ES
from tests.helpers import assert_progression

pytestmark = pytest.mark.integration


def adapter_line(i: int, transport: str, stream: str = "stdout") -> bytes:
    # As logspout-logstash writes it: the object, then a newline (for Logstash's json_lines codec).
    return json.dumps({"message": f"{transport} line {i}", "stream": stream, "tags": ["t"],
                       "docker": {"name": "/shop-api", "id": "9a8b7c6d5e4f", "image": "shop/api:2.1",
                                  "hostname": "9a8b7c6d5e4f", "labels": {"team": "shop"}}}).encode() + b"\n"


def test_logspout_over_tcp_and_udp(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_JSON_TCP": "127.0.0.1:0", "GELFINGEST_JSON_UDP": "127.0.0.1:0",
                "GELFINGEST_INDEX": "logspout", "SEQUENCE_SEED": "2", "SEQUENCE_ITERATOR": "2",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    with socket.create_connection(("127.0.0.1", d.json_tcp_port)) as s:
        s.sendall(b"".join(adapter_line(i, "tcp", "stderr" if i % 10 == 0 else "stdout") for i in range(100)))
        s.sendall(b"not json\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for i in range(100):
            u.sendto(adapter_line(i, "udp"), ("127.0.0.1", d.json_udp_port))
    time.sleep(1)
    assert d.stop() == 0
    docs = elasticsearch.search_all("logspout")
    assert len(docs) == 200
    assert_progression([doc["sequence"] for doc in docs], 200, seed=2, iterator=2)
    tcp0 = next(doc for doc in docs if doc["message"] == "tcp line 0")
    assert tcp0["container_name"] == "shop-api" and tcp0["image_name"] == "shop/api:2.1"
    assert tcp0["container_id"] == "9a8b7c6d5e4f" and tcp0["labels"] == {"team": "shop"}
    assert tcp0["stream"] == "stderr" and tcp0["level"] == 3
    assert "invalid_json=1" in d.text()
