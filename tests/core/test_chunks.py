import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gelfingest.core.chunks import ChunkReassembler, parse_chunk_header
from gelfingest.core.errors import ChunkError, Reason
from tests.helpers import chunk

PAYLOAD = bytes(random.Random(1).randrange(256) for _ in range(10_000))


def feed(r: ChunkReassembler, chunks: list[bytes], now: float = 0.0) -> list[bytes]:
    return [m for c in chunks if (m := r.maybe_complete(c, now)) is not None]


def test_in_order() -> None:
    r = ChunkReassembler()
    assert feed(r, chunk(PAYLOAD)) == [PAYLOAD]
    assert r.pending_messages == 0 and r.pending_bytes == 0
    assert r.stats.completed == 1


def test_shuffled() -> None:
    parts = chunk(PAYLOAD, size=500)
    random.Random(7).shuffle(parts)
    assert feed(ChunkReassembler(), parts) == [PAYLOAD]


def test_duplicates_are_ignored_and_counted() -> None:
    parts = chunk(PAYLOAD, size=1000)
    r = ChunkReassembler()
    assert feed(r, parts[:3] + parts[:3] + parts[3:]) == [PAYLOAD]
    assert r.stats.duplicates == 3
    # A duplicate after completion is recognised as one, not the start of a message that never ends.
    assert feed(r, parts[:1]) == []
    assert r.stats.duplicates == 4 and r.pending_messages == 0
    # Once the timeout has passed, the id may be used again (ids are random; reuse is a new message).
    r.sweep(10.0)
    assert feed(r, parts, now=10.0) == [PAYLOAD]


def test_one_missing_never_completes_and_expires() -> None:
    parts = chunk(PAYLOAD, size=1000)
    r = ChunkReassembler(timeout=5.0)
    assert feed(r, parts[:-1], now=100.0) == []
    assert r.pending_messages == 1 and r.pending_bytes > 0
    assert r.sweep(104.9) == 0
    assert r.sweep(105.0) == 1
    assert r.pending_messages == 0 and r.pending_bytes == 0
    assert r.stats.expired == 1
    assert r.stats.dropped_bytes == sum(len(p) - 12 for p in parts[:-1])
    # The late last chunk is alone now, and waits for company that never comes.
    assert feed(r, parts[-1:], now=106.0) == []


def test_expiry_counts_from_the_first_chunk() -> None:
    parts = chunk(PAYLOAD, size=1000)
    r = ChunkReassembler(timeout=5.0)
    feed(r, parts[:1], now=0.0)
    feed(r, parts[1:2], now=4.0)
    assert r.sweep(5.0) == 1


def test_header_only_last_chunk() -> None:
    payload = b"x" * 2816  # exactly 2 * 1408: go-gelf adds an empty third chunk
    parts = chunk(payload)
    assert len(parts) == 3 and len(parts[-1]) == 12
    assert feed(ChunkReassembler(), parts) == [payload]
    assert feed(ChunkReassembler(), parts[::-1]) == [payload]


def test_count_of_one_completes_at_once() -> None:
    # graypy sends a message of exactly one datagram's size as a chunked message of one.
    (only,) = chunk(b"abc", size=1432)
    assert feed(ChunkReassembler(), [only]) == [b"abc"]


def test_interleaved_messages() -> None:
    a, b = chunk(PAYLOAD, 700), chunk(PAYLOAD[::-1], 700)
    mixed = [x for pair in zip(a, b, strict=True) for x in pair]
    assert feed(ChunkReassembler(), mixed) == [PAYLOAD, PAYLOAD[::-1]]


