"""Real GELF clients we did not write, sending live to the daemon, into the real Elasticsearch.

Docker's own Go library (go-gelf at the commit Docker pins, from Debian's golang-github-graylog2-go-gelf-dev,
installed by `make test`), graypy 2.1.0 and pygelf 0.4.3 (FACTS.md has their quirks).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from pathlib import Path

import graypy
import pygelf
import pytest

from tests.conftest import ES
from tests.helpers import assert_progression

pytestmark = pytest.mark.integration

GO_SOURCE = Path(__file__).resolve().parent.parent / "interop" / "gogelf_send"
GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="session")
def gogelf_send(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go") / "gogelf_send"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOCACHE": str(out.parent / "cache"),
           "GOFLAGS": ""}
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=GO_SOURCE, env=env, check=True)
    return out


def test_docker_go_gelf_every_compression_and_chunking(elasticsearch: ES, daemon, gogelf_send: Path) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_INDEX": "interop-gogelf", "SEQUENCE_SEED": "2", "SEQUENCE_ITERATOR": "2",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    addr = f"127.0.0.1:{d.udp_port}"
    runs = [
        # (name, arguments, messages)
        ("gzip", ["-compress", "gzip", "-n", "300"], 300),
        ("zlib", ["-compress", "zlib", "-n", "300", "-stderr"], 300),
        ("none", ["-compress", "none", "-n", "300"], 300),
        ("gzip9", ["-compress", "gzip", "-level", "9", "-n", "50"], 50),
        ("chunked", ["-compress", "gzip", "-n", "20", "-size", "20000", "-random"], 20),
        ("max", ["-compress", "gzip", "-n", "3", "-size", "239500", "-random"], 3),
        ("exact", ["-compress", "none", "-n", "5", "-exact", "4"], 5),
    ]
    for name, args, _ in runs:
        subprocess.run([str(gogelf_send), "-addr", addr, "-prefix", name, *args], check=True)
        time.sleep(0.3)
    time.sleep(1)
    assert d.stop() == 0
    docs = elasticsearch.search_all("interop-gogelf")
    total = sum(n for _, _, n in runs)
    assert len(docs) == total, d.text()
    for name, args, n in runs:
        mine = [doc for doc in docs if doc["message"].split(" ")[0] == name]
        numbers = sorted(int(re.match(r"\w+ (\d+)", doc["message"])[1]) for doc in mine)  # type: ignore[index]
        assert numbers == list(range(n)), name
        for doc in mine:
            assert doc["host"] == "docker-host"
            assert doc["level"] == (3 if "-stderr" in args else 6)
            assert doc["container_name"] == "web-1"
            assert doc["image_name"] == "nginx:1.25"
            assert doc["container_id"].startswith("3f4e5d6c")
            assert doc["command"] == "nginx -g daemon off;"
            assert doc["created"] == "2026-11-23T08:00:00.123456789Z"
            assert doc["@timestamp"].endswith("Z") and len(doc["@timestamp"]) == 24
    assert max(len(doc["message"]) for doc in docs) >= 239_000
    assert_progression([doc["sequence"] for doc in docs], total, seed=2, iterator=2)
    assert "rejected: none" in d.text()


def _log_through(handler: logging.Handler, messages: list[tuple[str, dict[str, object]]]) -> None:
    logger = logging.getLogger(f"interop-{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    for text, extra in messages:
        logger.warning(text, extra=extra)
    handler.close()


def test_graypy_and_pygelf(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_INDEX": "interop-python", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    big = "".join(chr(97 + (i * i) % 26) for i in range(30_000))
    _log_through(graypy.GELFUDPHandler("127.0.0.1", d.udp_port),
                 [("graypy small", {"user": "alice"}), ("graypy big " + big, {"user": "bob"})])
    _log_through(pygelf.GelfUdpHandler("127.0.0.1", d.udp_port, include_extra_fields=True),
                 [("pygelf small", {"request_id": "r-1"}), ("pygelf big " + big, {"request_id": "r-2"})])
    time.sleep(1)
    assert d.stop() == 0
    docs = {doc["message"].split(" ")[0] + " " + doc["message"].split(" ")[1]: doc
            for doc in elasticsearch.search_all("interop-python")}
    assert set(docs) == {"graypy small", "graypy big", "pygelf small", "pygelf big"}
    assert docs["graypy small"]["version"] == "1.0"
    assert docs["graypy small"]["user"] == "alice"
    assert docs["graypy big"]["message"] == "graypy big " + big
    assert docs["pygelf small"]["request_id"] == "r-1"
    assert docs["pygelf big"]["message"] == "pygelf big " + big
    assert docs["pygelf big"]["level"] == 4
