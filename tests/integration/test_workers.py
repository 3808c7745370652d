"""Several worker processes: the load shared, sequences disjoint, and never reused across restarts."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ES
from tests.helpers import compress, gelf

pytestmark = pytest.mark.integration


def send_from_many_ports(port: int, messages: list[bytes]) -> None:
    """A new source port per datagram, as behind nginx: SO_REUSEPORT hashes them over the workers."""
    for i, m in enumerate(messages):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(m, ("127.0.0.1", port))
        if i % 100 == 99:
            time.sleep(0.005)




def test_two_workers_share_the_load_with_disjoint_sequences(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_WORKERS": "2", "SEQUENCE_SEED": "1", "SEQUENCE_ITERATOR": "2",
                "GELFINGEST_INDEX": "workers-share", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    send_from_many_ports(d.udp_port, [compress(gelf(f"w {i}", _i=i), "gzip") for i in range(1000)])
    time.sleep(1)
    assert d.stop() == 0
    docs = elasticsearch.search_all("workers-share")
    assert sorted(doc["i"] for doc in docs) == list(range(1000))
    sequences = [doc["sequence"] for doc in docs]
    assert len(set(sequences)) == 1000
    assert all(s % 2 == 1 for s in sequences)  # the instance's 1 + n*2
    by_worker = {1: 0, 3: 0}
    for s in sequences:
        by_worker[s % 4] += 1
    assert min(by_worker.values()) > 100, by_worker  # both workers took a share
    log = d.text()
    assert "worker 0: 1 + n*4; worker 1: 3 + n*4" in log
    assert "all 2 workers stopped (exit codes [0, 0]" in log


def test_killed_worker_and_restarted_instance_never_repeat_a_sequence(elasticsearch: ES, daemon,
                                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"GELFINGEST_WORKERS": "2", "SEQUENCE_SEED": "2", "SEQUENCE_ITERATOR": "2",
           "GELFINGEST_INDEX": "workers-restart", "ELASTICSEARCH_HOSTS": elasticsearch.url}
    data = tmp_path / "instance"
    d = daemon(env, data_dir=data)
    send_from_many_ports(d.udp_port, [gelf(f"a {i}", _i=i) for i in range(300)])
    assert elasticsearch.wait_count("workers-restart", 300) == 300
    victim = d.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while victim in d.worker_pids() or len(d.worker_pids()) < 2:
        assert time.monotonic() < deadline, d.text()
        time.sleep(0.2)
    time.sleep(1.5)  # the new worker binds its socket
    send_from_many_ports(d.udp_port, [gelf(f"b {i}", _i=300 + i) for i in range(300)])
    assert elasticsearch.wait_count("workers-restart", 600) == 600
    assert d.stop() == 0
    assert "restarting it" in d.text()
    # The whole instance again, on the same data dir.
    d2 = daemon(env, data_dir=data)
    send_from_many_ports(d2.udp_port, [gelf(f"c {i}", _i=600 + i) for i in range(300)])
    time.sleep(1)
    assert d2.stop() == 0
    docs = elasticsearch.search_all("workers-restart")
    assert sorted(doc["i"] for doc in docs) == list(range(900))
    sequences = [doc["sequence"] for doc in docs]
    assert len(set(sequences)) == len(sequences) == 900
    assert all(s % 2 == 0 for s in sequences)
    # Each phase's values are above every value of the phases before it, per worker.
    first = {doc["sequence"] for doc in docs if doc["i"] < 300}
    last = {doc["sequence"] for doc in docs if doc["i"] >= 600}
    assert min(last) > max(first)
