"""The known-bad corpus (tests/vectors/bad/) at a live daemon over UDP: each case is rejected and counted
by its reason, the worker stays up, and the good message sent after each one gets through."""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter

import pytest

from tests.conftest import ES
from tests.helpers import VECTORS, gelf, read_vector

pytestmark = pytest.mark.integration

MANIFEST = json.loads((VECTORS / "bad" / "manifest.json").read_text())


def test_every_udp_case_is_rejected_by_its_reason_and_good_traffic_goes_on(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "bad-udp"})
    cases = {name: e for name, e in MANIFEST.items() if "udp" in e["transports"]}
    expected: Counter[str] = Counter()
    kept = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, (name, e) in enumerate(sorted(cases.items())):
            for datagram in read_vector(f"bad/{name}"):
                s.sendto(datagram, ("127.0.0.1", d.udp_port))
            if e["outcome"] == "rejected":
                expected[e["reason"]] += 1
            else:
                kept += 1
            s.sendto(gelf(f"good after {name}", _case=i), ("127.0.0.1", d.udp_port))
            time.sleep(0.02)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and elasticsearch.count("bad-udp") < len(cases) + kept:
        time.sleep(0.5)
    assert d.proc.poll() is None  # still up after all of it
    assert d.stop() == 0
    log = d.text()
    line = re.search(r"rejected: ([^;]+);", log)
    assert line, log
    counted = Counter({k: int(v) for k, v in (p.split("=") for p in line[1].split(", "))})
    assert counted == expected
    docs = elasticsearch.search_all("bad-udp")
    goods = sorted(doc["message"] for doc in docs if doc["message"].startswith("good after "))
    assert goods == sorted(f"good after {name}" for name in cases)
    assert len(docs) == len(cases) + kept
