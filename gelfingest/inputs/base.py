"""What every input is to ``Inputs``: a component in a list that opens, pauses and resumes (the readers),
shuts, says where it listens, and reports its own counters, so that a new input adds no method to the
server and no branch to the metrics snapshot or the closing line."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

if TYPE_CHECKING:
    from gelfingest.metrics import SnapshotBuilder


RECEIVED_HELP = "Datagrams, frames or HTTP messages received, by input"
# What the HTTP inputs' 503s ask a sender to wait, in seconds.
RETRY_AFTER_SECONDS: Final = "1"


def bearer_ok(authorization: str, token: str) -> bool:
    """Whether an HTTP request's Authorization header carries the bearer token (compared in constant time)."""
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())



@dataclass(frozen=True, slots=True)
class Answers:
    """What the HTTP inputs ask the server about a request (server.py says more):

    - ``admits(size)``: whether a body of ``size`` bytes (decompressed) is worth decoding now;
    - ``begin()``, then the request's messages taken, then ``end()``: whether it is admitted (False: every
      event it added was taken back; answer 503), with nothing awaited in between;
    - ``durable(taken, streams)``: a future that says when what was taken up to ``taken`` (time.time()) is
      durable (False: it cannot be; answer 503), or None when answers do not wait (--http-ack received);
      ``streams``: the request's events went through the streams.
    """

    admits: Callable[[int], bool]
    begin: Callable[[], None]
    end: Callable[[], bool]
    durable: Callable[[float, bool], asyncio.Future[bool] | None]


# A durable answer is settled by the server within --http-ack-timeout (at most 60 s); this only guards
# against a bug leaving a request waiting for ever.
DURABLE_GUARD: Final = 75.0


async def settled(answers: Answers, taken: float, streams: bool) -> bool:
    """Whether everything taken up to ``taken`` (time.time()) is durable, once it is; True at once when
    answers do not wait for it, False when it cannot be (answer 503)."""
    future = answers.durable(taken, streams)
    if future is None:
        return True
    try:
        async with asyncio.timeout(DURABLE_GUARD):
            return await future
    except TimeoutError:
        return False


class Input:
    # The name the start line, the metrics' ``input`` label (with ``_`` for ``-``) and the closing line use.
    name: str = ""
    # The order inputs are shut in: readers of datagrams first (what the kernel holds is read), then
    # connections (read on for a moment), then the HTTP listeners.
    shut_rank: ClassVar[int] = 2
    # Readers take data as fast as it is given: they are paused while the hand-over is full.
    reads: ClassVar[bool] = False
    # True while a reader stopped its last read with data still waiting (the worker is behind).
    behind: bool = False
    # A UDP socket's inode, for its kernel drop counter (0: none).
    inode: int = 0

    @property
    def label(self) -> str:
        return self.name.replace("-", "_")

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError

    async def shut(self, force: bool) -> None:
        """Stop listening; without ``force``, take what has already reached us first."""
        raise NotImplementedError

    def pause(self) -> None:
        """Stop reading (a reader; the others answer for themselves)."""

    def resume(self) -> None:
        """Read again."""

    def sweep(self) -> None:
        """Periodic work (close connections silent for too long)."""

    def describe(self) -> str:
        """Where it listens, as the start line says it (tests and tools read the ports from it)."""
        raise NotImplementedError

    def report(self, b: SnapshotBuilder) -> None:
        """Its counters into a metrics snapshot."""

    def received(self) -> str:
        """What it received, for the head of the closing line ("" for none)."""
        return ""

    def totals(self) -> str:
        """Its own part of the closing line, beginning "; " ("" for none)."""
        return ""
