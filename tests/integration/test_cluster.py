"""A real three-node cluster on loopback (one replica) that loses nodes while UDP and TCP traffic flows:
a data node, then the elected master, then two of the three (no quorum: writes wait, then 503), each
killed with SIGKILL and brought back. Every event sent is in the index exactly once at the end, and the
daemon's metrics and log say what happened."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gelfingest.local_es import LocalCluster, LocalElasticsearch
from gelfingest.metrics import merge
from gelfingest.storage.snapshots import read_snapshots
from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster(3)
    c.start()
    try:
        yield c
    finally:
        c.cleanup()


class Load:
    """Numbered events at a steady rate, over UDP and over TCP, until stopped; what was sent is kept."""

    def __init__(self, udp_port: int, tcp_port: int, udp_rate: float = 250, tcp_rate: float = 150) -> None:
        self.sent: list[int] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self.threads = [threading.Thread(target=self._udp, args=(udp_port, udp_rate), daemon=True),
                        threading.Thread(target=self._tcp, args=(tcp_port, tcp_rate), daemon=True)]
        for thread in self.threads:
            thread.start()

    def _number(self) -> int:
        with self._lock:
            self._next += 1
            self.sent.append(self._next)
            return self._next

    def _paced(self, rate: float) -> Iterator[int]:
        start, k = time.monotonic(), 0
        while not self.stop.is_set():
            k += 1
            yield self._number()
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _udp(self, port: int, rate: float) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for n in self._paced(rate):
                s.sendto(gelf(f"udp {n}", _n=n), ("127.0.0.1", port))

    def _tcp(self, port: int, rate: float) -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            for n in self._paced(rate):
                s.sendall(gelf(f"tcp {n}", _n=n) + b"\0")

    def finish(self) -> list[int]:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        return self.sent


def metrics(port: int) -> dict[str, float]:
    """The daemon's /metrics, each family's samples summed."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {family.name: sum(s.value for s in family.samples) for family in text_string_to_metric_families(text)}


def test_a_cluster_that_loses_nodes_loses_nothing_and_indexes_nothing_twice(cluster: LocalCluster,
                                                                          daemon: Any) -> None:
    es = ES(cluster.urls[0])
    index = "cluster-%Y.%m.%d"
    d = daemon({"ELASTICSEARCH_HOSTS": ",".join(cluster.urls), "GELFINGEST_INDEX": index,
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0",
                "GELFINGEST_ELASTICSEARCH_BULK_TIMEOUT": "3", "GELFINGEST_ELASTICSEARCH_TIMEOUT": "10",
                "GELFINGEST_RETRY_MAX": "2"})
    load = Load(d.udp_port, d.tcp_port)
    stalls: dict[str, dict[str, float]] = {}

    def phase(name: str, victims: list[LocalElasticsearch], down_for: float) -> None:
        before = metrics(d.http_port)
        for node in victims:
            node.kill()
        time.sleep(down_for)
        for node in victims:
            node.start(wait=False)
        cluster.wait_for("yellow", 180)
        time.sleep(1)
        after = metrics(d.http_port)
        # How long the inputs were not read during the phase (0: the queue and the spool took everything).
        stalls[name] = {key: round(after[f"gelfingest_input_{key}"] - before[f"gelfingest_input_{key}"], 2)
                        for key in ("pauses", "paused_seconds")}
        stalls[name]["longest_so_far"] = after["gelfingest_input_longest_pause_seconds"]

    try:
        time.sleep(3)
        master = cluster.master()
        phase("data node", [next(n for n in cluster.nodes if n is not master)], 6)
        phase("elected master", [cluster.master()], 6)
        master = cluster.master()
        phase("two of three (no quorum)", [master, next(n for n in cluster.nodes if n is not master)], 10)
    finally:
        sent = load.finish()
    # Everything sent is indexed once the spool has drained.
    deadline = time.monotonic() + 120
    while es.count("cluster-*") < len(sent) and time.monotonic() < deadline:
        time.sleep(1)
    indexed = es.count("cluster-*")
    assert d.stop() == 0
    duplicates = es.call("POST", "/cluster-*/_search", {"size": 0, "aggs": {"twice": {
        "terms": {"field": "n", "min_doc_count": 2, "size": 5}}}})
    print(f"\ncluster test: {len(sent)} events sent, {indexed} indexed; the inputs' pauses per kill: "
          + json.dumps(stalls))
    assert indexed == len(sent), d.text()[-3000:]
    assert duplicates["aggregations"]["twice"]["buckets"] == []
    snapshot = merge(read_snapshots(d.data_dir))

    def total(name: str) -> float:
        return sum(snapshot.get(name, [None, None, {}])[2].values())

    assert total("gelfingest_documents_indexed") == len(sent)
    assert total("gelfingest_items_failed") == 0 and total("gelfingest_dead_lettered") == 0
    assert total("gelfingest_elasticsearch_incidents") >= 1  # at least the quorum loss
    assert total("gelfingest_elasticsearch_node_failures") >= 3
    # A 409 on create is success: counted among the indexed, never as a failure.
    assert total("gelfingest_documents_already_there") <= total("gelfingest_documents_indexed")
    log = d.text()
    assert "does not answer: left out, and tried again later" in log and "answers again" in log
    assert "Traceback" not in log and "Retrying request after failure" not in log
    # The quorum loss answers 503 within the bulk timeout: the spool took over, and gave everything back.
    assert "spooling to" in log and "spool drained" in log


def test_sniffing_finds_the_other_nodes_from_one(cluster: LocalCluster, daemon: Any) -> None:
    first, *_ = cluster.nodes
    d = daemon({"ELASTICSEARCH_HOSTS": first.url, "GELFINGEST_INDEX": "sniffed",
                "GELFINGEST_ELASTICSEARCH_SNIFF": "true"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(gelf("before"), ("127.0.0.1", d.udp_port))
        time.sleep(3)
        first.kill()  # the only node named: the others were found by sniffing
        try:
            cluster.wait_for("yellow", 120, nodes=2)
            for i in range(20):
                s.sendto(gelf(f"after {i}"), ("127.0.0.1", d.udp_port))
            es = ES(cluster.nodes[1].url)
            deadline = time.monotonic() + 60
            while es.count("sniffed") < 21 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert es.count("sniffed") == 21, d.text()[-2000:]
        finally:
            first.start(wait=False)  # back for any test after this one; the module's cluster goes after it
    assert d.stop() == 0
