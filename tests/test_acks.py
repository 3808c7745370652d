"""Durable HTTP answers (acks.py) over the real hand-over and spool: an answer goes only once every event
taken before it is finished by the output or synced to the spool; at the deadline what is not is spooled;
when the spool cannot take it the answer is a refusal, and a request the spool could not take is not taken.

The output is a stand-in whose sends wait for a gate (tests/helpers.py); the core and the spool are real.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from gelfingest.acks import Acks
from gelfingest.core.batch import Batch
from gelfingest.core.event import Event
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.handover import Handover
from gelfingest.storage.spool import Spool
from tests.helpers import GatedOutput, chunk, gelf
from tests.test_handover import Inputs
from tests.test_server import gated_server


def setup(tmp_path: Path, *, concurrency: int = 1, spool_after: float = 60, spool_max_bytes: int = 1 << 30,
          timeout: float = 60, **settings: object) -> tuple[GatedOutput, Handover, Ingest, Acks]:
    output = GatedOutput()
    inputs = Inputs()
    h = Handover(output, Spool(tmp_path / "spool", spool_max_bytes), queue_batches=4, queue_max_bytes=1 << 30,
                 concurrency=concurrency, spool_after=spool_after, pause=inputs.pause, resume=inputs.resume)
    ingest = Ingest(IngestSettings(**settings))  # type: ignore[arg-type]
    return output, h, ingest, Acks(h, ingest, timeout)


def take(ingest: Ingest, h: Handover, *texts: str) -> None:
    """What server.take does with one HTTP request's messages: the core, then the hand-over."""
    ready, rejected = ingest.take_many([gelf(t) for t in texts], ["10.0.0.1"] * len(texts), time.time())
    assert not rejected
    for b in ready:
        h.hand_over(b)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_an_answer_waits_for_the_output_and_requests_meanwhile_share_one_batch(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path)
        h.start()
        take(ingest, h, "first")
        first = acks.durable(time.time(), True)
        await settle()
        # The batch being filled went at once (the sender was idle); the answer waits for the output.
        assert h.serial == 1 and not first.done() and h.durable_through == 0
        # Two more requests while the only sender is busy: they wait in the batch being filled.
        take(ingest, h, "second")
        second = acks.durable(time.time(), True)
        take(ingest, h, "third", "fourth")
        third = acks.durable(time.time(), True)
        await settle()
        assert h.serial == 1 and not second.done()
        output.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second, third), 5)
        # The first batch's end freed the sender: the two waiting requests went in one batch.
        assert h.serial == 2 and output.received == [1, 2, 3, 4]
        assert first.result() and second.result() and third.result()
        assert acks.outcomes == {"durable": 3} and acks.waiting == 0
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_with_a_delay_requests_share_a_batch_though_a_sender_is_idle(tmp_path: Path) -> None:
    """--http-ack-delay: the batch an answer waits on waits that long for more requests, so Elasticsearch gets
    one bulk request for them, not one each."""
    async def scenario() -> None:
        output, h, ingest, _ = setup(tmp_path)
        output.gate.set()
        h.start()
        acks = Acks(h, ingest, 60, delay=0.1)
        started = time.monotonic()
        answers = []
        for n in range(3):
            take(ingest, h, f"line {n}")
            answers.append(acks.durable(time.time(), True))
            await asyncio.sleep(0.02)
        assert h.serial == 0 and not any(a.done() for a in answers)  # the sender is idle, the batch waits
        await asyncio.wait_for(asyncio.gather(*answers), 5)
        assert h.serial == 1 and output.received == [1, 2, 3] and time.monotonic() - started >= 0.1
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_at_the_deadline_what_the_output_holds_is_spooled_and_the_answer_goes(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, timeout=0.2)
        h.start()
        take(ingest, h, "a", "b")
        answer = acks.durable(time.time(), True)
        await settle()
        assert not answer.done() and h.spool.written_events == 0
        await asyncio.sleep(0.25)
        acks.tick(time.monotonic())
        # A copy is on disk (synced); the output still has the batch and goes on with it.
        assert answer.done() and answer.result() and acks.outcomes == {"spooled": 1}
        assert h.spool.written_events == 2 and h.spool.held_events == 2 and h.durable_through == 1
        output.gate.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if output.indexed == 2:
                break
        assert output.received == [1, 2] and h.spool.held_events == 0  # the copy went once it was indexed
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_while_spooling_an_answer_goes_once_its_batch_is_on_disk(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, spool_after=0.0)
        output.down_since = time.monotonic() - 1
        h.start()
        h.tick(time.monotonic())
        assert h.spooling
        for n in range(3):
            take(ingest, h, f"line {n}")
        answers = [acks.durable(time.time(), True)]
        take(ingest, h, "last")
        answers.append(acks.durable(time.time(), True))
        await asyncio.wait_for(asyncio.gather(*answers), 5)
        # One record (one fsync) for everything read in that turn of the loop.
        assert h.spool.written_events == 4 and h.serial == 1 and all(a.result() for a in answers)
        await h.drain(0.1, lambda: False)

    asyncio.run(scenario())


