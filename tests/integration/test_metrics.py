"""/metrics, parsed by the Prometheus client library's own parser, against what the test sent."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ES
from tests.helpers import compress, gelf

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_sum_over_workers_and_match_what_was_sent(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_WORKERS": "2", "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0",
                "GELFINGEST_INDEX": "metrics", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    for i in range(300):  # many source ports: both workers get some
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(compress(gelf(f"udp {i}"), "gzip") if i < 295 else b"{broken", ("127.0.0.1", d.udp_port))
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", d.tcp_port)) as c:
            c.sendall(b"".join(gelf(f"tcp {i}") + b"\0" for i in range(25)))
    for i in range(10):
        req = urllib.request.Request(f"http://127.0.0.1:{d.http_port}/gelf", data=gelf(f"http {i}"), method="POST")
        urllib.request.urlopen(req, timeout=10).read()
    time.sleep(2.5)  # batches flushed, snapshots written
    m = scrape(d.http_port)
    assert m["gelfingest_received_total", (("input", "udp"),)] == 300
    assert m["gelfingest_received_total", (("input", "tcp"),)] == 50
    assert m["gelfingest_received_total", (("input", "http"),)] == 10
    assert m["gelfingest_messages_decoded_total", ()] == 355
    assert m["gelfingest_rejected_total", (("reason", "invalid_json"),)] == 5
    assert m["gelfingest_documents_indexed_total", ()] == 355
    assert m["gelfingest_bulk_requests_total", ()] >= 2
    assert m["gelfingest_bulk_request_duration_seconds_count", ()] == m["gelfingest_bulk_requests_total", ()]
    assert m["gelfingest_http_responses_total", (("code", "202"),)] == 10
    assert m["gelfingest_queue_events", ()] == 0
    assert m["gelfingest_udp_kernel_drops_total", ()] == 0
    assert d.stop() == 0
    assert elasticsearch.count("metrics") == 355


def test_kernel_drops_are_visible(daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_OUTPUT": "null", "GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_UDP_RECEIVE_BUFFER": "4KiB"})
    payload = gelf("x" * 1000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(20_000):
            s.sendto(payload, ("127.0.0.1", d.udp_port))
    time.sleep(1.5)
    m = scrape(d.http_port)
    received = m["gelfingest_received_total", (("input", "udp"),)]
    drops = m["gelfingest_udp_kernel_drops_total", ()]
    assert drops > 0
    assert received + drops == 20_000
    assert d.stop() == 0