def header(message_id: bytes, seq: int, count: int) -> bytes:
    return b"\x1e\x0f" + message_id + struct.pack("BB", seq, count)


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\x1e\x0f", Reason.CHUNK_TOO_SHORT),
        (b"\x1e\x0f" + bytes(9), Reason.CHUNK_TOO_SHORT),
        (header(b"A" * 8, 0, 0), Reason.CHUNK_COUNT_INVALID),
        (header(b"A" * 8, 0, 129), Reason.CHUNK_COUNT_INVALID),
        (header(b"A" * 8, 3, 3), Reason.CHUNK_SEQUENCE_INVALID),
        (header(b"A" * 8, 200, 128), Reason.CHUNK_SEQUENCE_INVALID),
    ],
)
def test_bad_headers(datagram: bytes, reason: str) -> None:
    with pytest.raises(ChunkError) as info:
        ChunkReassembler().maybe_complete(datagram, 0.0)
    assert info.value.reason == reason


def test_128_chunks_is_the_maximum_accepted() -> None:
    assert parse_chunk_header(header(b"B" * 8, 127, 128)).count == 128


def test_count_must_agree_and_a_mismatch_spares_the_message() -> None:
    mid = b"C" * 8
    r = ChunkReassembler()
    assert r.maybe_complete(header(mid, 0, 2) + b"a", 0.0) is None
    with pytest.raises(ChunkError) as info:
        r.maybe_complete(header(mid, 1, 3) + b"b", 0.0)
    assert info.value.reason == Reason.CHUNK_COUNT_MISMATCH
    assert info.value.message_id == mid and info.value.count == 3
    assert r.maybe_complete(header(mid, 1, 2) + b"b", 0.0) == b"ab"


def test_message_cap_evicts_the_oldest() -> None:
    r = ChunkReassembler(max_pending_messages=3)
    firsts = [chunk(PAYLOAD, 1000, message_id=bytes([i]) * 8) for i in range(5)]
    for i, parts in enumerate(firsts):
        feed(r, parts[:1], now=float(i))
    assert r.pending_messages == 3
    assert r.stats.evicted == 2
    # The two oldest went; the newest three can still complete.
    assert feed(r, firsts[0][1:]) == []
    assert feed(r, firsts[4][1:]) == [PAYLOAD]


def test_byte_cap_evicts_the_oldest_but_not_the_message_being_built() -> None:
    r = ChunkReassembler(max_pending_bytes=5000)
    old = chunk(PAYLOAD, 1000, message_id=b"o" * 8)
    new = chunk(PAYLOAD, 1000, message_id=b"n" * 8)
    feed(r, old[:2])
    feed(r, new[:3])
    assert r.stats.evicted == 1
    assert r.pending_messages == 1
    assert r.pending_bytes <= 5000


def test_a_message_larger_than_the_byte_cap_is_dropped() -> None:
    r = ChunkReassembler(max_pending_bytes=3000)
    assert feed(r, chunk(PAYLOAD, 1000)) == []
    assert r.stats.evicted >= 1
    assert r.pending_bytes <= 3000


def test_random_id_flood_stays_bounded() -> None:
    r = ChunkReassembler(max_pending_messages=1000, max_pending_bytes=1 << 20)
    rng = random.Random(3)
    for i in range(20_000):
        r.maybe_complete(header(rng.randbytes(8), 0, 2) + rng.randbytes(rng.randrange(0, 1400)), i * 0.001)
    assert r.pending_messages <= 1000
    assert r.pending_bytes <= 1 << 20
    r.sweep(1000.0)
    assert r.pending_messages == 0 and r.pending_bytes == 0


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(min_size=0, max_size=5000),
    size=st.integers(min_value=1, max_value=1500),
    seed=st.integers(),
    dup_rate=st.floats(min_value=0, max_value=0.5),
)
def test_any_order_with_duplicates_completes_exactly_once(payload: bytes, size: int, seed: int,
                                                          dup_rate: float) -> None:
    parts = chunk(payload, size)
    if len(parts) > 128:
        return
    rng = random.Random(seed)
    stream = parts + [p for p in parts if rng.random() < dup_rate]
    rng.shuffle(stream)
    r = ChunkReassembler()
    assert feed(r, stream) == [payload]
    assert r.stats.duplicates == len(stream) - len(parts)
    assert r.pending_messages == 0
