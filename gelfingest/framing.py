"""Cutting a TCP byte stream into GELF frames, with no I/O (after h11: bytes in, frames out).

GELF over TCP ends each frame with one NUL byte (Docker's go-gelf, graypy); some senders end lines with a
newline instead. ``nul``, ``newline`` or ``auto`` (either ends a frame). A frame longer than the cap is
skipped up to its terminator and counted; the stream goes on with the next frame, and the buffer never
holds more than the cap.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Framing = Literal["nul", "newline", "auto"]
# Graylog's cap on a GELF TCP frame.
DEFAULT_MAX_FRAME: Final = 2 * 1024 * 1024

_TERMINATORS: Final = {"nul": re.compile(b"\x00"), "newline": re.compile(b"\n"), "auto": re.compile(b"[\x00\n]")}


class Deframer:
    def __init__(self, framing: Framing = "nul", max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._terminator = _TERMINATORS[framing]
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
        frames: list[bytes] = []
        buffer = self._buffer
        start = len(buffer)
        buffer += data
        pos = 0
        # Only the new bytes can hold the next terminator: what was buffered before had none.
        search_from = start
        while True:
            m = self._terminator.search(buffer, search_from)
            if m is None:
                break
            end = m.start()
            if self._skipping:
                self._skipping = False
            elif end - pos > self.max_frame:
                self.oversize += 1
            elif end > pos and buffer[pos:end].strip():
                frames.append(bytes(buffer[pos:end]))
            pos = search_from = end + 1
        del buffer[:pos]
        if len(buffer) > self.max_frame:
            # No terminator within the cap: drop what we have and skip up to the next terminator.
            if not self._skipping:
                self.oversize += 1
            self._skipping = True
            buffer.clear()
        return frames

    def close(self) -> bytes | None:
        """End of stream: a last frame without its terminator (what graypy's close may leave), if any."""
        rest = bytes(self._buffer).strip()
        self._buffer.clear()
        return None if self._skipping or not rest else rest
