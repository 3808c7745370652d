"""Between the decoder and the output: batches go to the output's queue, to the spool, or wait.

Three states, one object:

- **direct**: while the output keeps up, each batch goes to the bounded queue in memory (``Shipper``).
- **spooling**: when the output has been unavailable, or slower than the input, for ``spool_after``
  seconds, every new batch goes to the spool on disk, behind what is there, and what the output holds in
  memory gets a copy there too (so a crash loses nothing). The replay feeds the spool back to the output's
  queue, oldest first. Once everything spooled is sent on and the output takes events again, back to
  direct.
- **blocked**: when neither the queue nor the spool can take a batch, it waits here, in order, and the
  inputs are paused (``pause``) until one can (``resume``): TCP and HTTP senders wait, UDP datagrams wait
  in the kernel's buffer and drop there, counted by the kernel.

At shutdown (``drain``) what is in memory is flushed to the output within a deadline and the rest spooled,
to be sent at the next start.

For the HTTP inputs' durable answers (acks.py), every batch handed over gets a serial, in order, and the
hand-over knows which are not durable yet: neither finished by the output nor written and synced to the
spool. ``durable_through`` is the serial up to which all are; ``make_durable`` spools copies of those up to
a serial at once, for an answer that cannot wait for the output any longer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gelfingest.core.batch import Batch
from gelfingest.outputs import Output
from gelfingest.outputs.shipper import Shipper
from gelfingest.storage.spool import Spool

logger = logging.getLogger(__name__)

# How often the replay looks again when the output's queue has no room.
REPLAY_WAIT = 0.05
# A pause of the inputs this long or longer is logged when it ends (shorter ones are only counted).
LOG_PAUSE = 1.0


def record_bound(size: int) -> int:
    """The most a batch of ``size`` bytes takes in the spool: zstd's bound on what does not compress (its
    ZSTD_COMPRESSBOUND, a 256th more and a frame), and the record's header."""
    return size + (size >> 7) + 128


