"""Cutting a TCP byte stream into GELF frames, and an HTTP body into messages, with no I/O (after h11:
bytes in, frames out).

GELF over TCP ends each frame with one NUL byte (Docker's go-gelf, graypy); some senders end lines with a
newline instead. ``nul``, ``newline`` or ``auto`` (either ends a frame). A frame longer than the cap is
skipped up to its terminator and counted; the stream goes on with the next frame, and the buffer never
holds more than the cap.
"""

from __future__ import annotations

import zlib
from typing import Final, Literal

from gelfingest.core.decompress import PayloadKind, decompress, inflate, payload_kind

Framing = Literal["nul", "newline", "auto"]
# Graylog's cap on a GELF TCP frame.
DEFAULT_MAX_FRAME: Final = 2 * 1024 * 1024

# In ``auto`` mode a newline ends a frame as NUL does: newlines are made NULs, then the stream is split on NUL.
_NEWLINE_TO_NUL: Final = bytes.maketrans(b"\n", b"\x00")


class Deframer:
    def __init__(self, framing: Framing = "nul", max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._terminator = b"\n" if framing == "newline" else b"\x00"
        self._translate = _NEWLINE_TO_NUL if framing == "auto" else None
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._skipping = False
        self.oversize = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def skipping(self) -> bool:
        """Inside a frame over the cap, dropping bytes up to its terminator."""
        return self._skipping

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes of the stream; return the frames they complete (empty ones left out)."""
        if self._translate is not None:
            data = data.translate(self._translate)
        buffer = self._buffer
        if self._terminator not in data:
            if not self._skipping:
                buffer += data
                self._check_buffer()
            return []
        parts = data.split(self._terminator)
        rest = parts.pop()  # after the last terminator: the start of the next frame
        if self._skipping:  # the first part ends the frame being skipped
            parts[0] = b""
            self._skipping = False
        elif buffer:
            parts[0] = bytes(buffer) + parts[0]
            buffer.clear()
        max_frame = self.max_frame
        frames = [part for part in parts if part and len(part) <= max_frame and not part.isspace()]
        if len(frames) != len(parts):
            self.oversize += sum(len(part) > max_frame for part in parts)
        buffer += rest
        self._check_buffer()
        return frames

    def _check_buffer(self) -> None:
        if len(self._buffer) > self.max_frame:
            # No terminator within the cap: drop what we have and skip up to the next terminator.
            self.oversize += 1
            self._skipping = True
            self._buffer.clear()

    def close(self) -> bytes | None:
        """End of stream: a last frame without its terminator (what graypy's close may leave), if any."""
        rest = bytes(self._buffer).strip()
        self._buffer.clear()
        return None if self._skipping or not rest else rest


def http_body_messages(body: bytes, encoding: str, max_size: int) -> list[bytes]:
    """The messages in a GELF HTTP request body: decompressed (told by its magic bytes, whatever ``encoding``,
    the ``Content-Encoding``, says: graypy sends zlib announced as ``gzip,deflate``; a ``deflate`` body
    without a zlib header is raw deflate), split on newlines, blank lines left out."""
    kind = payload_kind(body)
    if kind in (PayloadKind.GZIP, PayloadKind.ZLIB):
        plain = decompress(body, max_size)
    elif "deflate" in encoding and kind is PayloadKind.PLAIN and body[:1] not in (b"{", b"[", b" ", b"\n"):
        plain = inflate(body, -zlib.MAX_WBITS, max_size, "deflate")
    else:
        plain = body
    return [line for line in plain.split(b"\n") if line.strip()]
