"""The output's options for production clusters, against the real Elasticsearch: de-dotting, compression,
index routing by field references, ingest pipelines."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration


def send_udp(port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for payload in payloads:
            s.sendto(payload, ("127.0.0.1", port))
            time.sleep(0.005)


def wait_count(es: ES, index: str, n: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while (count := es.count(index)) < n and time.monotonic() < deadline:
        time.sleep(0.3)
    return count


@pytest.mark.parametrize("dedot", [False, True])
def test_compose_labels_of_two_containers_clash_in_one_index_unless_dedotted(elasticsearch: ES, daemon: Any,
                                                                          dedot: bool) -> None:
    index = f"dedot-{str(dedot).lower()}"
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": index,
                "GELFINGEST_DEDOT_FIELDS": str(dedot).lower()})
    # One container's label is a value; the other's nests below the same name, so it needs an object.
    send_udp(d.udp_port, [gelf("web", **{"_com.docker.compose.project": "demo"})])
    assert wait_count(elasticsearch, index, 1) == 1
    send_udp(d.udp_port, [gelf("worker", **{"_com.docker.compose.project.working_dir": "/srv/demo"})])
    expected = 2 if dedot else 1
    assert wait_count(elasticsearch, index, expected, timeout=10 if dedot else 4) == expected
    assert d.stop() == 0
    docs = {doc["message"]: doc for doc in elasticsearch.search_all(index)}
    if dedot:
        assert docs["web"]["com_docker_compose_project"] == "demo"
        assert docs["worker"]["com_docker_compose_project_working_dir"] == "/srv/demo"
        assert "0 to the dead-letter queue" in d.text()
    else:
        # Elasticsearch refused the second for good: it is in the dead-letter queue, not lost.
        assert set(docs) == {"web"} and "1 to the dead-letter queue" in d.text()
