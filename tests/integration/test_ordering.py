"""Ordering across two instances behind nginx round robin (benchmarks/ordering.py, at a smaller scale).

Counter mode orders perfectly while the balancer alternates and nothing is lost, but a restarted instance
jumps ahead to its reserved block and its lines sort after everyone else's; clock mode follows the receive
time through the restart.
"""

from __future__ import annotations

import pytest

from benchmarks.ordering import inversions, run

pytestmark = pytest.mark.integration


def test_inversion_counter() -> None:
    assert inversions([0, 1, 2, 3]) == 0
    assert inversions([3, 2, 1, 0]) == 6
    assert inversions([1, 0, 3, 2]) == 2


def test_clock_mode_survives_a_restart_that_counter_mode_does_not() -> None:
    results = {(mode, condition): run(mode, condition, lines=4000, burst=40)
               for mode in ("counter", "clock") for condition in ("as is", "restart")}
    for r in results.values():
        assert r["sequences_unique"], r
        assert r["lines_received"] >= 3000, r  # the restarted instance misses a few during its restart
    counter_restart = results["counter", "restart"]["pairs_out_of_order"]
    clock_restart = results["clock", "restart"]["pairs_out_of_order"]
    assert counter_restart > 1000, results
    assert clock_restart * 10 < counter_restart, results
    assert results["clock", "as is"]["pairs_out_of_order"] * 10 < counter_restart, results
