import random

import pytest

from gelfingest.core.sequence import (
    CLOCK_EPOCH,
    CLOCK_TICKS_PER_SECOND,
    COUNTER_BLOCK,
    MAX_SEQUENCE,
    Progression,
    SequenceMode,
    Sequencer,
    check_sequence_settings,
)
from tests.helpers import stamp

NOW = 1_763_900_000.0


def stamps(s: Sequencer, count: int, now: float = NOW) -> list[int]:
    return [stamp(s, {}, now) for _ in range(count)]


@pytest.mark.parametrize(("seed", "iterator"), [(1, 1), (1, 2), (2, 2), (0, 5), (7, 3)])
def test_seed_plus_n_times_iterator(seed: int, iterator: int) -> None:
    assert stamps(Sequencer(seed, iterator), 100) == [seed + n * iterator for n in range(100)]


def test_stamps_the_document() -> None:
    doc: dict = {}
    stamp(Sequencer(5, 2), doc, NOW)
    assert doc == {"sequence": 5}


def test_two_instances_interleave_without_overlap() -> None:
    odd, even = set(stamps(Sequencer(1, 2), 1000)), set(stamps(Sequencer(2, 2), 1000))
    assert not odd & even
    assert sorted(odd | even) == list(range(1, 2001))


def test_workers_split_the_instance_progression() -> None:
    # Instance seed 2, iterator 2, three workers: worker k stamps 2 + 2k + n*6.
    workers = [Sequencer(2, 2, worker=k, workers=3) for k in range(3)]
    got = [stamps(w, 50) for w in workers]
    assert got[1][:3] == [4, 10, 16]
    values = [v for g in got for v in g]
    assert len(set(values)) == 150
    assert sorted(values) == [2 + 2 * m for m in range(150)]  # still seed + m*iterator, no gap
    # ... and never meets the other instance (seed 1, iterator 2, two workers).
    other = [v for k in range(2) for v in stamps(Sequencer(1, 2, worker=k, workers=2), 100)]
    assert not set(values) & set(other)


def test_progression_first_n_from() -> None:
    p = Progression(3, 4)  # 3, 7, 11, ...
    assert [p.first_n_from(b) for b in (0, 3, 4, 7, 8, 11)] == [0, 0, 1, 1, 2, 2]


def test_reserves_before_use_and_restarts_above_every_reservation() -> None:
    reserved: list[int] = []
    s = Sequencer(1, 2, worker=0, workers=2, reserve=reserved.append)
    values = stamps(s, COUNTER_BLOCK + 10)
    assert len(reserved) == 2
    assert all(v < reserved[-1] for v in values)
    assert values[COUNTER_BLOCK - 1] < reserved[0] <= values[COUNTER_BLOCK]
    # A crash now: the next start, even as another worker or with another worker count, is above.
    for worker, workers in [(0, 2), (1, 2), (2, 3)]:
        again = Sequencer(1, 2, worker=worker, workers=workers, start_above=max(reserved))
        new = stamps(again, 1000)
        assert min(new) >= max(reserved) and not set(new) & set(values)
        assert all((v - 1) % 2 == 0 for v in new)


def test_clock_mode_follows_receive_time_and_never_goes_back() -> None:
    s = Sequencer(1, 2, worker=1, workers=2, mode="clock", now=NOW)
    a = stamp(s, {}, NOW)
    b = stamp(s, {}, NOW)  # same tick: n_prev + 1
    c = stamp(s, {}, NOW + 1.0)  # one second later: 100k ticks on
    d = stamp(s, {}, NOW - 10.0)  # the clock stepped back: still increasing
    ticks = int((NOW - CLOCK_EPOCH) * CLOCK_TICKS_PER_SECOND)
    assert a == 1 + 2 + ticks * 4
    assert b == a + 4
    assert c == 1 + 2 + (ticks + CLOCK_TICKS_PER_SECOND) * 4
    assert d == c + 4


