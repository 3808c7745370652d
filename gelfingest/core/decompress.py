"""Payload kinds by magic bytes, and decompression that never exceeds its bound.

GELF payloads say what they are by their first bytes: gzip ``1f 8b``, zlib ``78 xx`` (a zlib header is a
CMF byte with method 8 and a window of at most 32 KiB, and ``(CMF*256 + FLG) % 31 == 0``: Docker's
level-1 zlib starts ``78 01``, the default level ``78 9c``, level 9 ``78 da``), a chunk ``1e 0f``; anything
else is taken as plain JSON.

Inflating is most of the work of a message. ISA-L's inflate (python-isal, the zlib-ng binding's maintainers)
does it with zlib's own decompressor interface: in the whole daemon 15 % less CPU per 32 KB message than
zlib-ng, and as much or 2-3 % less on small and mixed traffic (the suite's udp-inflaters; docs/performance.md
has the figures and the instruction counts).
"""

from __future__ import annotations

from enum import Enum
from typing import Final, cast

from isal import isal_zlib as zlib

from gelfingest.core.errors import PayloadError, Reason

# Graylog's cap on a decompressed message; over it we reject (Graylog silently truncates, which then
# fails to parse or, worse, parses). A Docker log line is a few hundred bytes.
DEFAULT_MAX_MESSAGE_SIZE: Final = 8 * 1024 * 1024

GZIP_MAGIC: Final = b"\x1f\x8b"
CHUNK_MAGIC: Final = b"\x1e\x0f"
# The binding's stub may declare its error as an instance; it is the exception class.
_INFLATE_ERROR: Final = cast(type[Exception], zlib.error)
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_ZLIB_WBITS: Final = zlib.MAX_WBITS


class PayloadKind(Enum):
    GZIP = "gzip"
    ZLIB = "zlib"
    CHUNKED = "chunked"
    PLAIN = "plain"


def _is_zlib_header(b0: int, b1: int) -> bool:
    return (b0 & 0x0F) == 8 and (b0 >> 4) <= 7 and (b0 * 256 + b1) % 31 == 0


def payload_kind(data: bytes) -> PayloadKind:
    if len(data) >= 2:
        head = data[:2]
        if head == GZIP_MAGIC:
            return PayloadKind.GZIP
        if head == CHUNK_MAGIC:
            return PayloadKind.CHUNKED
        if _is_zlib_header(data[0], data[1]):
            return PayloadKind.ZLIB
    return PayloadKind.PLAIN


def inflate(data: bytes, wbits: int, max_size: int, kind: str) -> bytes:
    """Decompress one whole stream (``wbits`` as zlib takes it) within ``max_size``; PayloadError if not."""
    inflater = zlib.decompressobj(wbits)
    try:
        # max_length bounds the memory we spend on a bomb: we stop one byte past the cap.
        out = inflater.decompress(data, max_size + 1)
    except _INFLATE_ERROR as exc:
        raise PayloadError(Reason.COMPRESSED_CORRUPT, f"{kind}: {exc}") from None
    if len(out) > max_size or inflater.unconsumed_tail:
        raise PayloadError(Reason.DECOMPRESSED_TOO_LARGE, f"{kind} expands beyond {max_size} bytes")
    if not inflater.eof:
        raise PayloadError(Reason.COMPRESSED_TRUNCATED, f"{kind} stream ends early")
    if inflater.unused_data:
        raise PayloadError(
            Reason.COMPRESSED_TRAILING_DATA, f"{len(inflater.unused_data)} bytes after the {kind} stream"
        )
    return out


def decompress(data: bytes, max_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> bytes:
    """Return the plain payload of a complete (non-chunked) GELF message.

    Raises PayloadError when it is corrupt, truncated, followed by other bytes, or larger than max_size
    once decompressed. Chunked data is the reassembler's business and is rejected here.
    """
    head = data[:2]
    if head == GZIP_MAGIC:  # Docker's default over UDP, looked for first
        return inflate(data, _GZIP_WBITS, max_size, "gzip")
    if head[:1] != b"{":  # JSON (GELF over TCP) cannot start like any of the magic bytes
        kind = payload_kind(data)
        if kind is PayloadKind.ZLIB:
            return inflate(data, _ZLIB_WBITS, max_size, "zlib")
        if kind is PayloadKind.CHUNKED:
            raise PayloadError(Reason.CHUNK_NESTED, "a chunk inside a chunked message")
    if len(data) > max_size:
        raise PayloadError(Reason.TOO_LARGE, f"{len(data)} bytes, more than {max_size}")
    return data