def test_a_request_the_spool_could_not_take_is_not_taken(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, spool_max_bytes=4096)
        h.start()
        assert acks.room_for(1000)
        take(ingest, h, "x" * 1500)
        answer = acks.durable(time.time(), True)
        await settle()
        # In memory, not durable yet: the spool must keep room for it before taking more.
        assert h.volatile_bytes > 1500 and not acks.room_for(4096 - h.volatile_bytes + 1)
        assert acks.room_for(4096 - h.volatile_bytes)
        output.gate.set()
        await asyncio.wait_for(answer, 5)
        assert h.volatile_bytes == 0 and acks.room_for(4096)
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_when_the_spool_refuses_at_the_deadline_the_answer_is_a_refusal(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, timeout=0.05)
        h.start()
        take(ingest, h, "a")
        answer = acks.durable(time.time(), True)
        await settle()
        h.spool.max_bytes = 0  # the disk is full
        await asyncio.sleep(0.06)
        acks.tick(time.monotonic())
        assert answer.done() and answer.result() is False and acks.outcomes == {"refused": 1}
        output.gate.set()
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_an_answer_waits_until_the_streams_let_go_of_its_lines(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, multiline=("java",))
        output.gate.set()
        h.start()
        take(ingest, h, "Exception in thread main java.lang.IllegalStateException: boom")
        answer = acks.durable(time.time(), True)
        await settle()
        # The trace may go on in the next request: its first line is held, and so is the answer.
        assert not answer.done() and ingest.held_since() is not None
        take(ingest, h, "\tat com.example.Main.main(Main.java:5)")
        second = acks.durable(time.time(), True)
        await asyncio.sleep(0.05)
        assert not answer.done()
        # The multiline timeout lets the trace go (the daemon's tick); both answers follow it.
        for later in (time.time() + 5, time.time() + 10):  # out of the reorder window, then past the timeout
            for b in ingest.tick(later):
                h.hand_over(b)
            acks.tick(time.monotonic())
        await asyncio.wait_for(asyncio.gather(answer, second), 5)
        assert output.indexed == 1 and answer.result() and second.result()
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_at_shutdown_answers_come_as_the_output_indexes_and_the_rest_is_spooled_once_the_inputs_close(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, timeout=0.3)
        h.start()
        take(ingest, h, "a")
        first = acks.durable(time.time(), True)
        await settle()
        take(ingest, h, "b")
        second = acks.durable(time.time(), True)
        acks.close()  # the daemon's timer has stopped; the inputs are closing
        # The batch being filled went at once; nothing is spooled while the output may still index it.
        assert h.serial == 2 and not first.done() and h.spool.written_events == 0
        output.gate.set()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert first.result() and second.result() and h.spool.written_events == 0
        # The output stops taking: the deadline is kept without the timer, by spooling.
        output.gate.clear()
        take(ingest, h, "c")
        third = acks.durable(time.time(), True)
        await asyncio.wait_for(third, 5)
        assert third.result() and h.spool.written_events == 1 and acks.outcomes["spooled"] == 1
        # Once the inputs are closed, what still waits is made durable at once.
        take(ingest, h, "d")
        fourth = acks.durable(time.time(), True)
        await acks.stop()
        assert fourth.result() and h.spool.written_events == 2
        await h.drain(0.1, lambda: False)

    asyncio.run(scenario())


def test_a_batch_read_back_from_the_spool_is_not_waited_for_and_frees_a_sender(tmp_path: Path) -> None:
    async def scenario() -> None:
        _, h, ingest, _ = setup(tmp_path)
        calls: list[int] = []
        h.on_durable = calls.append
        h.spool.open()
        back = Batch(items=[b'{"create":{}}\n{"sequence":1}\n'], size=29)
        assert h.spool.append(back)
        read = h.spool.read()
        assert read is not None and read.serial == 0
        take(ingest, h, "a")
        h.hand_over(ingest.flush_batch())  # type: ignore[arg-type]
        assert h.durable_through == 0 and h.volatile_bytes > 0
        h._done(read)  # the output is done with the batch read back
        # Not one of ours: nothing waits on it, but a sender is free, which is said.
        assert h.durable_through == 0 and calls == [0] and len(h._volatile) == 1

    asyncio.run(scenario())


