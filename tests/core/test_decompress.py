import gzip
import zlib

import pytest

from gelfingest.core.decompress import PayloadKind, decompress, payload_kind
from gelfingest.core.errors import GelfError, Reason
from tests.helpers import gelf


@pytest.mark.parametrize("level", range(0, 10))
def test_zlib_every_level_is_recognised(level: int) -> None:
    data = zlib.compress(gelf(), level)
    assert payload_kind(data) is PayloadKind.ZLIB
    assert decompress(data) == gelf()


def test_docker_zlib_level_1_starts_78_01() -> None:
    data = zlib.compress(gelf(), 1)
    assert data[:2] == b"\x78\x01"
    assert payload_kind(data) is PayloadKind.ZLIB


def test_zlib_with_a_small_window_is_recognised() -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, 9)
    data = c.compress(gelf()) + c.flush()
    assert data[0] != 0x78
    assert payload_kind(data) is PayloadKind.ZLIB
    assert decompress(data) == gelf()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip(level: int) -> None:
    data = gzip.compress(gelf(), level)
    assert payload_kind(data) is PayloadKind.GZIP
    assert decompress(data) == gelf()


def test_plain_and_chunk_kinds() -> None:
    assert payload_kind(gelf()) is PayloadKind.PLAIN
    assert payload_kind(b"  {}") is PayloadKind.PLAIN
    assert payload_kind(b"x") is PayloadKind.PLAIN
    assert payload_kind(b"\x1e\x0f" + bytes(10)) is PayloadKind.CHUNKED
    # 78 but a bad check sum: not zlib, taken as plain (and will fail JSON decoding later).
    assert payload_kind(b"\x78\x00abc") is PayloadKind.PLAIN


def _bomb(kind: str, size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if kind == "gzip" else 15)
    block = bytes(1 << 20)
    return b"".join(c.compress(block) for _ in range(size >> 20)) + c.flush()


@pytest.mark.parametrize("kind", ["gzip", "zlib"])
def test_bomb_is_rejected_not_truncated(kind: str) -> None:
    bomb = _bomb(kind, 64 << 20)
    assert len(bomb) < 100_000
    with pytest.raises(GelfError) as info:
        decompress(bomb, max_size=8 << 20)
    assert info.value.reason == Reason.DECOMPRESSED_TOO_LARGE


def test_exactly_at_the_cap_is_accepted() -> None:
    data = b"a" * 1000
    assert decompress(zlib.compress(data), max_size=1000) == data
    with pytest.raises(GelfError) as info:
        decompress(zlib.compress(data), max_size=999)
    assert info.value.reason == Reason.DECOMPRESSED_TOO_LARGE


def test_plain_over_the_cap() -> None:
    with pytest.raises(GelfError) as info:
        decompress(b"{" + b" " * 100 + b"}", max_size=50)
    assert info.value.reason == Reason.TOO_LARGE


@pytest.mark.parametrize("kind", ["gzip", "zlib"])
def test_truncated(kind: str) -> None:
    data = gzip.compress(gelf()) if kind == "gzip" else zlib.compress(gelf())
    with pytest.raises(GelfError) as info:
        decompress(data[: len(data) // 2])
    assert info.value.reason == Reason.COMPRESSED_TRUNCATED


def test_corrupt() -> None:
    data = bytearray(zlib.compress(gelf() * 5))
    data[5:15] = b"\xff" * 10
    with pytest.raises(GelfError) as info:
        decompress(bytes(data))
    assert info.value.reason in (Reason.COMPRESSED_CORRUPT, Reason.COMPRESSED_TRUNCATED)


def test_trailing_bytes_after_the_stream() -> None:
    with pytest.raises(GelfError) as info:
        decompress(zlib.compress(gelf()) + b"\0\0")
    assert info.value.reason == Reason.COMPRESSED_TRAILING_DATA


def test_a_chunk_inside_a_message_is_rejected() -> None:
    with pytest.raises(GelfError) as info:
        decompress(b"\x1e\x0f" + bytes(20))
    assert info.value.reason == Reason.CHUNK_NESTED
