import pytest

from gelfingest.core.framing import Deframer


def frames_of(d: Deframer, *pieces: bytes) -> list[bytes]:
    out: list[bytes] = []
    for p in pieces:
        out += d.feed(p)
    return out


def test_whole_stream() -> None:
    assert Deframer().feed(b'{"a":1}\x00{"b":2}\x00') == [b'{"a":1}', b'{"b":2}']


def test_one_byte_at_a_time() -> None:
    stream = b'{"a":1}\x00{"b":2}\x00{"c":3}\x00'
    d = Deframer()
    assert frames_of(d, *[bytes([b]) for b in stream]) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    assert d.buffered == 0


def test_trailing_partial_frame_waits_and_is_returned_at_close() -> None:
    d = Deframer()
    assert d.feed(b'{"a":1}\x00{"b"') == [b'{"a":1}']
    assert d.feed(b":2}") == []
    assert d.close() == b'{"b":2}'


def test_empty_frames_are_skipped() -> None:
    assert Deframer().feed(b"\x00\x00 \x00{}\x00") == [b"{}"]


@pytest.mark.parametrize(("framing", "stream", "frames"), [
    ("newline", b'{"a":1}\n{"b":2}\r\n', [b'{"a":1}', b'{"b":2}\r']),
    ("auto", b'{"a":1}\n{"b":2}\x00{"c":3}\n', [b'{"a":1}', b'{"b":2}', b'{"c":3}']),
    ("nul", b'{"a":\n1}\x00', [b'{"a":\n1}']),
])
def test_framings(framing: str, stream: bytes, frames: list[bytes]) -> None:
    assert Deframer(framing).feed(stream) == frames  # type: ignore[arg-type]


def test_an_oversize_frame_between_good_ones_is_skipped_and_counted() -> None:
    d = Deframer(max_frame=100)
    good = b'{"short_message":"x"}'
    stream = good + b"\x00" + b"y" * 1000 + b"\x00" + good + b"\x00"
    assert frames_of(d, *[stream[i : i + 37] for i in range(0, len(stream), 37)]) == [good, good]
    assert d.oversize == 1
    assert d.buffered == 0


def test_an_endless_frame_never_grows_the_buffer_past_the_cap() -> None:
    d = Deframer(max_frame=1000)
    for _ in range(10_000):
        assert d.feed(b"z" * 512) == []
        assert d.buffered <= 1000 + 512
    assert d.oversize == 1
    assert d.feed(b"tail\x00{}\x00") == [b"{}"]
    assert d.close() is None
