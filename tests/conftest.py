"""Fixtures shared by the suite: the real Elasticsearch (started once per session) and the daemon."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gelfingest.local_es import LocalElasticsearch
from tests.harness import Daemon


class ES:
    """A few plain HTTP calls to the test server (not our client: we check what it stored)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read() or b"null")

    def search_all(self, index: str, size: int = 10_000) -> list[dict[str, Any]]:
        self.call("POST", f"/{index}/_refresh")
        body = {"size": size, "sort": [{"@timestamp": "asc"}, {"sequence": "asc"}],
                "query": {"match_all": {}}}
        result = self.call("POST", f"/{index}/_search?ignore_unavailable=true", body)
        return [h["_source"] | {"_id": h["_id"], "_index": h["_index"]} for h in result["hits"]["hits"]]

    def wait_count(self, index: str, n: int, timeout: float = 30) -> int:
        """The documents in ``index`` once there are ``n``, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (count := self.count(index)) < n and time.monotonic() < deadline:
            time.sleep(0.3)
        return count

    def count(self, index: str) -> int:
        self.call("POST", f"/{index}/_refresh")
        return int(self.call("GET", f"/{index}/_count?ignore_unavailable=true").get("count", 0))


@pytest.fixture(scope="session")
def elasticsearch() -> Iterator[ES]:
    server = LocalElasticsearch()
    server.start()
    try:
        yield ES(server.url)
    finally:
        server.cleanup()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None, data_dir: Path | None = None,
              ) -> Daemon:
        env = {"GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_BATCH_MAX_AGE": "0.2", **(env or {})}
        d = Daemon(env, args or [], data_dir or tmp_path / f"data{len(started)}")
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.kill()
        d.close()


OTEL_NODE = Path(__file__).resolve().parent / "interop" / "otel_node"


@pytest.fixture(scope="session")
def otel_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with OpenTelemetry's Node SDK and OTLP/HTTP log exporter (it sends JSON), installed from npm
    once a session, and the scripts of tests/interop/otel_node."""
    import shutil
    import subprocess

    where = tmp_path_factory.mktemp("otel-node")
    for script in OTEL_NODE.iterdir():
        shutil.copy(script, where / script.name)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=where, check=True,
                   timeout=300)
    return where
