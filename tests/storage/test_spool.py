"""The spool on disk: records written and read back in order, segments deleted when delivered, torn
records found and skipped at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gelfingest.core.batch import Batch
from gelfingest.core.bulk import BulkEncoder, id_sequence
from gelfingest.storage.spool import HEADER, Spool, scan, split_items
from tests.helpers import encode


def batch(first: int, n: int) -> Batch:
    enc = BulkEncoder("logs", id_prefix="p-")
    items = [encode(enc, {"message": f"line {i}\nwith a newline", "sequence": i}, 0) for i in range(first, first + n)]
    return Batch(items=items, size=sum(map(len, items)))


def sequences(b: Batch) -> list[int]:
    return [id_sequence(item.split(b'"_id":"')[1].split(b'"')[0].decode(), "p-") for item in b.items]


def test_written_batches_come_back_in_order_and_their_segments_go_when_acked(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=300)
    assert spool.open() == []
    for k in range(5):
        assert spool.append(batch(k * 10, 10))
    assert spool.unread_events == 50 and len(list(tmp_path.glob("*.seg"))) > 1
    read = [spool.read() for _ in range(5)]
    assert spool.read() is None
    assert [sequences(b) for b in read if b] == [list(range(k * 10, k * 10 + 10)) for k in range(5)]
    assert read[0] is not None and read[0].items == batch(0, 10).items
    for b in read:
        assert b is not None
        spool.ack(b)
    assert spool.bytes == 0 and spool.held_events == 0
    assert list(tmp_path.glob("*.seg")) == []


def test_a_claimed_batch_is_kept_only_for_a_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    b = batch(0, 3)
    assert spool.append(b, claimed=True)
    assert spool.read() is None and spool.held_events == 3 and spool.holds(b)
    # The process dies before the output is done: the next start reads it back.
    again = Spool(tmp_path)
    assert again.open() == [] and again.unread_events == 3
    spool.ack(b)
    assert not spool.holds(b) and spool.held_events == 0


def test_a_torn_last_record_is_reported_and_the_good_ones_are_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    for k in range(3):
        spool.append(batch(k * 10, 10))
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # a crash in the middle of the last write
    again = Spool(tmp_path)
    (torn,) = again.open()
    assert torn.path == segment and torn.skipped > 0 and "cut short" in torn.why
    assert again.unread_events == 20 and again.torn_records == 1
    got = [again.read(), again.read(), again.read()]
    assert got[2] is None and [sequences(b)[0] for b in got[:2] if b] == [0, 10]


@pytest.mark.parametrize("damage", ["flip", "garbage", "header"])
def test_scan_stops_at_damage(damage: str) -> None:
    import zstandard

    from gelfingest.storage.spool import encode_record
    c = zstandard.ZstdCompressor()
    good = encode_record(batch(0, 2).body(), 2, c)
    data = bytearray(good * 2)
    if damage == "flip":
        data[len(good) + HEADER.size + 3] ^= 0xFF
    elif damage == "garbage":
        data[len(good):] = b"x" * len(good)
    else:
        data = data[:len(good) + 5]
    records, stop = scan(bytes(data))
    assert len(records) == 1 and stop is not None and stop[0] == len(good)


def test_a_full_spool_refuses_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=250)
    spool.open()
    assert spool.append(batch(0, 5))
    assert not spool.append(batch(5, 500))
    assert spool.refused_events == 500 and spool.unread_events == 5


def test_split_items_refuses_a_body_that_does_not_match_its_count() -> None:
    body = batch(0, 2).body()
    assert len(split_items(body, 2)) == 2
    with pytest.raises(ValueError):
        split_items(body, 3)


def test_a_gone_workers_segments_are_adopted(tmp_path: Path) -> None:
    other = Spool(tmp_path / "1")
    other.open()
    other.append(batch(0, 4))
    other.close()
    mine = Spool(tmp_path / "0")
    mine.open()
    mine.append(batch(100, 1))
    mine.close()
    spool = Spool(tmp_path / "0")
    assert spool.adopt(tmp_path / "1") == 1
    spool.open()
    assert spool.unread_events == 5 and not (tmp_path / "1").exists()