class Handover:
    def __init__(self, output: Output, spool: Spool, *, queue_batches: int, queue_max_bytes: int,
                 concurrency: int, spool_after: float, pause: Callable[[], None],
                 resume: Callable[[], None]) -> None:
        """``pause`` and ``resume``: stop and start reading the inputs (called once each way, in turn)."""
        self.output = output
        self.spool = spool
        self.spool_after = spool_after
        self.shipper = Shipper(output, queue_batches, concurrency, on_done=self._done, max_bytes=queue_max_bytes)
        self._pause, self._resume = pause, resume
        # While spooling, every new batch goes to the spool, behind what is there, until it is all sent.
        self.spooling = False
        self._spooling_since = 0.0
        self._spooled_before = 0
        # Batches neither the queue nor the spool could take yet: the inputs are paused meanwhile.
        self._blocked: list[Batch] = []
        self._blocked_since: float | None = None
        self._paused = False
        self._paused_at = 0.0
        # How often and how long the inputs were paused (a pause of LOG_PAUSE or more is logged too).
        self.pauses = 0
        self.paused_seconds = 0.0
        self.longest_pause = 0.0
        # At shutdown: the inputs are never read again.
        self._held = False
        self._spool_full_since: float | None = None
        self._replay_task: asyncio.Task[None] | None = None
        # A batch read back from the spool that the queue could not take yet.
        self._replaying: Batch | None = None
        self.spooled_at_shutdown = 0
        self.lost_at_shutdown = 0
        # How the flush at shutdown ended, for the closing lines ("within the 30 s shutdown deadline").
        self.cut_short = ""
        # The batches handed over and not durable yet, by serial (in order), and their bytes with what a spool
        # record adds to each.
        self.serial = 0
        self._volatile: dict[int, Batch] = {}
        self.volatile_bytes = 0
        # Called with ``durable_through`` each time it moves on.
        self.on_durable: Callable[[int], None] | None = None

    # -- what it holds -------------------------------------------------------------------------------

    def is_full(self) -> bool:
        """Whether batches are waiting for room (the HTTP input answers 503 meanwhile)."""
        return bool(self._blocked)

    @property
    def waiting_batches(self) -> int:
        """Batches queued for the output or blocked (not those in flight)."""
        return self.shipper.queue.qsize() + len(self._blocked)

    @property
    def waiting_events(self) -> int:
        """Events the output has not finished with: queued, in flight, or blocked."""
        return self.shipper.waiting_events + sum(len(b) for b in self._blocked)

    @property
    def durable_through(self) -> int:
        """The serial up to which every batch handed over is durable (finished by the output, or spooled)."""
        return next(iter(self._volatile)) - 1 if self._volatile else self.serial

    def room_for(self, size: int) -> bool:
        """Whether ``size`` more bytes of encoded events could be made durable: nothing is waiting for room,
        and the spool could take, uncompressed, both them and every batch in memory that is not durable yet."""
        return not self._blocked and self.spool.max_bytes - self.spool.bytes >= self.volatile_bytes + size

    def volatile_events(self) -> int:
        """Events in memory only (not on disk) that the output has not finished with."""
        return sum(len(b) for b in (*self.shipper.in_flight(), *self.shipper.queued(), *self._blocked)
                   if not self.spool.holds(b))

    # -- start ---------------------------------------------------------------------------------------

    def start(self, orphans: Iterable[Path] = ()) -> None:
        """Open the spool (taking the segments of ``orphans``: spool folders of workers that no longer
        exist), send what earlier runs left in it first, and start the output's senders and the replay."""
        for other in orphans:
            moved = self.spool.adopt(other)
            logger.info("spool: took %d segments left by worker %s", moved, other.name)
        for torn in self.spool.open():
            logger.error("spool: %s is torn at byte %d (%s): %d bytes after it are skipped, the rest is sent",
                         torn.path, torn.offset, torn.why, torn.skipped)
        if self.spool.unread_batches:
            logger.warning("spool: %d events in %d batches (%d bytes) left by an earlier run are sent first",
                           self.spool.unread_events, self.spool.unread_batches, self.spool.bytes)
            self._start_spooling(time.monotonic())
        self.shipper.start()
        self._replay_task = asyncio.get_running_loop().create_task(self._replay(), name="spool-replay")

    # -- batches in ----------------------------------------------------------------------------------

    def hand_over(self, batch: Batch) -> None:
        """Queue a batch for the output, or spool it; when neither can take it, pause the inputs until one
        can."""
        self.serial += 1
        batch.serial = self.serial
        self._volatile[self.serial] = batch
        self.volatile_bytes += record_bound(batch.size)
        if not self._blocked and self._place(batch):
            return
        self._blocked.append(batch)
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
        if not self._held and not self._paused:
            self._paused = True
            self._paused_at = time.monotonic()
            self.pauses += 1
            self._pause()

    def _place(self, batch: Batch) -> bool:
        if not self.spooling:
            return self.shipper.try_submit(batch)
        if self.spool.append(batch):
            self._durable(batch)
            if self._spool_full_since is not None:
                logger.warning("the spool has room again after %.1f s; reading the inputs again",
                               time.monotonic() - self._spool_full_since)
                self._spool_full_since = None
            return True
        if self._spool_full_since is None:
            self._spool_full_since = time.monotonic()
            logger.error("the spool is full (%d of %d bytes, %d events): inputs paused until Elasticsearch takes "
                         "some; TCP and HTTP senders wait, UDP datagrams now drop in the kernel (counted in "
                         "gelfingest_udp_kernel_drops)", self.spool.bytes, self.spool.max_bytes,
                         self.spool.held_events)
        return False

    def _unblock(self) -> None:
        """Move blocked batches on while there is room; read the inputs again once none is left."""
        while self._blocked and self._place(self._blocked[0]):
            self._blocked.pop(0)
        if not self._blocked:
            self._blocked_since = None
            if self._paused and not self._held:
                self._paused = False
                self._resume()
                self._resumed(time.monotonic() - self._paused_at)

    def _resumed(self, paused: float) -> None:
        self.paused_seconds += paused
        self.longest_pause = max(self.longest_pause, paused)
        if paused >= LOG_PAUSE:
            logger.warning("inputs read again after a pause of %.1f s (the output and the spool could take no more "
                           "meanwhile)", paused)

    def _done(self, batch: Batch) -> None:
        """The output is finished with a batch: its spooled copy goes, and there is room for another."""
        self.spool.ack(batch)
        if not self._durable(batch) and self.on_durable is not None:
            self.on_durable(self.durable_through)  # a sender is free: an answer waiting for one may go
        self._unblock()

    def _durable(self, batch: Batch) -> bool:
        """``batch`` is acknowledged by the output, or on disk: the answers waiting for it may go. False when
        it was not waited for (read back from the spool, or durable already)."""
        if self._volatile.pop(batch.serial, None) is None:
            return False
        self.volatile_bytes -= record_bound(batch.size)
        if self.on_durable is not None:
            self.on_durable(self.durable_through)
        return True

    def make_durable(self, through: int) -> bool:
        """Spool every batch up to serial ``through`` that is not durable yet, now: those the output holds as
        copies (it goes on sending them), those waiting for room in order behind what the spool holds.
        False when the spool cannot take them all (full, or the disk refuses)."""
        if self._blocked and self._blocked[0].serial <= through and not self.spooling:
            self._start_spooling(time.monotonic())
            logger.warning("output %s is not taking events fast enough for the HTTP answers waiting on them: "
                           "spooling to %s", self.output.name, self.spool.directory)
        self._unblock()
        for serial, batch in list(self._volatile.items()):
            if serial > through:
                break
            if not any(b is batch for b in self._blocked) and self.spool.append(batch, claimed=True):
                self._durable(batch)
        return self.durable_through >= through

    # -- the timer -----------------------------------------------------------------------------------

    def _down_for(self, mono: float) -> float:
        since = self.output.unavailable_since
        return -1.0 if since is None else mono - since

    def tick(self, mono: float) -> None:
        """Start spooling when the output has been unavailable or slower than the input for ``spool_after``;
        stop once everything spooled is sent on. ``mono``: ``time.monotonic()``."""
        down = self._down_for(mono) >= self.spool_after
        if not self.spooling:
            slow = self._blocked_since is not None and mono - self._blocked_since >= self.spool_after
            if not (down or slow):
                return
            self._start_spooling(mono)
            logger.warning("output %s %s for %g s: spooling to %s (%d events held in memory)", self.output.name,
                           "unavailable" if down else "slower than the input", self.spool_after,
                           self.spool.directory, self.waiting_events)
        # What the output holds in memory gets a copy on disk (it keeps sending it), so a crash loses nothing.
        for batch in self.shipper.in_flight() + self.shipper.queued():
            if self.spool.holds(batch):
                continue
            if not self.spool.append(batch, claimed=True):
                break
            self._durable(batch)
        self._unblock()
        if (self.spool.unread_batches == 0 and self._replaying is None and not self._blocked
                and self.output.unavailable_since is None):
            self.spooling = False
            logger.warning("spool drained: %d events went through the spool in %.1f s and were sent on",
                           self.spool.written_events - self._spooled_before, mono - self._spooling_since)

    def _start_spooling(self, mono: float) -> None:
        self.spooling = True
        self._spooling_since = mono
        self._spooled_before = self.spool.written_events

    async def _replay(self) -> None:
        """Feed spooled batches to the output, oldest first, as its queue has room. A batch is read before
        its size is known: one the queue cannot take yet waits here (it stays unacknowledged in the spool
        meanwhile, so a stop leaves it there for the next start)."""
        while True:
            if self._replaying is None and self.spool.unread_batches and not self.shipper.queue.full():
                self._replaying = self.spool.read()
            if self._replaying is not None and self.shipper.try_submit(self._replaying):
                self._replaying = None
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(REPLAY_WAIT)

    # -- shutdown ------------------------------------------------------------------------------------

    def hold_inputs(self) -> None:
        """From now on the inputs are neither paused nor resumed: they are being closed."""
        self._held = True

    async def drain(self, timeout: float, force: Callable[[], bool]) -> None:
        """Flush to the output within ``timeout`` seconds, then spool what is left in memory.

        The wait ends early when ``force()`` says so (a second signal) or when the output has been
        unavailable for ``spool_after`` (the spool keeps it). Batches read from the spool are not waited for:
        they stay on disk until the output is done with them.
        """
        self.hold_inputs()
        if self._replay_task is not None:
            self._replay_task.cancel()
            await asyncio.gather(self._replay_task, return_exceptions=True)
        start = time.monotonic()
        self.cut_short = f"within the {timeout:g} s shutdown deadline"
        while time.monotonic() - start < timeout:
            if force():
                self.cut_short = "before a second signal"
                break
            self._unblock()
            if not self.volatile_events():
                break
            if self._down_for(time.monotonic()) >= self.spool_after:
                self.cut_short = "at shutdown: Elasticsearch is unavailable"
                break  # no use waiting, the spool keeps it
            await asyncio.sleep(0.05)
        left = await self.shipper.stop() + self._blocked
        self._blocked = []
        for batch in left:
            if self.spool.holds(batch):
                continue  # on disk already, sent at the next start
            if self.spool.append(batch):
                self.spooled_at_shutdown += len(batch)
                self._durable(batch)
            else:
                self.lost_at_shutdown += len(batch)
        self.spool.close()
