import pytest

from gelfingest.sequence import MAX_SEQUENCE, Sequencer, check_sequence_settings


@pytest.mark.parametrize(("seed", "iterator"), [(1, 1), (1, 2), (2, 2), (0, 5), (7, 3)])
def test_seed_plus_n_times_iterator(seed: int, iterator: int) -> None:
    s = Sequencer(seed, iterator)
    got = [s.stamp({}) for _ in range(100)]
    assert got == [seed + n * iterator for n in range(100)]
    assert s.issued == 100


def test_stamps_the_document() -> None:
    doc: dict = {}
    Sequencer(5, 2).stamp(doc)
    assert doc == {"sequence": 5}


def test_two_instances_interleave_without_overlap() -> None:
    a, b = Sequencer(1, 2), Sequencer(2, 2)
    odd = {a.stamp({}) for _ in range(1000)}
    even = {b.stamp({}) for _ in range(1000)}
    assert not odd & even
    assert sorted(odd | even) == list(range(1, 2001))


@pytest.mark.parametrize(("seed", "iterator", "name"), [(-1, 1, "SEQUENCE_SEED"), (1, 0, "SEQUENCE_ITERATOR"),
                                                        (1, -2, "SEQUENCE_ITERATOR"),
                                                        (MAX_SEQUENCE, 1, "SEQUENCE_SEED")])
def test_bad_settings_name_the_variable(seed: int, iterator: int, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        check_sequence_settings(seed, iterator)
