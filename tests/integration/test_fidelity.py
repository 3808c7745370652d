"""GELF fidelity into the real Elasticsearch, over UDP and TCP: graypy's file and line indexed, a numeric
host indexed as a string beside string hosts in one index, and one payload of three objects one a line
indexed as three documents."""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any

import graypy
import pytest

from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration


def wait_for(es: ES, index: str, n: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while es.count(index) < n and time.monotonic() < deadline:
        time.sleep(0.3)
    return es.search_all(index)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_file_line_numeric_host_and_objects_one_a_line(elasticsearch: ES, daemon: Any, transport: str) -> None:
    index = f"fidelity-{transport}"
    d = daemon({"GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_INDEX": index,
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    # A string host first, so the index maps host as a string; then the numeric and boolean ones, which used to
    # be indexed as a number (refused by that mapping) and now arrive as their strings.
    payloads = [gelf("string host", host="web-1"), gelf("numeric host", host=42), gelf("boolean host", host=True),
                b"\n".join(gelf(f"object {k}", host="bulk", _k=k) for k in range(3))]
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for payload in payloads:
                s.sendto(payload, ("127.0.0.1", d.udp_port))
        handler: logging.Handler = graypy.GELFUDPHandler("127.0.0.1", d.udp_port)
    else:
        with socket.create_connection(("127.0.0.1", d.tcp_port)) as s:
            s.sendall(b"".join(payload + b"\0" for payload in payloads))
        handler = graypy.GELFTCPHandler("127.0.0.1", d.tcp_port)
    log = logging.getLogger(f"fidelity-{transport}")
    log.propagate = False
    log.addHandler(handler)
    log.warning("graypy record", extra={"version": "2.3.1"})
    handler.close()
    docs = wait_for(elasticsearch, index, 7)
    assert d.stop() == 0
    by_message = {doc["message"]: doc for doc in docs}
    assert len(docs) == 7 and len(by_message) == 7, d.text()
    # graypy's file and line (dropped before): GELF's own, kept aside as gelf_* since its extra took version.
    record = by_message["graypy record"]
    assert record["file"].endswith("test_fidelity.py") and type(record["line"]) is int
    assert record["version"] == "2.3.1" and record["gelf_version"] == "1.0"
    # Every host is a keyword in the one index.
    assert [by_message[m]["host"] for m in ("string host", "numeric host", "boolean host")] == ["web-1", "42",
                                                                                                 "true"]
    mapping = elasticsearch.call("GET", f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping["host"]["type"] == "keyword" and mapping["line"]["type"] == "long"
    found = elasticsearch.call("POST", f"/{index}/_search", {"query": {"term": {"host": "42"}}})
    assert [h["_source"]["message"] for h in found["hits"]["hits"]] == ["numeric host"]
    # Three objects, one a line, in one datagram or frame: three documents, three sequence numbers.
    objects = sorted((doc for doc in docs if doc["message"].startswith("object ")), key=lambda doc: doc["k"])
    assert [doc["message"] for doc in objects] == ["object 0", "object 1", "object 2"]
    assert len({doc["sequence"] for doc in objects}) == 3
    assert objects[0]["sequence"] < objects[1]["sequence"] < objects[2]["sequence"]
    # The daemon said what it changed, once a reason, and counted it.
    log_text = d.text()
    assert "(host_to_string)" in log_text and "(gelf_field_renamed)" in log_text
    assert "changed fields: host_to_string=2, gelf_field_renamed=1" in log_text
    assert json.dumps(docs)  # plain JSON back from Elasticsearch
