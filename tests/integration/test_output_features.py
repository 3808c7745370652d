"""The output's options for production clusters, against the real Elasticsearch: de-dotting, compression,
index routing by field references, ingest pipelines."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from typing import Any

import pytest

from gelfingest.metrics import merge
from gelfingest.storage.snapshots import read_snapshots
from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration


def send_udp(port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for payload in payloads:
            s.sendto(payload, ("127.0.0.1", port))
            time.sleep(0.005)




@pytest.mark.parametrize("dedot", [False, True])
def test_compose_labels_of_two_containers_clash_in_one_index_unless_dedotted(elasticsearch: ES, daemon: Any,
                                                                          dedot: bool) -> None:
    index = f"dedot-{str(dedot).lower()}"
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": index,
                "GELFINGEST_DEDOT_FIELDS": str(dedot).lower()})
    # One container's label is a value; the other's nests below the same name, so it needs an object.
    send_udp(d.udp_port, [gelf("web", **{"_com.docker.compose.project": "demo"})])
    assert elasticsearch.wait_count(index, 1) == 1
    send_udp(d.udp_port, [gelf("worker", **{"_com.docker.compose.project.working_dir": "/srv/demo"})])
    assert elasticsearch.wait_count(index, 2, timeout=10) == 2
    assert d.stop() == 0
    docs = {doc["message"]: doc for doc in elasticsearch.search_all(index)}
    assert "0 to the dead-letter queue" in d.text()
    if dedot:
        assert docs["web"]["com_docker_compose_project"] == "demo"
        assert docs["worker"]["com_docker_compose_project_working_dir"] == "/srv/demo"
    else:
        # Elasticsearch refused the second's label (it needs an object where the first put a value): the
        # label is kept as JSON in gelfingest_conflict, out of the mapping's way, and the event tagged.
        worker = docs["worker"]
        assert json.loads(worker["gelfingest_conflict"]) == {"com.docker.compose.project.working_dir": "/srv/demo"}
        assert worker["tags"] == ["_mappingconflict"]


class RecordingRelay:
    """A TCP relay in front of Elasticsearch that keeps what the client sent (to look at the requests)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sent = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if record:
                    self.sent += data
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_bulk_bodies_go_gzip_compressed_when_asked_and_everything_is_indexed(elasticsearch: ES, daemon: Any,
                                                                             compression: str) -> None:
    relay = RecordingRelay(int(elasticsearch.url.rsplit(":", 1)[1]))
    index = f"compression-{compression}"
    try:
        d = daemon({"ELASTICSEARCH_HOSTS": f"http://127.0.0.1:{relay.port}", "GELFINGEST_INDEX": index,
                    "GELFINGEST_ELASTICSEARCH_COMPRESSION": compression})
        send_udp(d.udp_port, [gelf(f"m{i}", _pad="x" * 300) for i in range(300)])
        assert elasticsearch.wait_count(index, 300) == 300
        assert d.stop() == 0
    finally:
        relay.close()
    _, _, rest = bytes(relay.sent).partition(b"POST /_bulk")
    assert rest, "no bulk request went through the relay"
    request_headers = rest.split(b"\r\n\r\n", 1)[0].lower()
    assert (b"content-encoding: gzip" in request_headers) == (compression == "gzip")
    # gzip: the 300 documents of 300+ bytes each cross the wire in far fewer bytes than plain.
    body_bytes = len(relay.sent)
    assert body_bytes < 300 * 300 if compression == "gzip" else body_bytes > 300 * 300


def test_the_start_line_and_readyz_say_the_cluster_its_version_nodes_and_template(elasticsearch: ES,
                                                                                daemon: Any) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "readyz-%Y",
                "GELFINGEST_HTTP": "127.0.0.1:0"})
    start = next(line for line in d.log if " listening on " in line)
    said = "cluster gelfingest-local (Elasticsearch 7.9.2 oss, 1 node, "
    assert said in start and "template gelfingest installed" in start, start
    with urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/readyz", timeout=10) as resp:
        body = resp.read().decode()
    assert resp.status == 200 and body.startswith("ready; ") and said in body
    assert "template gelfingest installed" in body
    assert d.stop() == 0


