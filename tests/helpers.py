"""Building GELF input the way clients do, for tests."""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors"


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