def test_clock_mode_two_workers_that_never_talk_order_by_time() -> None:
    w0 = Sequencer(1, 1, worker=0, workers=2, mode="clock", now=NOW)
    w1 = Sequencer(1, 1, worker=1, workers=2, mode="clock", now=NOW)
    events = [(NOW + i * 0.0001, i % 2) for i in range(1000)]
    values = [stamp((w0 if k == 0 else w1), {}, t) for t, k in events]
    assert values == sorted(values)
    assert len(set(values)) == 1000


def test_clock_mode_stays_below_2_53_for_30_years_at_the_largest_step() -> None:
    thirty_years = CLOCK_EPOCH + 30 * 365.25 * 86400 + 86400
    s = Sequencer(63, 64, mode="clock", now=thirty_years)
    assert stamp(s, {}, thirty_years) < MAX_SEQUENCE


@pytest.mark.parametrize(("seed", "iterator", "workers", "mode", "name"), [
    (-1, 1, 1, "counter", "SEQUENCE_SEED"), (1, 0, 1, "counter", "SEQUENCE_ITERATOR"),
    (1, -2, 1, "counter", "SEQUENCE_ITERATOR"), (MAX_SEQUENCE, 1, 1, "counter", "SEQUENCE_SEED"),
    (1, 1, 0, "counter", "GELFINGEST_WORKERS"), (1, 33, 2, "clock", "SEQUENCE_ITERATOR"),
])
def test_bad_settings_name_the_variable(seed: int, iterator: int, workers: int, mode: str, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        check_sequence_settings(seed, iterator, workers, mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["counter", "clock"])
def test_taking_many_at_once_hands_out_what_stamping_one_by_one_does(mode: SequenceMode) -> None:
    reserved: list[int] = []
    one = Sequencer(1, 2, worker=1, workers=3, mode=mode, now=NOW)
    many = Sequencer(1, 2, worker=1, workers=3, mode=mode, now=NOW, reserve=reserved.append)
    for k, count in enumerate([1, 511, 0, 3, COUNTER_BLOCK + 5, 2]):
        taken = list(many.take(count, NOW + k))
        assert taken == stamps(one, count, NOW + k)
        # Each value is below a bound reserved before it was handed out, a burst larger than a block too.
        assert not taken or max(reserved) > taken[-1]


@pytest.mark.parametrize("mode", ["counter", "clock"])
def test_taking_at_each_event_s_own_time_hands_out_what_one_at_a_time_does(mode: SequenceMode) -> None:
    """take_at (a burst whose datagrams carry their kernel receive times) against take(1, t) for each: the
    same values, each reserved before it is handed out."""
    reserved: list[int] = []
    one = Sequencer(2, 2, worker=0, workers=2, mode=mode, now=NOW)
    many = Sequencer(2, 2, worker=0, workers=2, mode=mode, now=NOW, reserve=reserved.append)
    times = [NOW + k * 3e-6 for k in range(400)] + [NOW + 1.0] * 3 + [NOW + 0.5] + [NOW + 2.0 + k for k in range(5)]
    for burst in (times[:1], times[1:300], [], times[300:], [t + 10 for t in times] * 40):
        taken = many.take_at(burst)
        assert taken == [one.take(1, t)[0] for t in burst]
        assert not taken or max(reserved) > taken[-1]


@pytest.mark.parametrize("spacing", [0.0, 1e-6, 9e-6, 1e-5, 1.1e-5, 3e-5])
def test_taking_at_bursts_of_any_spacing_hands_out_what_one_at_a_time_does(spacing: float) -> None:
    """Bursts whose datagrams came closer or further apart than a tick (10 us), with jitter and now and
    then out of order, a tick boundary straddled anywhere: the same values as take(1, t) for each."""
    rng = random.Random(int(spacing * 1e7))
    one = Sequencer(1, 3, mode="clock", now=NOW)
    many = Sequencer(1, 3, mode="clock", now=NOW)
    t = NOW
    for _ in range(300):
        burst = []
        for _ in range(rng.choice([1, 2, 7, 64])):
            t += spacing * rng.uniform(0.5, 1.5)
            burst.append(t - rng.uniform(0, 2e-5) if rng.random() < 0.05 else t)
        t += rng.choice([0.0, 1e-5, 1e-3])
        assert many.take_at(burst) == [one.take(1, at)[0] for at in burst]
