"""One exception family for bad input, in the manner of h11's RemoteProtocolError.

Everything the pure core rejects raises a ``GelfError`` whose ``reason`` is a short, stable token that the
daemon counts (``rejected{reason="..."}``) and logs; the other attributes carry the facts. Any other
exception out of the core is a bug; ``Ingest.take_many`` turns one into ``internal_error`` for that message
alone, so a bug costs the message that found it and not the burst it came in.
"""

from __future__ import annotations

from typing import Final


class Reason:
    """The reasons a datagram or message is rejected: stable names, counted and logged."""

    EMPTY: Final = "empty"
    CHUNK_TOO_SHORT: Final = "chunk_too_short"
    CHUNK_COUNT_INVALID: Final = "chunk_count_invalid"
    CHUNK_SEQUENCE_INVALID: Final = "chunk_sequence_invalid"
    CHUNK_COUNT_MISMATCH: Final = "chunk_count_mismatch"
    CHUNK_NESTED: Final = "chunk_nested"
    TOO_LARGE: Final = "too_large"
    DECOMPRESSED_TOO_LARGE: Final = "decompressed_too_large"
    COMPRESSED_TRUNCATED: Final = "compressed_truncated"
    COMPRESSED_CORRUPT: Final = "compressed_corrupt"
    COMPRESSED_TRAILING_DATA: Final = "compressed_trailing_data"
    INVALID_UTF8: Final = "invalid_utf8"
    INVALID_JSON: Final = "invalid_json"
    TRAILING_DATA: Final = "trailing_data"
    NOT_AN_OBJECT: Final = "not_an_object"
    MISSING_SHORT_MESSAGE: Final = "missing_short_message"
    DATAGRAM_TOO_LARGE: Final = "datagram_too_large"
    JSON_TOO_DEEP: Final = "json_too_deep"
    TOO_MANY_FIELDS: Final = "too_many_fields"
    FIELD_NAME_TOO_LONG: Final = "field_name_too_long"
    # A bug in the core, met by this message (logged with the exception; the tests fail on it).
    INTERNAL_ERROR: Final = "internal_error"
    # Said by the inputs about connections and requests rather than by the core about messages.
    FRAME_TOO_LARGE: Final = "frame_too_large"
    FRAME_TIMEOUT: Final = "frame_timeout"
    TOO_MANY_CONNECTIONS: Final = "too_many_connections"
    BODY_TOO_LARGE: Final = "body_too_large"
    CHUNK_OVER_HTTP: Final = "chunk_over_http"
    BODY_TIMEOUT: Final = "body_timeout"
    UNAUTHORIZED: Final = "unauthorized"


class GelfError(Exception):
    """Bad input: the message (or datagram) is dropped, the stream goes on."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ChunkError(GelfError):
    """A chunk that cannot be part of any message: header facts included for the log line."""

    def __init__(
        self,
        reason: str,
        detail: str = "",
        *,
        message_id: bytes = b"",
        sequence: int | None = None,
        count: int | None = None,
    ) -> None:
        super().__init__(reason, detail)
        self.message_id = message_id
        self.sequence = sequence
        self.count = count


class PayloadError(GelfError):
    """Compressed data that does not decompress within its bounds."""


class DecodeError(GelfError):
    """A complete payload that is not a GELF message."""


class RequestRefused(GelfError):
    """A whole request refused: its body is not what its format says (an OTLP listener answers 400)."""


class RecordsRefused(GelfError):
    """``count`` records of a request refused one by one for ``reason``, the rest taken (OTLP's partial
    success)."""

    def __init__(self, reason: str, detail: str = "", count: int = 1) -> None:
        super().__init__(reason, detail)
        self.count = count