def all_indices(es: ES) -> set[str]:
    return {row["index"] for row in es.call("GET", "/_cat/indices?format=json&expand_wildcards=all")}


def test_field_references_route_events_and_hostile_values_stay_inside_the_prefix(elasticsearch: ES,
                                                                                 daemon: Any) -> None:
    before = all_indices(elasticsearch)
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "route-%{container_name}-%Y.%m",
                "GELFINGEST_MAX_INDEX_TARGETS": "8"})
    hostile = ["web", "DB", "../x", "_all", "*", "a,b", "x" * 300, "日本", "kibana", "sec ret"]
    send_udp(d.udp_port, [gelf(f"c{k}", _container_name=name) for k, name in enumerate(hostile)]
             + [gelf("no container")] + [gelf(f"many {k}", _container_name=f"m{k}") for k in range(20)])
    total = len(hostile) + 1 + 20
    assert elasticsearch.wait_count("route-*", total) == total  # nothing lost
    assert d.stop() == 0
    new = all_indices(elasticsearch) - before
    assert new and all(name.startswith("route-") for name in new), new
    month = time.strftime("%Y.%m", time.gmtime())
    assert {f"route-web-{month}", f"route-db-{month}", f"route-.._x-{month}", f"route-_all-{month}",
            f"route-_-{month}", f"route-a_b-{month}"} <= new
    assert f"route-{month}" in new  # the fallback: no container, and the targets past 8
    assert len(new) == 8 + 1
    assert all(len(name.encode()) <= 255 for name in new)
    fallback = elasticsearch.search_all(f"route-{month}")
    assert len(fallback) == 1 + (len(hostile) + 20 - 8)
    assert f"{total} delivered to elasticsearch" in d.text()
    snapshot = merge(read_snapshots(d.data_dir))
    assert snapshot["gelfingest_index_target_overflow"][2] == {"": len(hostile) + 20 - 8}
    assert snapshot["gelfingest_index_fallback"][2] == {"reason=missing_field": 1,
                                                        "reason=too_many_targets": len(hostile) + 20 - 8}
    template = elasticsearch.call("GET", "/_index_template/gelfingest")["index_templates"][0]
    assert template["index_template"]["index_patterns"] == ["route-*"]


def test_ingest_pipelines_per_event_and_their_refusals_go_to_the_dead_letter_queue(elasticsearch: ES,
                                                                                  daemon: Any) -> None:
    elasticsearch.call("PUT", "/_ingest/pipeline/gelf-stamp", {"processors": [
        {"set": {"field": "piped", "value": "yes"}}]})
    elasticsearch.call("PUT", "/_ingest/pipeline/gelf-refuse", {"processors": [{"fail": {"message": "refused"}}]})
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "piped",
                "GELFINGEST_PIPELINE": "gelf-%{pipeline_label}"})
    send_udp(d.udp_port, [gelf("stamped", _pipeline_label="stamp"), gelf("none"),
                          gelf("refused", _pipeline_label="refuse"), gelf("missing", _pipeline_label="nope")])
    assert elasticsearch.wait_count("piped", 2) == 2
    time.sleep(1.5)
    assert d.stop() == 0
    docs = {doc["message"]: doc for doc in elasticsearch.search_all("piped")}
    assert docs["stamped"]["piped"] == "yes" and "piped" not in docs["none"] and set(docs) == {"stamped", "none"}
    # The fail processor (500) and the missing pipeline (400) are the documents' own errors, for good: both
    # in the dead-letter queue, with the reason, not resent forever.
    assert "2 to the dead-letter queue" in d.text() and "0 items retried" in d.text()
