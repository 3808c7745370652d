"""The dead-letter queue: events Elasticsearch refused for good (mapping and parse errors), kept on disk.

Files are zstd-compressed NDJSON under ``<data dir>/dlq/``, one JSON object a line::

    {"time": "...Z", "index": "logstash-2026.11.24", "op_type": "create", "id": "k3v9x2a1-17",
     "status": 400, "error": {"type": "mapper_parsing_exception", ...}, "document": {...}}

A document refused for a mapping conflict was sent once more with the conflicting field moved
(core/conflicts.py); when that was refused too, its letter holds the document as first sent and the
first refusal, and ``"resent": {"field": ..., "status": ..., "error": ...}`` says what the second one was.

Each write appends one zstd frame (a file of several frames is still one zstd stream) and is fsynced.
Each worker appends to its own file, ``worker-<k>.ndjson.zst``. ``gelfingest dlq replay`` takes a file by
renaming it first; a writer holds an exclusive lock while it appends and checks, once it holds it, that
its path still names the file it opened, so no line is ever appended to a file that is being replayed.
"""

from __future__ import annotations

import fcntl
import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import zstandard

from gelfingest.core.bulk import decode_item

SUFFIX: Final = ".ndjson.zst"


def dead_letter(item: bytes, status: int, error: Any, now: float,
                resent: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record of one refused bulk item (its encoded bytes), with Elasticsearch's error; ``resent``: how
    its re-send with a conflicting field moved was refused, when it was."""
    action, document = decode_item(item)
    op_type, meta = next(iter(action.items()))
    record = {
        "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "index": meta.get("_index"),
        "op_type": op_type,
        "id": meta.get("_id"),
        "status": status,
        "error": error,
        "document": document,
    }
    if resent is not None:
        record["resent"] = resent
    return record


def to_item(record: dict[str, Any], index: str | None = None) -> bytes:
    """A dead letter back into a bulk item, to the same index unless ``index`` says otherwise."""
    meta: dict[str, Any] = {"_index": index or record["index"]}
    if record.get("id") is not None:
        meta["_id"] = record["id"]
    return (orjson.dumps({record.get("op_type") or "index": meta}) + b"\n"
            + orjson.dumps(record["document"], option=orjson.OPT_APPEND_NEWLINE))


class DeadLetters:
    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.path = directory / f"{name}{SUFFIX}"
        self._compressor = zstandard.ZstdCompressor(level=3)

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append records durably (OSError when the disk refuses)."""
        if not records:
            return
        frame = self._compressor.compress(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)
                                                   for r in records))
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    continue  # taken for replay between our open and our lock: open the path again
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                return
            finally:
                os.close(fd)


def files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one file, waiting for a writer that is appending to it right now."""
    with open(path, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        data = f.read()
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    for line in io.BufferedReader(reader):
        if line.strip():
            yield orjson.loads(line)


def take(path: Path, now: float) -> Path:
    """Take a file for replay: rename it so writers start a new one, then wait for one mid-append."""
    taken = path.with_name(f"replaying-{int(now * 1000)}-{path.name}")
    os.replace(path, taken)
    with open(taken, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    return taken
