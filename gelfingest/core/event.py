"""``Event``: one decoded event on its way through the core (streams, sequencing, encoding) and between
the workers and instances of a fleet (forward_frames.py puts it on the wire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Event:
    """A decoded event on its way: its document, the time that names its index, its sequence, and when it
    was received in the fleet (``received``: the datagram's time, a chunked message's earliest chunk's; 0:
    when its owner takes it). A stream is put back in the order of (received, sequence): a chunked message
    completes later than it arrived, where its last chunk met the others, so its sequence alone would put
    it after the lines sent after it.

One record per event from decode to encoding: a processor that drops an event drops its record, and
nothing else has to be kept in step."""

    doc: dict[str, Any]
    seconds: int
    sequence: int
    received: float = 0.0
    # When the worker that decoded it took it (the datagram's own kernel stamp, or a chunked message's last
    # chunk's), which a clock-mode sequence is taken at; not on the wire: the owner sequences again.
    taken: float = 0.0

    @property
    def order(self) -> tuple[float, int]:
        return (self.received, self.sequence)
