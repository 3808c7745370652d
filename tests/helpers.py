"""Building GELF input the way clients do, and driving the pure core one item at a time, for tests."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import zlib
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import yaml

from gelfingest.core.batch import Batch, Batcher
from gelfingest.core.bulk import BulkEncoder
from gelfingest.core.ingest import Ingest
from gelfingest.core.sequence import Sequencer
from gelfingest.net import free_port
from gelfingest.outputs.local import NullOutput

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


def mounted(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """A compose service's bind mounts (as ``compose_config`` gives them): (file here, path inside)."""
    out = []
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("/"):
            out.append((Path(source), target))
    return out


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to (now)."""
    return free_port(socket.SOCK_DGRAM)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now): also an Elasticsearch that is down."""
    return free_port(socket.SOCK_STREAM)


def assert_progression(sequences: list[int], count: int, seed: int = 1, iterator: int = 1) -> None:
    """``count`` distinct numbers, every one of the instance's progression ``seed + n*iterator`` (clock mode,
    the default, leaves gaps where counter mode would count 0, 1, 2 ...)."""
    assert len(sequences) == len(set(sequences)) == count, (len(sequences), len(set(sequences)), count)
    assert all(s >= seed and (s - seed) % iterator == 0 for s in sequences), sorted(sequences)[:10]


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
    return read_dgrams((VECTORS / f"{name}.dgrams").read_bytes())


def read_dgrams(data: bytes) -> list[bytes]:
    """The records of a .dgrams file: each a 4-byte big-endian length, then that many bytes."""
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def manifest() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = json.loads((VECTORS / "manifest.json").read_text())
    return result


# -- the pure core one item at a time (the daemon always works in bursts) -----------------------------

def datagram(ingest: Ingest, data: bytes, source: str, now: float, forwarded: bool = False) -> Batch | None:
    """Take one datagram; return the batch its event fills, if any (the items of all it fills, for a payload
    of several objects); raise the GelfError that rejects it (the first, for several)."""
    ready, rejected = ingest.take_many([data], [source], now, forwarded)
    if rejected:
        raise rejected[0][0]
    return _one(ready)


def _one(ready: list[Batch]) -> Batch | None:
    """The batches one input filled, as one (an item of max_bytes or more after others fills two)."""
    if len(ready) > 1:
        return Batch(items=[item for batch in ready for item in batch.items], size=sum(b.size for b in ready),
                     created=ready[0].created)
    return ready[0] if ready else None


def json_line(ingest: Ingest, data: bytes, source: str, now: float) -> Batch | None:
    """Take one logspout JSON line, as ``datagram`` takes a GELF datagram."""
    ready, rejected = ingest.json_lines([data], [source], now)
    if rejected:
        raise rejected[0][0]
    return _one(ready)


def stamp(sequencer: Sequencer, doc: dict[str, Any], now: float) -> int:
    """Stamp one document with the next sequence number; return it."""
    value = sequencer.take(1, now)[0]
    doc["sequence"] = value
    return value


def encode(encoder: BulkEncoder, doc: dict[str, Any], epoch_seconds: int) -> bytes:
    """One bulk item; ``doc`` carries its ``sequence`` (an int) when the ids are ours."""
    return encoder.encode_many([doc], [epoch_seconds], [doc.get("sequence", 0)])[0]


class ItemByItem:
    """A Batcher fed one item at a time: ``add`` returns one batch or None. When an item fills two batches
    (one of max_bytes or more after others), the second waits for the next ``add`` or ``flush``."""

    def __init__(self, batcher: Batcher) -> None:
        self.batcher = batcher
        self._ready: deque[Batch] = deque()
        self._added = self._returned = 0

    @property
    def pending(self) -> int:
        """Items added and not yet returned in a batch."""
        return self._added - self._returned

    def _out(self, batch: Batch | None) -> Batch | None:
        if batch is not None:
            self._returned += len(batch)
        return batch

    def add(self, item: bytes, now: float) -> Batch | None:
        self._added += 1
        self._ready.extend(self.batcher.add_many([item], now))
        return self._out(self._ready.popleft() if self._ready else None)

    def maybe_flush(self, now: float) -> Batch | None:
        return self._out(self._ready.popleft() if self._ready else self.batcher.maybe_flush(now))

    def flush(self) -> Batch | None:
        return self._out(self._ready.popleft() if self._ready else self.batcher.flush())


class GatedOutput(NullOutput):
    """An output whose sends wait until its ``gate`` is set, and whose availability a test sets
    (``down_since``); it keeps the ``sequence`` of every document it was sent, in order."""

    name = "gated"

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.received: list[int] = []
        self.down_since: float | None = None

    @property
    def unavailable_since(self) -> float | None:
        return self.down_since

    async def send(self, batch: Batch) -> None:
        await self.gate.wait()
        self.received.extend(orjson.loads(item.split(b"\n")[1])["sequence"] for item in batch.items)
        self.indexed += len(batch)
