"""A worker that stops says BYE to the other workers and to the peers, and waits for each to answer that it
will send nothing more, so that nothing sent to it is lost when its sockets close. Two instances of two
workers in one process, on real loopback sockets (each instance's workers share its forwarding port with
SO_REUSEPORT, as in the daemon: a peer's datagrams reach only one of them)."""

from __future__ import annotations

import asyncio
import time

from gelfingest.config import Config
from gelfingest.core.event import Event
from gelfingest.fleet.forwarding import ChunkForwarder
from gelfingest.net import Address
from tests.helpers import free_udp_port

KEYS = [f"container-{k}" for k in range(400)]


class Worker:
    def __init__(self, config: Config) -> None:
        self.events: list[tuple[str, Event]] = []
        self.forwarder = ChunkForwarder(config, lambda *_: None, lambda events, _now: self.events.extend(events))


def instances() -> tuple[list[Worker], list[Worker]]:
    forward = [free_udp_port(), free_udp_port()]
    fleet: list[list[Worker]] = []
    for k in range(2):
        ports = (free_udp_port(), free_udp_port())
        fleet.append([Worker(Config(workers=2, worker_index=w, worker_ports=ports,
                                    chunk_forward=Address("127.0.0.1", forward[k]),
                                    advertise=f"127.0.0.1:{forward[k]}",
                                    peers=(Address("127.0.0.1", forward[1 - k]),)))
                      for w in range(2)])
    return fleet[0], fleet[1]


async def until(condition: object, timeout: float = 3.0) -> float:
    start = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - start < timeout
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def test_a_stopping_instance_is_answered_by_every_worker_and_loses_nothing_sent_before() -> None:
    asyncio.run(_stopping_instance())


async def _stopping_instance() -> None:
    loop = asyncio.get_running_loop()
    a, b = instances()
    everyone = a + b
    for w in everyone:
        w.forwarder.start(loop)
    try:
        for w in everyone:
            w.forwarder.tick(time.time())
        await until(lambda: all(p.up for w in everyone for p in w.forwarder.peers))
        # Instance a sends every stream's events to its owner; half the streams are b's.
        sent = 0
        for n, w in enumerate(a):
            events = [(key, Event({"message": f"{n} {key}"}, 1, n, time.time())) for key in KEYS]
            kept = w.forwarder.forward_events(events)
            sent += len(events) - len(kept)
            w.events += kept
        for w in b:
            w.forwarder.leave()  # at once, as nothing has been read yet: the events are on their way
        # Settled only once answered: every worker here and of a said BYE back. The daemon's LEAVE_TIMEOUT
        # for a silent peer is not part of it, so no timing needs asserting.
        await until(lambda: all(w.forwarder.settled for w in b))
        for w in b:
            w.forwarder.drain()
        got = sorted(e.doc["message"] for w in everyone for _, e in w.events)
        assert got == sorted(f"{n} {key}" for n in range(2) for key in KEYS)  # every event, once
        assert sent > 0 and sum(len(w.events) for w in b) > 0
        # Both workers of a heard it, although the BYEs reached one worker each: b owns nothing now.
        assert not any(p.up for w in a for p in w.forwarder.peers)
        assert all(w.forwarder.stream_owner(key)[0] == w.forwarder.name for w in a for key in KEYS)
        # And b's workers know each other gone: a stream of the other worker is kept, not sent.
        b0 = b[0].forwarder
        other = next(key for key in KEYS if b0.stream_owner(key) == (b0.name, 1))
        assert b0.forward_events([(other, Event({}, 1, 0, 0.0))]) != []
    finally:
        for w in everyone:
            w.forwarder.close()


def test_a_worker_that_stops_alone_is_answered_then_sent_its_share_again_once_it_says_hello() -> None:
    asyncio.run(_worker_restarts())


async def _worker_restarts() -> None:
    loop = asyncio.get_running_loop()
    ports = (free_udp_port(), free_udp_port())
    workers = [Worker(Config(workers=2, worker_index=w, worker_ports=ports)) for w in range(2)]
    for w in workers:
        w.forwarder.start(loop)
    first, second = (w.forwarder for w in workers)
    theirs = next(key for key in KEYS if first.stream_owner(key)[1] == 1)
    try:
        assert first.forward_events([(theirs, Event({}, 1, 0, 0.0))]) == []  # sent to its owner
        second.leave()
        await until(lambda: second.settled)
        assert first.forward_events([(theirs, Event({}, 1, 0, 0.0))]) != []  # kept: its owner stops
        second.close()
        again = Worker(Config(workers=2, worker_index=1, worker_ports=ports))
        again.forwarder.start(loop)  # says HELLO
        workers.append(again)
        await until(lambda: not first._gone)
        assert first.forward_events([(theirs, Event({}, 1, 0, 0.0))]) == []
        await until(lambda: len(again.events) == 1)
    finally:
        for w in workers:
            w.forwarder.close()
