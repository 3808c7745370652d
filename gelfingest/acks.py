"""Durable answers for the HTTP inputs (``--http-ack durable``, the default).

A request to ``POST /gelf`` or ``POST /v1/logs`` is answered success only once every event taken before the
answer is durable: acknowledged by the output (indexed, already there, or in the dead-letter queue), or
written to the spool and synced. The hand-over numbers the batches it is given (handover.py); a waiting
answer is a ticket for the serial of the last batch that can hold its events, and it goes once
``durable_through`` reaches it.

- **Group commit.** A ticket's events are most often in the batch being filled. It is handed over once the
  first answer waiting on it has waited ``delay`` (``--http-ack-delay``, 50 ms, Logstash's
  pipeline.batch.delay) and a sender of the output is idle or the spool takes batches; the requests that
  come meanwhile share one bulk request (or one spool write and fsync). Elasticsearch pays about a
  millisecond of CPU for each bulk request whatever it holds: a bulk per request would cost it 3 to 25 times
  the CPU per document of the batches it gets otherwise (benchmarks/ack_latency.py).
- **Streams.** With a stream feature on (``--join-partial``, ``--multiline``, ``--stream-rate-limit``) the
  events of a GELF request may be held by their stream for a moment; the ticket waits until the streams
  hold nothing taken before it.
- **The deadline.** What is not durable within ``--http-ack-timeout`` is spooled then (copies of what the
  output holds; it goes on sending them), and the answer goes. When the spool cannot take it, the answer is
  503 with ``Retry-After``. A request is only taken when the spool could take it and everything in memory
  that is not durable yet (``Handover.room_for``), so this happens only when the disk refuses.
- **Shutdown.** From ``close`` on (the inputs are closing, the daemon's timer has stopped), the batch being
  filled goes at once and the deadline is kept by a task of its own, so the answers come as the output
  indexes the events (a clean stop spools nothing it need not); ``stop``, once the inputs are closed, makes
  durable whatever still waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gelfingest.metrics import Histogram

logger = logging.getLogger(__name__)

# How often the deadline is looked at during shutdown (the daemon's timer does it otherwise).
CLOSING_TICK = 0.05
# The loop's timers may fire this much early.
DELAY_SLACK = 0.002

if TYPE_CHECKING:
    from gelfingest.core.ingest import Ingest
    from gelfingest.handover import Handover
    from gelfingest.metrics import SnapshotBuilder


@dataclass(slots=True)
class _Ticket:
    taken: float  # time.time() when its request was taken: the streams must let go of what came before
    streams: bool  # its events went through the streams (GELF; OTLP records never do)
    started: float  # time.monotonic()
    future: asyncio.Future[bool]
    target: int = -1  # the serial of the last batch that can hold its events, once it is handed over


class Acks:
    def __init__(self, handover: Handover, ingest: Ingest, timeout: float,
                 release: Callable[[], None] = lambda: None, delay: float = 0.0) -> None:
        """``release``: at shutdown, let what the streams and the outbox hold go on (the daemon's tick, which
        does it otherwise, has stopped). ``delay``: how long the batch being filled waits for more requests."""
        self.handover = handover
        self.ingest = ingest
        self.timeout = timeout
        self.delay = delay
        self.release = release
        # Tickets whose events may still be in the core (the batch being filled, the streams), in order.
        self._unplaced: deque[_Ticket] = deque()
        # Tickets whose batches are handed over, by target (never decreasing).
        self._placed: deque[_Ticket] = deque()
        self._flush_due = False
        self._placing = False
        self._closing = False
        self._closing_task: asyncio.Task[None] | None = None
        # What an answer that goes now is counted as: "spooled" while the deadline spools batches.
        self._outcome = "durable"
        # Answers by outcome: durable (the output or the spool had them within the timeout), spooled (written
        # to the spool at the timeout), refused (the spool could not take them: 503).
        self.outcomes: Counter[str] = Counter()
        self.wait = Histogram()
        handover.on_durable = self._on_durable

    @property
    def waiting(self) -> int:
        return len(self._unplaced) + len(self._placed)

    def room_for(self, size: int) -> bool:
        """Whether a request of ``size`` bytes (as decompressed) is worth decoding: the spool could take that
        much besides what is in memory and not durable yet (the server checks its encoded events once taken)."""
        return self.handover.room_for(size + self.ingest.batcher.filling_bytes)

    def durable(self, taken: float, streams: bool) -> asyncio.Future[bool]:
        """A future that is True once everything taken up to now (``taken``: time.time()) is durable, and
        False when it cannot be made durable (the answer is then 503). ``streams``: wait for the streams to
        let go of what was taken up to then, too."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._unplaced.append(_Ticket(taken, streams, time.monotonic(), future))
        if not self._flush_due:
            # Every request read until then joins the same batch.
            self._flush_due = True
            asyncio.get_running_loop().call_later(self.delay, self._due)
        return future

    def _due(self) -> None:
        self._flush_due = False
        self._place()

    def _place(self, force: bool = False) -> None:
        """Give the tickets whose events have left the core their target, handing over the batch being filled
        when the output or the spool can take it now (or ``force``: the deadline, or shutdown)."""
        if not self._unplaced or self._placing:
            return
        force = force or self._closing
        held = self.ingest.held_since() if any(t.streams for t in self._unplaced) else None
        ready = [t for t in self._unplaced if not t.streams or held is None or held > t.taken]
        if not ready:
            return
        if self.ingest.batcher.filling:
            h = self.handover
            waited = time.monotonic() - ready[0].started >= self.delay - DELAY_SLACK
            if not (force or (waited and (h.spooling or h.shipper.idle))):
                return  # more requests join the batch: until the delay is over, or a sender is done
            batch = self.ingest.flush_batch()
            if batch is not None:
                self._placing = True  # handing over may spool it, and call back _on_durable
                try:
                    h.hand_over(batch)
                finally:
                    self._placing = False
        # A ticket still waiting for the streams stays, in order; the others get the serial of now, never
        # below a target given before, so the placed ones stay in order of their targets.
        target = self.handover.serial
        if len(ready) == len(self._unplaced):
            self._unplaced.clear()
        else:
            self._unplaced = deque(t for t in self._unplaced if t.streams and held is not None and held <= t.taken)
        for ticket in ready:
            ticket.target = target
            self._placed.append(ticket)
        self._on_durable(self.handover.durable_through)

    def _on_durable(self, through: int) -> None:
        placed = self._placed
        while placed and placed[0].target <= through:
            self._answer(placed.popleft(), True, self._outcome)
        if self._unplaced and not self._flush_due and not self._placing:
            self._place()  # a sender may be idle now

    def _answer(self, ticket: _Ticket, ok: bool, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.wait.observe(time.monotonic() - ticket.started)
        if not ticket.future.done():  # the request may have gone (the client hung up)
            ticket.future.set_result(ok)

    def tick(self, mono: float) -> None:
        """Place what the streams let go of; spool what has waited ``timeout``. ``mono``: time.monotonic()."""
        self._place()
        self._expire(mono - self.timeout)

    def _expire(self, started_before: float) -> None:
        """Tickets that started before ``started_before`` are made durable now, or refused."""
        if self._unplaced and self._unplaced[0].started <= started_before:
            self._place(force=True)
        placed = self._placed
        expired = [t.target for t in placed if t.started <= started_before]
        if not expired:
            return
        through = max(expired)
        self._outcome = "spooled"
        try:
            made = self.handover.make_durable(through)
        finally:
            self._outcome = "durable"
        while placed and placed[0].target <= through:
            ticket = placed.popleft()
            if made or ticket.target <= self.handover.durable_through:
                self._answer(ticket, True, "spooled")
            else:
                self._answer(ticket, False, "refused")

    def close(self) -> None:
        """At shutdown, before the inputs close: the answers go on coming without the daemon's timer."""
        self._closing = True
        self._place()
        self._closing_task = asyncio.get_running_loop().create_task(self._keep_deadline(), name="acks-closing")

    async def _keep_deadline(self) -> None:
        while True:
            await asyncio.sleep(CLOSING_TICK)
            try:
                self._settle(time.monotonic() - self.timeout)
            except Exception:  # the answers must still go: stop() settles them, whatever happened here
                logger.exception("durable answers at shutdown")

    def _settle(self, cut: float) -> None:
        """At shutdown: the answers that started before ``cut`` go now (the streams' lines they wait for are
        let go of as they stand), made durable or refused."""
        self._place()
        if self._unplaced and self._unplaced[0].started <= cut:
            self.release()
            self._place()
        self._expire(cut)
        while self._unplaced and self._unplaced[0].started <= cut:
            self._answer(self._unplaced.popleft(), False, "refused")

    async def stop(self) -> None:
        """The inputs are closed: whatever still waits is made durable now (or refused)."""
        if self._closing_task is not None:
            self._closing_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._closing_task
        self._closing = True
        try:
            self._settle(float("inf"))
        except Exception:
            logger.exception("durable answers at shutdown")
        for ticket in (*self._unplaced, *self._placed):
            self._answer(ticket, False, "refused")
        self._unplaced.clear()
        self._placed.clear()

    def report(self, b: SnapshotBuilder) -> None:
        for outcome in ("durable", "spooled", "refused"):
            b.counter("gelfingest_http_acks", "HTTP requests answered once their events were durable (durable: "
                      "the output or the spool had them in time; spooled: written to the spool at "
                      "--http-ack-timeout; refused: the spool could not take them, 503)", self.outcomes[outcome],
                      outcome=outcome)
        b.gauge("gelfingest_http_acks_waiting", "HTTP requests waiting for their events to be durable", self.waiting)
        b.histogram("gelfingest_http_ack_wait_seconds", "How long HTTP answers waited for their events to be "
                    "durable", self.wait)
