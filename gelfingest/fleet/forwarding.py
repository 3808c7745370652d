"""Moving chunks to their owner, and decoded events to their stream's owner: between the workers of an
instance and between instances.

- Between instances: every worker of an instance binds the instance's chunk-forwarding address
  (``--chunk-forward``, SO_REUSEPORT) and keeps one connected UDP socket per peer. It pings each peer
  every PING_INTERVAL; a peer that has not answered for PEER_TIMEOUT is left out of the owner choice, so
  its share is kept locally instead of being sent into the void.
- Between the workers of one instance: loopback UDP ports that the supervisor picks and gives to every
  worker, so the workers find each other with nothing to configure. (Not Unix datagram sockets: Linux
  queues only ``net.unix.max_dgram_qlen`` = 10 of those per socket, and a burst of chunks overflows it.)

A chunk that cannot be forwarded (the peer is down, a socket buffer is full) is kept and reassembled
where it is, and counted: never dropped silently.

With a stream feature on (core/streams.py), every decoded event goes the same way to the worker that owns
its stream (rendezvous on the stream key, among the same live members), packed many to a frame. An event
too large for a frame, or one that cannot be sent, is processed where it was received, counted.

A peer may be named by host name (``gelfingest-2:12211`` in compose): the name is looked up in the
background, not at start, and again every RESOLVE_INTERVAL while the peer does not answer, so a peer
that starts later, or comes back with another address (a container recreated), is found again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gelfingest.config import Config
from gelfingest.core.event import Event
from gelfingest.core.forward_frames import (
    BYE,
    BYE_ACK,
    EVENTS_MAGIC,
    HELLO,
    HOP_INSTANCE,
    HOP_WORKER,
    PING,
    PONG,
    bye_ack,
    frame_events,
    frame_forward,
    parse_bye_ack,
    parse_events,
    parse_forward,
)
from gelfingest.core.routing import is_ip_address, owner_worker, rendezvous
from gelfingest.net import Address, family, set_receive_buffer

logger = logging.getLogger(__name__)

PING_INTERVAL: Final = 0.5
# Three missed pings: the peer is taken as gone until it answers again.
PEER_TIMEOUT: Final = 1.6
# How long a worker that stops waits for the answers to its BYE: past it, a peer that never heard the BYE
# has stopped sending to us anyway (no more PONGs; it ticks every PING_INTERVAL).
LEAVE_TIMEOUT: Final = PEER_TIMEOUT + PING_INTERVAL
# How often the name of a peer that does not answer is looked up again.
RESOLVE_INTERVAL: Final = 5.0
_MAX_FRAME: Final = 65535 + 300
_DRAIN: Final = 512
# Receive buffer of the forwarding sockets: a burst of chunks from a busy peer or worker must not drop.
RECEIVE_BUFFER: Final = 8 << 20

# Called with a chunk this worker owns that another worker or instance passed on, its sender and the time it
# was first received.
Deliver = Callable[[bytes, str, float], None]
# Called with events of streams this worker owns that another worker or instance passed on.
DeliverEvents = Callable[[list[tuple[str, Event]], float], None]
# Stream owners remembered (stream key -> instance, worker) until the live members change.
_MAX_OWNERS: Final = 65_536


@dataclass(slots=True)
class ForwardStats:
    to_peers: int = 0
    to_workers: int = 0
    failed: int = 0
    # Chunks whose owner would be a peer that does not answer: reassembled here instead.
    kept_for_down_peers: int = 0
    received: int = 0
    # Datagrams on the forwarding ports that are not our frames (the port is exposed to something else).
    invalid: int = 0
    # Decoded events sent to their stream's owner, received as owner, and kept here (too large for a
    # frame, or the send failed).
    events_to_peers: int = 0
    events_to_workers: int = 0
    events_received: int = 0
    events_kept: int = 0


class _Peer:
    __slots__ = ("address", "ip", "last_lookup", "last_pong", "looking_up", "lookup_failed", "name", "sock",
                 "up")

    def __init__(self, name: str, address: Address) -> None:
        self.name = name
        self.address = address
        self.sock: socket.socket | None = None
        self.last_pong = float("-inf")
        self.up = False
        # The address the socket is connected to; for a host name, what it was last found to be.
        self.ip = address.host if is_ip_address(address.host) else ""
        self.last_lookup = float("-inf")
        self.looking_up = False
        self.lookup_failed = False


class ChunkForwarder:
    def __init__(self, config: Config, deliver: Deliver, deliver_events: DeliverEvents | None = None) -> None:
        self.config = config
        self.deliver = deliver
        self.deliver_events = deliver_events
        self._owners: dict[str, tuple[str, int]] = {}
        self._owners_live: tuple[str, ...] = ()
        # Set by leave(): PINGs are no longer answered, so peers keep our share until we are back.
        self._leaving = False
        # Other workers of this instance that said BYE (until they say HELLO again): their share is kept here.
        self._gone: set[int] = set()
        # Once leaving: the workers of this instance, and the peers (with the workers of each that answered
        # and how many it has), that are still to answer our BYE.
        self._unanswered_workers: set[int] = set()
        self._unanswered_peers: set[str] = set()
        self._answers: dict[str, set[int]] = {}
        self._peer_workers: dict[str, int] = {}
        self.worker = config.worker_index
        self.workers = config.workers
        self.name = config.advertise
        self.peers = [_Peer(str(a), a) for a in config.peers]
        self._names = [p.name for p in self.peers]
        self.stats = ForwardStats()
        self._listen: socket.socket | None = None
        self._local: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_ping = float("-inf")
        self._lookups: set[asyncio.Task[None]] = set()
        # The receive buffer the forwarding sockets got, as the kernel counts it (0: none opened).
        self.effective_buffer = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.workers > 1 and self.config.worker_ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.effective_buffer = set_receive_buffer(sock, RECEIVE_BUFFER)
            sock.bind(("127.0.0.1", self.config.worker_ports[self.worker]))
            sock.setblocking(False)
            self._local = sock
            loop.add_reader(sock.fileno(), self._read_local)
        if self.config.chunk_forward is not None:
            a = self.config.chunk_forward
            sock = socket.socket(family(a.host), socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.effective_buffer = set_receive_buffer(sock, RECEIVE_BUFFER)
            sock.bind((a.host, a.port))
            sock.setblocking(False)
            self._listen = sock
            loop.add_reader(sock.fileno(), self._read_listen)
        for peer in self.peers:
            if peer.ip:
                self._connect(peer, peer.ip)
            # A host name is looked up by the first tick, in the background.
        self._to_siblings(HELLO)

    def _connect(self, peer: _Peer, ip: str) -> None:
        """(Re)connect the peer's socket to ``ip``."""
        if peer.sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(peer.sock.fileno())
            peer.sock.close()
            peer.sock = None
        peer_sock = socket.socket(family(ip), socket.SOCK_DGRAM)
        peer_sock.setblocking(False)
        try:
            peer_sock.connect((ip, peer.address.port))
        except OSError as exc:  # no route to it (yet): tried again with the next lookup
            peer_sock.close()
            logger.warning("peer %s: cannot connect to %s: %s", peer.name, ip, exc)
            return
        peer.ip = ip
        peer.sock = peer_sock
        if self._loop is not None:
            self._loop.add_reader(peer_sock.fileno(), self._read_peer, peer)

    async def _look_up(self, peer: _Peer) -> None:
        assert self._loop is not None
        try:
            infos = await self._loop.getaddrinfo(peer.address.host, peer.address.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            if not peer.lookup_failed:
                peer.lookup_failed = True
                logger.warning("peer %s: cannot look up %s (%s); its chunks are kept here, looked up again "
                               "every %.0f s", peer.name, peer.address.host, exc, RESOLVE_INTERVAL)
            return
        finally:
            peer.looking_up = False
        peer.lookup_failed = False
        # IPv4 first: a name such as localhost may list ::1 before the IPv4 address the peer listens on.
        ips = sorted((str(info[4][0]) for info in infos), key=lambda ip: ":" in ip)
        if ips and (peer.sock is None or peer.ip not in ips):
            if peer.ip:
                logger.info("peer %s now at %s (was %s)", peer.name, ips[0], peer.ip)
            self._connect(peer, ips[0])
            self._send_ping(peer)

    def describe(self) -> str:
        parts = []
        if self.peers:
            parts.append(f"chunk routing among {self.name} (this instance) and peers "
                         f"{', '.join(p.name for p in self.peers)} via {self.config.chunk_forward}")
        if self.workers > 1:
            parts.append(f"between {self.workers} workers")
        return "; ".join(parts)

    # -- routing -----------------------------------------------------------------------------------

    def live_instances(self, now: float) -> list[str]:
        return [self.name, *(p.name for p in self.peers if now - p.last_pong < PEER_TIMEOUT)]

    def route(self, datagram: bytes, source: str, now: float) -> bool:
        """Forward a chunk this worker does not own; False when it is to be reassembled here."""
        message_id = datagram[2:10]
        if self.peers:
            live = self.live_instances(now)
            instance = rendezvous(message_id, live) if len(live) > 1 else self.name
            if len(live) <= len(self.peers) and rendezvous(message_id, [self.name, *self._names]) != instance:
                self.stats.kept_for_down_peers += 1
            if instance != self.name:
                peer = next(p for p in self.peers if p.name == instance)
                if self._send(peer.sock, frame_forward(HOP_INSTANCE, source, datagram, now)):
                    self.stats.to_peers += 1
                    return True
                return False
        return self._to_owner_worker(datagram, source, now)

    def _to_owner_worker(self, datagram: bytes, source: str, received: float) -> bool:
        if self.workers == 1:
            return False
        worker = owner_worker(datagram[2:10], self.workers)
        if worker == self.worker or self._local is None or worker in self._gone:
            return False
        try:
            self._local.sendto(frame_forward(HOP_WORKER, source, datagram, received),
                               ("127.0.0.1", self.config.worker_ports[worker]))
        except OSError:  # e.g. the worker is restarting: keep the chunk here
            self.stats.failed += 1
            return False
        self.stats.to_workers += 1
        return True

    @property
    def routes_streams(self) -> bool:
        """Whether a stream can be owned elsewhere: more than one worker, or peers."""
        return self.workers > 1 or bool(self.peers)

    def stream_owner(self, key: str) -> tuple[str, int]:
        """The instance and worker that own a stream, among the instances that answer now."""
        live = (self.name, *(p.name for p in self.peers if p.up))
        if live != self._owners_live or len(self._owners) >= _MAX_OWNERS:
            self._owners.clear()
            self._owners_live = live
        owner = self._owners.get(key)
        if owner is None:
            k = key.encode()
            instance = rendezvous(k, live) if len(live) > 1 else self.name
            owner = self._owners[key] = (instance, owner_worker(k, self.workers))
        return owner

    def owns_stream(self, key: str) -> bool:
        return self.stream_owner(key) == (self.name, self.worker)

    def forward_events(self, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        """Send events to their streams' owners; the ones to process here (ours, too large for a frame, or
        not sent)."""
        by_owner: dict[tuple[str, int], list[tuple[str, Event]]] = {}
        for key, event in events:
            by_owner.setdefault(self.stream_owner(key), []).append((key, event))
        ours = by_owner.pop((self.name, self.worker), [])
        kept: list[tuple[str, Event]] = []
        for (instance, worker), group in by_owner.items():
            if instance == self.name:
                kept += self._events_to_worker(worker, group)
                continue
            peer = next(p for p in self.peers if p.name == instance)
            frames, too_large = frame_events(HOP_INSTANCE, group)
            kept += too_large
            for frame, carried in frames:
                if self._send(peer.sock, frame):
                    self.stats.events_to_peers += len(carried)
                else:
                    kept += carried
        self.stats.events_kept += len(kept)
        return ours + kept

    def _events_to_worker(self, worker: int, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        """Send events to another worker of this instance; the ones to process here."""
        if worker in self._gone:
            return events
        frames, kept = frame_events(HOP_WORKER, events)
        for frame, carried in frames:
            if self._local is None:
                kept += carried
                continue
            try:
                self._local.sendto(frame, ("127.0.0.1", self.config.worker_ports[worker]))
            except OSError:  # e.g. the worker is restarting: kept here
                self.stats.failed += 1
                kept += carried
                continue
            self.stats.events_to_workers += len(carried)
        return kept

    def _send(self, sock: socket.socket | None, frame: bytes) -> bool:
        if sock is None:
            return False
        try:
            sock.send(frame)
        except OSError:
            self.stats.failed += 1
            return False
        return True

    # -- receiving ---------------------------------------------------------------------------------

    def _read_listen(self) -> None:
        assert self._listen is not None
        now = time.time()
        events: list[tuple[str, Event]] = []
        try:
            for _ in range(_DRAIN):
                try:
                    frame, addr = self._listen.recvfrom(_MAX_FRAME)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if frame[:4] == PING:
                    if not self._leaving:
                        with contextlib.suppress(OSError):
                            self._listen.sendto(PONG + frame[4:], addr)
                elif frame[:4] == BYE:
                    self._peer_bye(frame[4:].decode("utf-8", "replace"))
                    self._to_siblings(frame)  # they are sent it too, by us: one of us gets a peer's datagram
                elif frame[:4] == BYE_ACK:
                    if self._answered(frame):
                        self._to_siblings(frame)  # the answer came to us; it is for each of us
                elif frame[:4] == EVENTS_MAGIC:
                    # From another instance: this instance owns these streams; to each one's worker.
                    events += self._events_from(frame, HOP_INSTANCE)
                else:
                    self._chunk_from_instance(frame, now)
        finally:
            if events:
                self._deliver_events(self._to_owner_workers(events), now)

    def _events_from(self, frame: bytes, hop: int) -> list[tuple[str, Event]]:
        parsed = parse_events(frame)
        if parsed is None or parsed[0] != hop or self.deliver_events is None:
            self.stats.invalid += 1
            return []
        self.stats.events_received += len(parsed[1])
        return parsed[1]

    def _to_owner_workers(self, events: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        """Events this instance owns, to their worker; the ones to process here."""
        if self.workers == 1:
            return events
        by_worker: dict[int, list[tuple[str, Event]]] = {}
        for key, event in events:
            by_worker.setdefault(owner_worker(key.encode(), self.workers), []).append((key, event))
        ours = by_worker.pop(self.worker, [])
        for worker, group in by_worker.items():
            ours += self._events_to_worker(worker, group)
        return ours

    def _deliver_events(self, events: list[tuple[str, Event]], now: float) -> None:
        if events and self.deliver_events is not None:
            self.deliver_events(events, now)

    def _chunk_from_instance(self, frame: bytes, now: float) -> None:
        parsed = parse_forward(frame)
        if parsed is None or parsed[0] != HOP_INSTANCE:
            self.stats.invalid += 1
            return
        _, source, datagram, received = parsed
        self.stats.received += 1
        # From another instance: this instance owns it; pick the worker, never send it on elsewhere.
        if not self._to_owner_worker(datagram, source, received):
            self.deliver(datagram, source, received)

    def _read_local(self) -> None:
        assert self._local is not None
        now = time.time()
        events: list[tuple[str, Event]] = []
        try:
            for _ in range(_DRAIN):
                try:
                    frame, addr = self._local.recvfrom(_MAX_FRAME)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if frame[:4] == EVENTS_MAGIC:
                    events += self._events_from(frame, HOP_WORKER)
                    continue
                if frame[:4] in (BYE, BYE_ACK, HELLO):
                    self._from_sibling(frame, addr)
                    continue
                parsed = parse_forward(frame)
                if parsed is None:
                    self.stats.invalid += 1
                    continue
                self.stats.received += 1
                self.deliver(parsed[2], parsed[1], parsed[3])
        finally:
            self._deliver_events(events, now)

    def _read_peer(self, peer: _Peer) -> None:
        assert peer.sock is not None
        while True:
            try:
                reply = peer.sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable surfaces here: the peer is down
                return
            if reply[:4] == PONG:
                peer.last_pong = time.time()
                if not peer.up:
                    peer.up = True
                    logger.info("peer %s answers: it owns its share of chunked messages", peer.name)

    def _peer_leaves(self, name: str) -> None:
        for peer in self.peers:
            if peer.name == name and peer.up:
                peer.up = False
                peer.last_pong = float("-inf")
                logger.info("peer %s stops: its chunks and streams are kept here until it answers again", name)

    def _peer_bye(self, name: str) -> None:
        """A peer stops (its BYE reached us, or a sibling passed it on): from now on its share is ours, and
        we tell it so, the way our chunks and events to it go (so the answer arrives after them)."""
        self._peer_leaves(name)
        for peer in self.peers:
            if peer.name == name and peer.sock is not None:
                with contextlib.suppress(OSError):
                    peer.sock.send(bye_ack(self.worker, self.workers, self.name))

    def _from_sibling(self, frame: bytes, addr: tuple[str, int]) -> None:
        kind = frame[:4]
        if kind == BYE_ACK:
            self._answered(frame)
            return
        if kind == BYE and frame[4:] != self.name.encode():  # a peer's BYE, passed on
            self._peer_bye(frame[4:].decode("utf-8", "replace"))
            return
        try:
            worker = self.config.worker_ports.index(addr[1])
        except ValueError:
            self.stats.invalid += 1
            return
        if kind == HELLO:
            self._gone.discard(worker)
        elif kind == BYE:  # that worker stops: its share is kept here from now on, and it is told so
            self._gone.add(worker)
            self._to_sibling(worker, bye_ack(self.worker, self.workers, self.name))

    def _answered(self, frame: bytes) -> bool:
        """Note an answer to our BYE; whether it came from a peer (then our siblings are told too)."""
        parsed = parse_bye_ack(frame)
        if parsed is None:
            self.stats.invalid += 1
            return False
        worker, workers, instance = parsed
        if instance == self.name:
            self._unanswered_workers.discard(worker)
            return False
        self._answers.setdefault(instance, set()).add(worker)
        self._peer_workers[instance] = workers
        return True

    def _to_sibling(self, worker: int, frame: bytes) -> None:
        if self._local is not None:
            with contextlib.suppress(OSError):
                self._local.sendto(frame, ("127.0.0.1", self.config.worker_ports[worker]))

    def _to_siblings(self, frame: bytes) -> None:
        if self._local is not None:
            for worker in range(self.workers):
                if worker != self.worker:
                    self._to_sibling(worker, frame)

    def leave(self) -> None:
        """This worker stops: tell the peers and the other workers, so they stop sending us chunks and
        events now rather than after PEER_TIMEOUT. Each answers once it will send us nothing more
        (``settled``); what they sent before is read until close (``drain``)."""
        self._leaving = True
        self._unanswered_peers = {peer.name for peer in self.peers if peer.up and peer.sock is not None}
        if self._local is not None:
            self._unanswered_workers = set(range(self.workers)) - self._gone - {self.worker}
        for peer in self.peers:
            if peer.sock is not None:
                with contextlib.suppress(OSError):
                    peer.sock.send(BYE + self.name.encode())
        self._to_siblings(BYE + self.name.encode())

    def _peers_to_answer(self) -> list[str]:
        """The peers that were up when we said BYE and not all of whose workers have answered (how many a
        peer has, its first answer says)."""
        return [name for name in sorted(self._unanswered_peers)
                if len(self._answers.get(name, ())) < self._peer_workers.get(name, 1 << 16)]

    @property
    def settled(self) -> bool:
        """Every worker of this instance, and every worker of every peer that was up, answered our BYE."""
        return not self._unanswered_workers and not self._peers_to_answer()

    def unsettled(self) -> str:
        """Who has not answered our BYE, for the log."""
        return ", ".join([f"worker {w}" for w in sorted(self._unanswered_workers)]
                         + [f"peer {name} ({len(self._answers.get(name, ()))} of its workers answered)"
                            for name in self._peers_to_answer()])

    def drain(self) -> None:
        """Read what is waiting on the forwarding sockets, now."""
        for _ in range(64):
            before = self.stats.received + self.stats.events_received
            if self._listen is not None:
                self._read_listen()
            if self._local is not None:
                self._read_local()
            if self.stats.received + self.stats.events_received == before:
                return

    def tick(self, now: float) -> None:
        if not self.peers or now - self._last_ping < PING_INTERVAL:
            return
        self._last_ping = now
        for peer in self.peers:
            if peer.up and now - peer.last_pong >= PEER_TIMEOUT:
                peer.up = False
                logger.warning("peer %s does not answer: its chunks are kept here until it does", peer.name)
            if (not peer.up and not peer.looking_up and now - peer.last_lookup >= RESOLVE_INTERVAL
                    and not is_ip_address(peer.address.host) and self._loop is not None):
                peer.looking_up = True
                peer.last_lookup = now
                self._lookups.add(task := self._loop.create_task(self._look_up(peer)))
                task.add_done_callback(self._lookups.discard)
            self._send_ping(peer)

    def _send_ping(self, peer: _Peer) -> None:
        if peer.sock is not None and not self._leaving:
            with contextlib.suppress(OSError):
                peer.sock.send(PING + self.name.encode())

    def close(self) -> None:
        for task in self._lookups:
            task.cancel()
        for sock in [self._listen, self._local, *(p.sock for p in self.peers)]:
            if sock is not None and sock.fileno() != -1:
                if self._loop is not None:
                    self._loop.remove_reader(sock.fileno())
                sock.close()
