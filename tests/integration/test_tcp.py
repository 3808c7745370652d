"""GELF over TCP into the real Elasticsearch: Docker's go-gelf, graypy and pygelf; bad and silent clients."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

import graypy
import pygelf
import pytest

from tests.conftest import ES
from tests.helpers import assert_progression, free_tcp_port, gelf
from tests.integration.test_interop import gogelf_send  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration


def test_go_gelf_graypy_and_pygelf_over_tcp(elasticsearch: ES, daemon, gogelf_send: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    d = daemon({"GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_INDEX": "tcp-clients", "SEQUENCE_SEED": "3",
                "SEQUENCE_ITERATOR": "4", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    addr = f"127.0.0.1:{d.tcp_port}"
    subprocess.run([str(gogelf_send), "-proto", "tcp", "-addr", addr, "-prefix", "gotcp", "-n", "500"], check=True)
    subprocess.run([str(gogelf_send), "-proto", "tcp", "-addr", addr, "-prefix", "gobig", "-n", "2", "-size",
                    "300000", "-random"], check=True)
    for handler, name in [(graypy.GELFTCPHandler("127.0.0.1", d.tcp_port), "graypy"),
                          (pygelf.GelfTcpHandler("127.0.0.1", d.tcp_port, include_extra_fields=True), "pygelf")]:
        log = logging.getLogger(f"tcp-{name}")
        log.propagate = False
        log.addHandler(handler)
        for i in range(50):
            log.warning("%s tcp %d", name, i, extra={"k": i})
        handler.close()
    time.sleep(1.5)
    assert d.stop() == 0
    docs = elasticsearch.search_all("tcp-clients")
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc["message"].split(" ")[0]] = counts.get(doc["message"].split(" ")[0], 0) + 1
    assert counts == {"gotcp": 500, "gobig": 2, "graypy": 50, "pygelf": 50}, d.text()
    assert max(len(doc["message"]) for doc in docs) >= 300_000
    assert_progression([doc["sequence"] for doc in docs], 602, seed=3, iterator=4)
    gotcp = next(doc for doc in docs if doc["message"] == "gotcp 0")
    assert gotcp["container_name"] == "web-1" and gotcp["level"] == 6


def test_an_oversize_frame_between_good_ones_and_a_silent_client(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_INDEX": "tcp-bad", "GELFINGEST_TCP_MAX_FRAME": "64KiB",
                "GELFINGEST_TCP_IDLE_TIMEOUT": "1", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    silent = socket.create_connection(("127.0.0.1", d.tcp_port))
    with socket.create_connection(("127.0.0.1", d.tcp_port)) as s:
        s.sendall(gelf("before") + b"\0" + b'{"short_message":"' + b"x" * 200_000 + b'"}\0' + gelf("after") + b"\0")
        time.sleep(0.5)
        s.sendall(gelf("same connection, later") + b"\0")
        time.sleep(0.3)
    # The silent client is closed by the server after the idle timeout.
    silent.settimeout(5)
    assert silent.recv(1) == b""
    silent.close()
    time.sleep(0.5)
    assert d.stop() == 0
    assert sorted(doc["message"] for doc in elasticsearch.search_all("tcp-bad")) == [
        "after", "before", "same connection, later"]
    log = d.text()
    assert "1 oversize frames skipped" in log
    assert "closed idle" in log and "1 closed idle" in log


def test_two_instances_behind_haproxy(elasticsearch: ES, daemon, gogelf_send: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from tests.balancers import HaproxyTcpBalancer

    fleet = [daemon({"GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_INDEX": "tcp-haproxy", "SEQUENCE_SEED": str(k),
                     "SEQUENCE_ITERATOR": "2", "ELASTICSEARCH_HOSTS": elasticsearch.url}) for k in (1, 2)]
    port = free_tcp_port()
    balancer = HaproxyTcpBalancer(port, [d.tcp_port for d in fleet])
    try:
        # Four connections from go-gelf, then graypy and pygelf: haproxy spreads connections round robin.
        for k in range(4):
            subprocess.run([str(gogelf_send), "-proto", "tcp", "-addr", f"127.0.0.1:{port}", "-prefix", f"conn{k}",
                            "-n", "200"], check=True)
        for handler, name in [(graypy.GELFTCPHandler("127.0.0.1", port), "graypy"),
                              (pygelf.GelfTcpHandler("127.0.0.1", port), "pygelf")]:
            log = logging.getLogger(f"haproxy-{name}")
            log.propagate = False
            log.addHandler(handler)
            for i in range(20):
                log.warning("%s %d", name, i)
            handler.close()
        time.sleep(1.5)
    finally:
        balancer.stop()
    for d in fleet:
        assert d.stop() == 0
    docs = elasticsearch.search_all("tcp-haproxy")
    assert len(docs) == 840
    sequences = [doc["sequence"] for doc in docs]
    assert len(set(sequences)) == 840
    # Both instances took connections: odd numbers from seed 1, even from seed 2.
    assert {s % 2 for s in sequences} == {0, 1}
