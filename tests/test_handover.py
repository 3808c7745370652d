"""The hand-over on its own: queue, spool or wait, and pause the inputs only while nothing can take a batch.

The output is a stand-in whose sends wait for a gate and whose availability the test sets; the spool is
the real one, in a temporary folder.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from gelfingest.core.batch import Batch
from gelfingest.handover import Handover
from gelfingest.storage.spool import Spool, orphan_spools
from tests.helpers import GatedOutput as Output


class Inputs:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def batch(first: int, n: int = 10) -> Batch:
    items = [b'{"create":{"_index":"x","_id":"%d"}}\n{"sequence":%d}\n' % (i, i) for i in range(first, first + n)]
    return Batch(items=items, size=sum(map(len, items)))


def handover(tmp_path: Path, output: Output, inputs: Inputs, queue_batches: int = 2, spool_after: float = 0.05,
             spool_max_bytes: int = 1 << 30) -> Handover:
    return Handover(output, Spool(tmp_path / "spool" / "0", spool_max_bytes), queue_batches=queue_batches,
                    queue_max_bytes=1 << 30, concurrency=1, spool_after=spool_after, pause=inputs.pause,
                    resume=inputs.resume)


async def until(condition: Callable[[], bool], h: Handover, tries: int = 300) -> None:
    for _ in range(tries):
        await asyncio.sleep(0.01)
        h.tick(time.monotonic())
        if condition():
            return
    raise AssertionError("the condition never held")


def expected(*firsts: int) -> list[int]:
    return [n for first in firsts for n in range(first, first + 10)]


def test_while_the_output_keeps_up_batches_go_straight_to_it_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        output.gate.set()
        h = handover(tmp_path, output, inputs)
        h.start()
        for k in range(5):
            h.hand_over(batch(k * 10))
            await asyncio.sleep(0.01)
        await until(lambda: output.indexed == 50, h)
        assert output.received == expected(0, 10, 20, 30, 40)
        assert inputs.calls == [] and not h.spooling and h.spool.written_events == 0
        await h.drain(1.0, lambda: False)
        assert h.spooled_at_shutdown == h.lost_at_shutdown == 0

    asyncio.run(scenario())


def test_a_full_queue_pauses_the_inputs_once_and_resumes_them_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs, queue_batches=1, spool_after=60)
        h.start()
        for k in range(6):
            h.hand_over(batch(k * 10))
            await asyncio.sleep(0)
        # One in flight, one queued, the rest waits here; reading stopped once.
        assert inputs.calls == ["pause"] and h.is_full() and h.waiting_batches == 1 + 4
        assert h.waiting_events == 60 and h.volatile_events() == 60
        output.gate.set()
        await until(lambda: output.indexed == 60, h)
        assert inputs.calls == ["pause", "resume"] and not h.is_full()
        assert output.received == expected(0, 10, 20, 30, 40, 50)
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_an_unavailable_output_sends_new_batches_to_the_spool_then_gets_all_back_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs)
        h.start()
        h.hand_over(batch(0))
        await asyncio.sleep(0)
        output.down_since = time.monotonic() - 1.0
        h.tick(time.monotonic())
        assert h.spooling
        # The batch the output holds has a copy on disk; what comes now goes to the spool only.
        assert h.spool.held_events == 10 and h.spool.unread_events == 0
        for k in range(1, 4):
            h.hand_over(batch(k * 10))
        assert h.spool.unread_events == 30 and inputs.calls == []
        output.down_since = None
        output.gate.set()
        await until(lambda: output.indexed == 40 and not h.spooling, h)
        assert output.received == expected(0, 10, 20, 30)
        assert h.spool.held_events == 0 and h.spool.bytes == 0
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_spooling_ends_only_once_the_output_is_available_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        output.gate.set()
        h = handover(tmp_path, output, inputs)
        h.start()
        output.down_since = time.monotonic() - 1.0
        h.tick(time.monotonic())
        assert h.spooling
        h.tick(time.monotonic())
        assert h.spooling  # nothing is in the spool, but the output still says it is unavailable
        output.down_since = None
        h.tick(time.monotonic())
        assert not h.spooling
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_at_shutdown_what_an_unavailable_output_did_not_take_is_spooled_and_sent_at_the_next_start(
        tmp_path: Path) -> None:
    async def first() -> Handover:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs, spool_after=0.1)
        h.start()
        for k in range(4):
            h.hand_over(batch(k * 10))
        output.down_since = time.monotonic()
        await h.drain(5.0, lambda: False)
        return h

    started = time.monotonic()
    h = asyncio.run(first())
    assert time.monotonic() - started < 2.0  # not the whole deadline: the output was down
    assert h.spooled_at_shutdown == 40 and h.lost_at_shutdown == 0
    assert h.cut_short == "at shutdown: Elasticsearch is unavailable"

    async def second() -> list[int]:
        output, inputs = Output(), Inputs()
        output.gate.set()
        again = handover(tmp_path, output, inputs)
        again.start()
        assert again.spooling and again.spool.unread_events == 40
        await until(lambda: output.indexed == 40 and not again.spooling, again)
        await again.drain(1.0, lambda: False)
        return output.received

    assert sorted(asyncio.run(second())) == sorted(expected(0, 10, 20, 30))


def test_at_shutdown_what_neither_the_output_nor_a_full_spool_takes_is_counted_lost(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs, spool_max_bytes=1)
        h.start()
        h.hand_over(batch(0))
        h.hand_over(batch(10))
        await h.drain(0.2, lambda: False)
        assert h.cut_short == "within the 0.2 s shutdown deadline"
        assert h.lost_at_shutdown == 20 and h.spooled_at_shutdown == 0

    asyncio.run(scenario())


def test_a_second_signal_cuts_the_flush_short(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs)
        h.start()
        h.hand_over(batch(0))
        started = time.monotonic()
        await h.drain(30.0, lambda: True)
        assert time.monotonic() - started < 1.0
        assert h.cut_short == "before a second signal" and h.spooled_at_shutdown == 10

    asyncio.run(scenario())


def test_once_the_inputs_are_held_they_are_neither_paused_nor_resumed(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs, queue_batches=1, spool_after=60)
        h.start()
        h.hold_inputs()
        for k in range(4):
            h.hand_over(batch(k * 10))
            await asyncio.sleep(0)
        assert h.is_full() and inputs.calls == []
        output.gate.set()
        await until(lambda: output.indexed == 40, h)
        assert inputs.calls == []
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_the_spools_of_workers_that_no_longer_exist_are_adopted_by_the_first(tmp_path: Path) -> None:
    for worker in (0, 2, 3):
        spool = Spool(tmp_path / "spool" / str(worker))
        spool.open()
        assert spool.append(batch(worker * 100))
        spool.close()
    assert [p.name for p in orphan_spools(tmp_path / "spool", workers=2)] == ["2", "3"]

    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        output.gate.set()
        h = handover(tmp_path, output, inputs)
        h.start(orphan_spools(tmp_path / "spool", workers=2))
        await until(lambda: output.indexed == 30 and not h.spooling, h)
        assert output.received == expected(0, 200, 300)
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())
    assert orphan_spools(tmp_path / "spool", workers=2) == []


def test_pauses_of_the_inputs_are_counted_and_timed(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, inputs = Output(), Inputs()
        h = handover(tmp_path, output, inputs, queue_batches=1, spool_after=60)
        h.start()
        for k in range(4):
            h.hand_over(batch(k * 10))
        await asyncio.sleep(0.2)
        output.gate.set()
        await until(lambda: output.indexed == 40, h)
        assert h.pauses == 1 and 0.2 <= h.paused_seconds == h.longest_pause < 5
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())
