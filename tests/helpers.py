"""Building GELF input the way clients do, for tests."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import yaml

from gelfingest.net import free_port

VECTORS = Path(__file__).resolve().parent / "vectors"
ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yml"


def docker_compose(*args: str, file: Path = COMPOSE,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Debian's docker-compose 1.29 on a compose file, offline; the environment is ``env`` alone (and PATH),
    so nothing exported by whoever runs the tests changes what it reads."""
    assert shutil.which("docker-compose"), "docker-compose is missing: make system-deps installs it"
    return subprocess.run(["docker-compose", "-f", str(file), *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin", **(env or {})}, timeout=120)


def compose_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yml as docker-compose normalises it (anchors merged, variables filled in)."""
    result = docker_compose("config", env=env)
    assert result.returncode == 0, result.stderr
    normalised: dict[str, Any] = yaml.safe_load(result.stdout)
    return normalised


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to (now)."""
    return free_port(socket.SOCK_DGRAM)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now): also an Elasticsearch that is down."""
    return free_port(socket.SOCK_STREAM)


def gelf(short: str = "hello", **fields: Any) -> bytes:
    msg = {"version": "1.1", "host": "test-host", "short_message": short, **fields}
    return json.dumps(msg).encode()


def compress(data: bytes, kind: str, level: int = 1) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, level)
    if kind == "zlib":
        return zlib.compress(data, level)
    return data


def chunk(payload: bytes, size: int = 1408, message_id: bytes | None = None) -> list[bytes]:
    """Split ``payload`` into GELF chunks of ``size`` data bytes, as go-gelf does."""
    message_id = message_id or os.urandom(8)
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    if len(payload) % size == 0 and payload:
        parts.append(b"")  # go-gelf's header-only last chunk
    count = len(parts)
    return [b"\x1e\x0f" + message_id + struct.pack("BB", i, count) + p for i, p in enumerate(parts)]


def read_vector(name: str) -> list[bytes]:
    data = (VECTORS / f"{name}.dgrams").read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def manifest() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())
    return result
