"""The spool: batches Elasticsearch has not acknowledged, kept on disk through outages and crashes.

Each worker spools under ``<data dir>/spool/<worker>/`` into numbered segment files. A segment is a run
of records, one per batch:

    header (20 bytes, little-endian): b"GSP1", payload length, item count, CRC-32 of the payload,
                                      length of the bulk body once decompressed
    payload: one zstd frame holding the batch's bulk body (its action and document lines, as encoded)

A record is written and fsynced before the memory it stands for is let go (``append``). Records are read
back in the order they were written (``read``) and a segment is deleted once the output is done with every
record in it (``ack``). At start (``open``) every segment left by an earlier run is scanned: a record that
ends early or fails its CRC (a write torn by a crash, a full disk) ends the scan of that segment and is
reported, with the bytes skipped; the good records before it are replayed, and nothing is fatal.

A batch that was delivered but not yet acked when the process died is sent again at the next start; with
ids from the sequence (``--document-id sequence``, op_type create) Elasticsearch answers 409 for what it
already has, so nothing is indexed twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zstandard

from gelfingest.core.batch import Batch

logger = logging.getLogger(__name__)

HEADER: Final = struct.Struct("<4sIIII")
MAGIC: Final = b"GSP1"
# A segment is closed for writing beyond this size; a whole segment is deleted once it is all delivered.
DEFAULT_SEGMENT_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_BYTES: Final = 1024 * 1024 * 1024
# zstd's default level: about 8x on log documents, faster than Elasticsearch takes them back.
COMPRESSION_LEVEL: Final = 3
_SEGMENT_RE: Final = re.compile(r"(\d{12})\.seg")


def encode_record(body: bytes, items: int, compressor: zstandard.ZstdCompressor) -> bytes:
    payload = compressor.compress(body)
    return HEADER.pack(MAGIC, len(payload), items, zlib.crc32(payload), len(body)) + payload


def split_items(body: bytes, items: int) -> list[bytes]:
    """A bulk body back into its items (action line + document line); orjson never writes a raw newline
    inside a line, so the body has exactly two lines an item."""
    lines = body.split(b"\n")
    if len(lines) != 2 * items + 1 or lines[-1]:
        raise ValueError(f"record holds {len(lines) - 1} lines, expected {2 * items}")
    return [lines[i] + b"\n" + lines[i + 1] + b"\n" for i in range(0, 2 * items, 2)]


@dataclass(slots=True)
class Torn:
    """Where the scan of a segment stopped: the rest of that segment (``skipped`` bytes) is not replayed."""

    path: Path
    offset: int
    skipped: int
    why: str


@dataclass(slots=True)
class _Record:
    segment: int
    offset: int
    length: int
    items: int
    raw_length: int


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0
    # Records in it that the output has not finished with (read or not yet read).
    outstanding: int = 0
    unread: int = 0


def scan(data: bytes) -> tuple[list[tuple[int, int, int, int]], tuple[int, str] | None]:
    """The good records of a segment's bytes as (offset, payload length, items, raw length), and where and
    why the scan stopped early (None when the segment ends cleanly)."""
    records: list[tuple[int, int, int, int]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            return records, (offset, "record header cut short")
        magic, length, items, crc, raw_length = HEADER.unpack_from(data, offset)
        if magic != MAGIC:
            return records, (offset, "no record starts here")
        start = offset + HEADER.size
        if start + length > len(data):
            return records, (offset, f"record of {length} bytes cut short at {len(data) - start}")
        if zlib.crc32(data[start:start + length]) != crc:
            return records, (offset, "record fails its checksum")
        records.append((offset, length, items, raw_length))
        offset = start + length
    return records, None


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Space comes back a whole segment at a time: keep segments small next to a small cap.
        self.segment_bytes = min(segment_bytes, max(1024 * 1024, max_bytes // 8))
        self._compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()
        self._segments: dict[int, _Segment] = {}
        self._unread: deque[_Record] = deque()
        # The batches whose copy here the output is not done with (read back, or claimed), by id: the batch
        # and its segment. A batch stays alive while it is here, so its id cannot be reused meanwhile.
        self._claims: dict[int, tuple[Batch, int]] = {}
        self._active: _Segment | None = None
        self._fd = -1
        self._next_number = 1
        # What is on disk now.
        self.bytes = 0
        self.unread_events = 0
        self.held_events = 0  # written and not acked (read or not)
        # Counters.
        self.written_events = 0
        self.written_bytes = 0
        self.read_events = 0
        self.refused_events = 0
        self.torn_records = 0
        self.torn_bytes = 0

    @property
    def unread_batches(self) -> int:
        return len(self._unread)

    # -- start ---------------------------------------------------------------------------------------

    def adopt(self, other: Path) -> int:
        """Move another spool directory's segments (a worker that no longer exists) behind our own; return
        how many. Call before ``open``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        mine = [int(m[1]) for p in self.directory.iterdir() if (m := _SEGMENT_RE.fullmatch(p.name))]
        number = max(mine, default=0) + 1
        moved = 0
        for path in sorted(other.glob("*.seg")):
            if _SEGMENT_RE.fullmatch(path.name):
                os.replace(path, self.directory / f"{number:012d}.seg")
                number += 1
                moved += 1
        with contextlib.suppress(OSError):
            other.rmdir()
        return moved

    def open(self) -> list[Torn]:
        """Scan what earlier runs left, queue its good records for reading, and report torn ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        torn: list[Torn] = []
        found = sorted((int(m[1]), p) for p in self.directory.iterdir() if (m := _SEGMENT_RE.fullmatch(p.name)))
        for number, path in found:
            self._next_number = number + 1
            data = path.read_bytes()
            records, stop = scan(data)
            if stop is not None:
                offset, why = stop
                torn.append(Torn(path, offset, len(data) - offset, why))
                self.torn_records += 1
                self.torn_bytes += len(data) - offset
            if not records:
                path.unlink()
                continue
            segment = _Segment(number, path, size=len(data), outstanding=len(records), unread=len(records))
            self._segments[number] = segment
            self.bytes += len(data)
            for offset, length, items, raw_length in records:
                self._unread.append(_Record(number, offset, length, items, raw_length))
                self.unread_events += items
                self.held_events += items
        return torn

    # -- writing -------------------------------------------------------------------------------------

    def append(self, batch: Batch, claimed: bool = False) -> bool:
        """Write ``batch`` durably; False (and counted) when the spool is full or the disk refuses.

        ``claimed``: the caller keeps the batch and sends it itself (a batch already in the output's
        hands when an outage began); the copy here is only for a crash, and ``ack`` releases it. Otherwise
        the batch is queued here to be ``read`` back in order, and the caller may drop it.
        """
        record = encode_record(batch.body(), len(batch), self._compressor)
        if self.bytes + len(record) > self.max_bytes:
            self.refused_events += len(batch)
            return False
        try:
            segment = self._writable()
        except OSError as exc:  # the folder went, the disk is full or read-only
            logger.error("cannot open a spool segment in %s: %s", self.directory, exc)
            self.refused_events += len(batch)
            return False
        try:
            view = memoryview(record)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            # A full or failing disk: undo the partial record so the segment stays readable.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, segment.size)
            logger.error("cannot write to the spool %s: %s", segment.path, exc)
            self.refused_events += len(batch)
            return False
        offset = segment.size
        segment.size += len(record)
        segment.outstanding += 1
        self.bytes += len(record)
        self.held_events += len(batch)
        self.written_events += len(batch)
        self.written_bytes += len(record)
        if claimed:
            self._claims[id(batch)] = (batch, segment.number)
        else:
            segment.unread += 1
            self._unread.append(_Record(segment.number, offset, len(record) - HEADER.size, len(batch),
                                        batch.size))
            self.unread_events += len(batch)
        if segment.size >= self.segment_bytes:
            self._close_active()
        return True

    def _writable(self) -> _Segment:
        if self._active is None:
            number = self._next_number
            self._next_number += 1
            path = self.directory / f"{number:012d}.seg"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            _fsync_dir(self.directory)
            self._active = self._segments[number] = _Segment(number, path)
        return self._active

    def _close_active(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._active = None

    # -- reading back --------------------------------------------------------------------------------

    def read(self) -> Batch | None:
        """The oldest record not yet read, as a batch tied to its segment (``ack`` it when done)."""
        while self._unread:
            record = self._unread.popleft()
            segment = self._segments[record.segment]
            segment.unread -= 1
            self.unread_events -= record.items
            try:
                with open(segment.path, "rb") as f:
                    f.seek(record.offset + HEADER.size)
                    payload = f.read(record.length)
                body = self._decompressor.decompress(payload, max_output_size=record.raw_length)
                items = split_items(body, record.items)
            except (OSError, zstandard.ZstdError, ValueError) as exc:
                # The checksum held, so this is a bug or the disk changed under us: say so, go on.
                logger.error("cannot read spooled batch of %d events at %s:%d: %s", record.items, segment.path,
                             record.offset, exc)
                self.torn_records += 1
                self._release(segment, record.items)
                continue
            self.read_events += record.items
            batch = Batch(items=items, size=len(body))
            self._claims[id(batch)] = (batch, record.segment)
            return batch
        return None

    def holds(self, batch: Batch) -> bool:
        """Whether the spool has a copy of ``batch`` (read back from it, or claimed) not yet acked."""
        return id(batch) in self._claims

    def ack(self, batch: Batch) -> None:
        """The output is done with a batch read from (or claimed in) the spool: its copy may go."""
        claim = self._claims.pop(id(batch), None)
        if claim is None:
            return
        segment = self._segments.get(claim[1])
        if segment is not None:
            self._release(segment, len(batch))

    def _release(self, segment: _Segment, events: int) -> None:
        segment.outstanding -= 1
        self.held_events -= events
        if segment.outstanding == 0 and segment.unread == 0:
            if segment is self._active:
                self._close_active()
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            self.bytes -= segment.size
            del self._segments[segment.number]

    def close(self) -> None:
        self._close_active()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def orphan_spools(root: Path, workers: int) -> list[Path]:
    """The spool folders under ``root`` of workers that no longer exist (an instance restarted with fewer
    ``--workers``): worker 0 adopts them, so what they hold is sent too."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.isdigit() and int(p.name) >= workers)
