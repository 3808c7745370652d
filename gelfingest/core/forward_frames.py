"""The frames in which chunks travel between workers and instances (our own format, not GELF).

    magic (4) | hop (1) | length of source address (1) | source address | received (8) | the datagram

``received``: when the chunk was first received (big-endian double, seconds since the epoch; in clock mode
the kernel's receive time), so the owner of a stream orders a chunked message by its first chunk's arrival
in the fleet, not by when the last one reached the chunk's owner.

hop 0: from another instance (the receiver picks its owner worker); hop 1: to the owner worker itself.
PING and PONG, followed by the sender's name, tell a peer is alive; BYE that it stops, and BYE_ACK that
the one stopping is sent nothing more (fleet/forwarding.py). Decoded events travel to their stream's
owner in frames of their own (below).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Final

import orjson

from gelfingest.core.event import Event

FORWARD_MAGIC: Final = b"GIFW"
PING: Final = b"GIPI"
PONG: Final = b"GIPO"
# An instance that stops says so (followed by its name): its peers take over its share at once. Between
# the workers of an instance, BYE with the instance's own name: that worker stops; with a peer's name: a
# worker passes on the BYE that reached it (SO_REUSEPORT hands a peer's datagrams to one worker of us).
BYE: Final = b"GIBY"
# The answer to a BYE (bye_ack): this worker sends the one leaving nothing more. It goes the way the
# worker's chunks and events to the one leaving go, so it arrives after them.
BYE_ACK: Final = b"GIBA"
# A worker that starts tells its siblings (a restarted worker is sent its share again).
HELLO: Final = b"GIHI"
HOP_INSTANCE: Final = 0
HOP_WORKER: Final = 1


_TIME: Final = struct.Struct(">d")


_WORKERS: Final = struct.Struct(">HH")


def bye_ack(worker: int, workers: int, instance: str) -> bytes:
    """BYE_ACK | worker (2) | workers (2) | instance name: worker ``worker`` of ``workers`` of ``instance``."""
    return BYE_ACK + _WORKERS.pack(worker, workers) + instance.encode()


def parse_bye_ack(frame: bytes) -> tuple[int, int, str] | None:
    if len(frame) < 8 or frame[:4] != BYE_ACK:
        return None
    worker, workers = _WORKERS.unpack_from(frame, 4)
    if worker >= workers:
        return None
    return worker, workers, frame[8:].decode("utf-8", "replace")


def frame_forward(hop: int, source: str, datagram: bytes, received: float) -> bytes:
    src = source.encode()
    return FORWARD_MAGIC + bytes((hop, len(src))) + src + _TIME.pack(received) + datagram


def parse_forward(frame: bytes) -> tuple[int, str, bytes, float] | None:
    """(hop, source, datagram, received) of a forwarding frame, or None when it is not one."""
    if len(frame) < 14 or frame[:4] != FORWARD_MAGIC:
        return None
    hop, n = frame[4], frame[5]
    if hop not in (HOP_INSTANCE, HOP_WORKER) or len(frame) < 14 + n:
        return None
    try:
        source = frame[6 : 6 + n].decode("ascii")
    except UnicodeDecodeError:
        return None
    (received,) = _TIME.unpack_from(frame, 6 + n)
    if not math.isfinite(received):
        return None
    return hop, source, frame[14 + n :], received


# -- decoded events, to their stream's owner ------------------------------------------------------------
#
#     magic (4) | hop (1) | JSON array of [stream key, index seconds, sequence, received, document], one an
#     event
#
# When a stream feature is on (streams.py), every decoded event goes to the worker that owns its stream,
# with the sequence it was given where it was received. Events are packed into frames of at most
# MAX_EVENT_FRAME bytes; one that does not fit a frame alone is processed where it was received (counted).

EVENTS_MAGIC: Final = b"GIEV"
MAX_EVENT_FRAME: Final = 65_000
_MAX_KEY: Final = 512


Framed = tuple[bytes, list[tuple[str, Event]]]


def frame_events(hop: int, events: Iterable[tuple[str, Event]]) -> tuple[list[Framed], list[tuple[str, Event]]]:
    """The frames that carry these events (each with the events it carries), and the events too large for a
    frame of their own."""
    frames: list[Framed] = []
    too_large: list[tuple[str, Event]] = []
    head = EVENTS_MAGIC + bytes((hop,)) + b"["
    parts: list[bytes] = []
    carried: list[tuple[str, Event]] = []
    size = len(head) + 1
    for key, event in events:
        try:
            encoded = orjson.dumps((key, event.seconds, event.sequence, event.received, event.doc))
        except TypeError:  # not JSON (never from the decoder): kept where it is
            too_large.append((key, event))
            continue
        if len(head) + len(encoded) + 1 > MAX_EVENT_FRAME:
            too_large.append((key, event))
            continue
        if parts and size + len(encoded) + 1 > MAX_EVENT_FRAME:
            frames.append((head + b",".join(parts) + b"]", carried))
            parts, carried, size = [], [], len(head) + 1
        parts.append(encoded)
        carried.append((key, event))
        size += len(encoded) + 1
    if parts:
        frames.append((head + b",".join(parts) + b"]", carried))
    return frames, too_large


def parse_events(frame: bytes) -> tuple[int, list[tuple[str, Event]]] | None:
    """(hop, events) of an events frame, or None when it is not a valid one (the forwarding port may be
    reached by anything: every field is checked)."""
    if len(frame) < 7 or frame[:4] != EVENTS_MAGIC or frame[4] not in (HOP_INSTANCE, HOP_WORKER):
        return None
    try:
        items = orjson.loads(frame[5:])
    except orjson.JSONDecodeError:
        return None
    if type(items) is not list:
        return None
    events: list[tuple[str, Event]] = []
    for item in items:
        if type(item) is not list or len(item) != 5:
            return None
        key, seconds, sequence, received, doc = item
        if (type(key) is not str or len(key) > _MAX_KEY or type(seconds) is not int or type(sequence) is not int
                or type(received) not in (int, float) or type(doc) is not dict):
            return None
        events.append((key, Event(doc, seconds, sequence, float(received))))
    return frame[4], events
