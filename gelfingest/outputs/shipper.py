"""The queue of batches in front of the output, and the tasks that send them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gelfingest.core.batch import Batch
from gelfingest.outputs import Output

logger = logging.getLogger(__name__)


class Shipper:
    """A queue of batches in front of the output, bounded in batches and in bytes, and the tasks that send
    them.

    ``on_done`` is called with each batch the output is finished with (delivered, already there, or in
    the dead-letter queue), so its spooled copy can go and a blocked input can go on.
    """

    def __init__(self, output: Output, max_batches: int, concurrency: int,
                 on_done: Callable[[Batch], None] | None = None, max_bytes: int = 1 << 62) -> None:
        self.output = output
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(max_batches)
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.concurrency = concurrency
        self.on_done = on_done
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: dict[int, Batch] = {}

    def queued(self) -> list[Batch]:
        return list(self.queue._queue)  # type: ignore[attr-defined]

    def in_flight(self) -> list[Batch]:
        return list(self._in_flight.values())

    @property
    def idle(self) -> bool:
        """Whether a sender is free and nothing is queued: a batch handed over now is sent at once."""
        return len(self._in_flight) < self.concurrency and self.queue.empty()

    @property
    def waiting_events(self) -> int:
        return sum(len(b) for b in self.queued()) + sum(len(b) for b in self._in_flight.values())

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(i), name=f"shipper-{i}") for i in range(self.concurrency)]

    async def _run(self, slot: int) -> None:
        while True:
            batch = await self.queue.get()
            self.queued_bytes -= batch.size
            self._in_flight[slot] = batch
            try:
                await self.output.send(batch)
            except asyncio.CancelledError:
                raise  # the batch stays in _in_flight: stop() hands it back to be spooled
            except Exception:
                logger.exception("Output %s failed on a batch of %d events", self.output.name, len(batch))
                self.output.failed += len(batch)
            del self._in_flight[slot]
            self.queue.task_done()
            if self.on_done is not None:
                self.on_done(batch)

    def try_submit(self, batch: Batch) -> bool:
        if self.queued_bytes + batch.size > self.max_bytes and not self.queue.empty():
            return False
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            return False
        self.queued_bytes += batch.size
        return True

    async def stop(self) -> list[Batch]:
        """Stop sending; return every batch the output has not finished with (in flight first, then queued)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        left = self.in_flight()
        self._in_flight.clear()
        while not self.queue.empty():
            left.append(self.queue.get_nowait())
            self.queue.task_done()
        self.queued_bytes = 0
        return left
