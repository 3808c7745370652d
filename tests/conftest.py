"""Fixtures shared by the suite: the real Elasticsearch (started once per session) and the daemon."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gelfingest.local_es import LocalElasticsearch


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


class Daemon:
    """``gelfingest`` as a user runs it: a separate process configured by environment variables."""

    def __init__(self, env: dict[str, str], args: list[str], data_dir: Path, workers: int = 1) -> None:
        self.workers = workers
        # TCP is on by default in gelfingest; tests that want it ask for a port of their own.
        full_env = {**os.environ, "GELFINGEST_DATA_DIR": str(data_dir), "GELFINGEST_TCP": "off",
                    "GELFINGEST_HTTP": "off", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "gelfingest", *args], env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.log: list[str] = []
        self.stdout: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=lambda: self.stdout.extend(iter(self.proc.stdout.readline, b"")),  # type: ignore[union-attr]
                         daemon=True).start()
        self.udp_port = self._wait_for_start()
        m = re.search(r"(?<![\w-])tcp=\S+:(\d+)", self.text())
        self.tcp_port = int(m[1]) if m else 0
        m = re.search(r"(?<![\w-])http=\S+:(\d+)", self.text())
        self.http_port = int(m[1]) if m else 0
        m = re.search(r"json-tcp=\S+:(\d+)", self.text())
        self.json_tcp_port = int(m[1]) if m else 0
        m = re.search(r"json-udp=\S+:(\d+)", self.text())
        self.json_udp_port = int(m[1]) if m else 0

    def _read(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):  # type: ignore[union-attr]
            self.log.append(line.decode(errors="replace").rstrip())

    def _wait_for_start(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = [int(m[1]) for line in list(self.log) if (m := re.search(r"listening on udp=\S+:(\d+)", line))]
            if len(ports) >= self.workers:
                return ports[0]
            if sum("listening on udp=off" in line for line in list(self.log)) >= self.workers:
                return 0
            if self.proc.poll() is not None:
                raise RuntimeError("gelfingest exited:\n" + "\n".join(self.log))
            time.sleep(0.05)
        raise RuntimeError("gelfingest did not start:\n" + "\n".join(self.log))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def text(self) -> str:
        return "\n".join(self.log)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def delivered(self) -> int:
        """Events delivered, summed over the workers' closing lines."""
        return sum(int(m[1]) for line in self.log if (m := re.search(r"(\d+) delivered to", line)))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Any]:
    started: list[Daemon] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None, data_dir: Path | None = None,
              ) -> Daemon:
        env = {"GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_BATCH_MAX_AGE": "0.2", **(env or {})}
        d = Daemon(env, args or [], data_dir or tmp_path / f"data{len(started)}",
                   workers=int(env.get("GELFINGEST_WORKERS", "1")))
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
