import pytest

from gelfingest.core.batch import Batcher
from tests.helpers import ItemByItem


def test_cut_by_count() -> None:
    b = ItemByItem(Batcher(max_docs=3, max_bytes=1 << 20, max_age=60))
    assert b.add(b"a", 0) is None
    assert b.add(b"b", 0) is None
    batch = b.add(b"c", 0)
    assert batch is not None and batch.items == [b"a", b"b", b"c"]
    assert b.pending == 0


def test_cut_by_bytes_never_exceeds_the_cap() -> None:
    b = ItemByItem(Batcher(max_docs=1000, max_bytes=10, max_age=60))
    out = [x for item in [b"aaaa", b"bbbb", b"cccc", b"dd"] if (x := b.add(item, 0))]
    assert [x.items for x in out] == [[b"aaaa", b"bbbb"]]
    rest = b.flush()
    assert rest is not None and rest.items == [b"cccc", b"dd"] and rest.size == 6


def test_exactly_at_the_byte_cap_goes_at_once() -> None:
    b = ItemByItem(Batcher(max_docs=1000, max_bytes=8, max_age=60))
    assert b.add(b"aaaa", 0) is None
    batch = b.add(b"bbbb", 0)
    assert batch is not None and batch.size == 8


def test_an_item_larger_than_the_cap_travels_alone() -> None:
    b = ItemByItem(Batcher(max_docs=1000, max_bytes=10, max_age=60))
    assert b.add(b"aa", 0) is None
    first = b.add(b"x" * 50, 0)
    assert first is not None and first.items == [b"aa"]
    second = b.add(b"bb", 0)
    assert second is not None and second.items == [b"x" * 50]
    tail = b.flush()
    assert tail is not None and tail.items == [b"bb"]


def test_cut_by_age_from_the_first_item() -> None:
    b = ItemByItem(Batcher(max_docs=1000, max_bytes=1 << 20, max_age=1.0))
    b.add(b"a", 10.0)
    b.add(b"b", 10.9)
    assert b.maybe_flush(10.99) is None
    batch = b.maybe_flush(11.0)
    assert batch is not None and batch.items == [b"a", b"b"] and batch.body() == b"ab"
    assert b.maybe_flush(20.0) is None
    assert b.flush() is None


def test_no_item_is_lost_or_reordered() -> None:
    b = ItemByItem(Batcher(max_docs=7, max_bytes=100, max_age=60))
    items = [bytes([65 + i % 26]) * (1 + i % 13) for i in range(1000)]
    out: list[bytes] = []
    for item in items:
        if (x := b.add(item, 0)) is not None:
            assert len(x) <= 7 and (x.size <= 100 or len(x) == 1)
            out.extend(x.items)
    if (x := b.flush()) is not None:
        out.extend(x.items)
    assert out == items


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Batcher(max_docs=0)


@pytest.mark.parametrize("sizes", [[4, 4, 4, 2], [1] * 7, [12, 1, 12, 12, 3], [5, 5, 10, 1]])
def test_adding_many_cuts_as_adding_one_by_one(sizes: list[int]) -> None:
    items = [bytes([97 + k]) * n for k, n in enumerate(sizes)]
    one, many = ItemByItem(Batcher(max_docs=3, max_bytes=10, max_age=60)), Batcher(max_docs=3, max_bytes=10, max_age=60)
    by_one = [x.items for item in items if (x := one.add(item, 0))]
    by_many = [x.items for x in many.add_many(items, 0)]
    # One by one, an item that fills a batch of its own as it starts it waits for the next add or flush.
    rest_one, rest_many = one.flush(), many.flush()
    assert by_one + ([rest_one.items] if rest_one else []) == by_many + ([rest_many.items] if rest_many else [])
    assert all(len(b) <= 3 and (sum(map(len, b)) <= 10 or len(b) == 1) for b in by_many)