def test_events_forwarded_by_another_worker_do_not_hold_an_answer(tmp_path: Path) -> None:
    """Events of a stream this worker owns, forwarded by another (they carry no receive time of ours), sit in
    the reorder window; the answer to a request of ours does not wait for them."""
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, multiline=("java",))
        output.gate.set()
        h.start()
        now = time.time()
        doc = {"message": "forwarded", "host": "elsewhere", "container_id": "c1", "@timestamp": "x"}
        for b in ingest.take_events([("c1", Event(doc, int(now), 7, now))], now, received_here=False):
            h.hand_over(b)
        assert ingest.held_since() is None  # held, but taken elsewhere
        take(ingest, h, "ours")
        answer = acks.durable(time.time(), True)
        for later in (time.time() + 5, time.time() + 10):
            for b in ingest.tick(later):
                h.hand_over(b)
            acks.tick(time.monotonic())
        await asyncio.wait_for(answer, 5)
        assert answer.result()
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_a_line_taken_before_the_first_of_its_group_holds_the_group(tmp_path: Path) -> None:
    """A chunked message is received when its first chunk comes and taken when its last does: a line taken
    in between sorts after it and joins its group, though it was taken earlier. What the streams hold is
    dated by the earliest of its lines, so an answer waiting on that line waits for the group."""
    _, _, ingest, _ = setup(tmp_path, multiline=("java",))
    t0 = 1_800_000_000.0
    head = gelf("Exception in thread main java.lang.IllegalStateException: boom " + "x" * 2000,
                _container_id="c1")
    first_chunk, last_chunk = chunk(head, size=1408)
    line = gelf("\tat com.example.Main.main(Main.java:5)", _container_id="c1")
    ingest.take_many([first_chunk], ["10.0.0.1"], t0, stamps=[t0])
    ingest.take_many([line], ["10.0.0.1"], t0 + 0.01, stamps=[t0 + 0.01])
    ingest.take_many([last_chunk], ["10.0.0.1"], t0 + 0.02, stamps=[t0 + 0.02])
    ingest.tick(t0 + 0.5)  # out of the reorder window (in order: the trace's head, then the line)
    assert ingest.streams is not None and ingest.streams.pending_streams == 1
    assert ingest.held_since() == t0 + 0.01


def test_an_otlp_answer_does_not_wait_for_lines_the_streams_hold(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, acks = setup(tmp_path, multiline=("java",))
        output.gate.set()
        h.start()
        take(ingest, h, "Exception in thread main java.lang.IllegalStateException: held")
        gelf_answer = acks.durable(time.time(), True)
        ready, _ = ingest.otlp(b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"o"}}]}]}]}',
                               "json", "10.0.0.2", time.time())
        for b in ready:
            h.hand_over(b)
        otlp_answer = acks.durable(time.time(), False)
        await asyncio.wait_for(otlp_answer, 5)
        assert otlp_answer.result() and not gelf_answer.done()
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_at_shutdown_the_streams_let_go_of_the_lines_an_answer_waits_for(tmp_path: Path) -> None:
    async def scenario() -> None:
        output, h, ingest, _ = setup(tmp_path, multiline=("java",))
        output.gate.set()
        h.start()

        def release() -> None:
            last = ingest.flush()
            if last is not None:
                h.hand_over(last)

        acks = Acks(h, ingest, 0.1, release)
        take(ingest, h, "Exception in thread main java.lang.IllegalStateException: at the stop")
        answer = acks.durable(time.time(), True)
        acks.close()  # the daemon's timer has stopped: the streams would hold the line for ever
        await asyncio.wait_for(answer, 5)
        assert answer.result() and output.indexed == 1
        await acks.stop()
        await h.drain(1.0, lambda: False)

    asyncio.run(scenario())


def test_a_request_the_spool_could_not_take_is_taken_back_whole(tmp_path: Path) -> None:
    """While the only sender is busy, requests fill the next batch; once the spool could not take what is in
    memory, the next request is taken back whole (503): nothing of it is indexed, later or ever."""
    async def scenario() -> None:
        server, output = await gated_server(16, tmp_path, "--http", "127.0.0.1:0", "--spool-max-bytes", "48KiB",
                                            "--batch-max-docs", "1000")
        answers, admitted, refused = [], 0, 0
        for n in range(40):
            message = gelf(os.urandom(1500).hex(), _n=n)  # 3 KB that do not compress
            if not server.admits(len(message)):
                refused += 1
                continue
            server.begin_request()
            assert server.take("gelf", "message", [message], ["10.0.0.1"], time.time()) == []
            if not server.end_request():
                refused += 1
                continue
            admitted += 1
            answer = server.durable(time.time(), True)
            assert answer is not None
            answers.append(answer)
            await asyncio.sleep(0)
        assert admitted >= 5 and refused >= 20
        output.gate.set()
        assert all(await asyncio.wait_for(asyncio.gather(*answers), 10))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if output.indexed == admitted:
                break
        await asyncio.sleep(0.3)  # a batch age later: nothing else comes
        assert output.indexed == admitted and server.acks is not None and server.acks.outcomes["refused"] == 0
        assert sorted(output.received) == sorted(output.received[:admitted])
        server.should_exit = True
        await server.shutdown()

    asyncio.run(scenario())


def test_a_gelf_chunk_in_an_http_body_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, _ = await gated_server(16, tmp_path)
        chunk = b"\x1e\x0f" + b"12345678" + b"\x00\x02" + b"part"
        [(err, _)] = server.take("gelf", "message", [chunk], ["10.0.0.1"], time.time())
        assert err.reason == "chunk_over_http"
        assert server.ingest.reassembler.pending_messages == 0
        server.should_exit = True
        await server.shutdown()

    asyncio.run(scenario())
