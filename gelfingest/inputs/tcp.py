"""The GELF TCP input: connections cut into frames by the pure Deframer, each frame one message.

Bounded everywhere: at most ``max_connections`` at once (more are closed at once and counted), a frame
cap per connection (the Deframer's), a frame that takes longer than ``frame_timeout`` to arrive whole
closes its connection (a client trickling a byte a second), idle connections closed after
``idle_timeout`` (which also ends half-open ones, with TCP keepalive underneath), and when the queue
towards Elasticsearch is full every connection stops being read, so the senders' own buffers and TCP flow
control take the pressure. What breaks a bound is handed to ``on_reject`` with its reason, to be counted
and logged like a bad message. With an SSL context the input speaks TLS.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.framing import Deframer, Framing
from gelfingest.core.rejects import RejectHandler, ignore_rejection
from gelfingest.inputs.base import RECEIVED_HELP, Input
from gelfingest.inputs.tls import HANDSHAKE_TIMEOUT
from gelfingest.net import Address, bound_address

if TYPE_CHECKING:
    from gelfingest.metrics import SnapshotBuilder

logger = logging.getLogger(__name__)

# Called with the frames a read completed, the peer's address and the time.
FramesHandler = Callable[[list[bytes], str, float], None]


@dataclass(slots=True)
class TcpStats:
    connections: int = 0
    refused_connections: int = 0
    idle_closed: int = 0
    frame_timeouts: int = 0
    frames: int = 0
    bytes: int = 0
    oversize_frames: int = 0
    # Partial frames in connections we closed at shutdown (the sender was mid-message).
    cut_at_shutdown: int = 0


class _Connection(asyncio.Protocol):
    def __init__(self, owner: TcpInput) -> None:
        self.owner = owner
        self.deframer = Deframer(owner.framing, owner.max_frame)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.last_active = time.monotonic()
        # When the frame now in the buffer started to arrive (None: the buffer is empty).
        self.frame_started: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        owner = self.owner
        if len(owner.connections) >= owner.max_connections:
            owner.stats.refused_connections += 1
            peer = transport.get_extra_info("peername")
            owner.on_reject(GelfError(Reason.TOO_MANY_CONNECTIONS, f"{owner.max_connections} connections open "
                                      f"on {owner.name} already"), peer[0] if peer else "", time.time())
            transport.abort()
            return
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        owner.connections.add(self)
        owner.stats.connections += 1
        if owner.paused:
            transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.last_active = now_mono = time.monotonic()
        stats = self.owner.stats
        stats.bytes += len(data)
        deframer = self.deframer
        before = deframer.oversize
        frames = deframer.feed(data)
        if deframer.oversize != before:
            stats.oversize_frames += deframer.oversize - before
            self.owner.on_reject(GelfError(Reason.FRAME_TOO_LARGE, f"a frame over {deframer.max_frame} bytes "
                                           f"(skipped up to its terminator)"), self.peer, time.time())
        if deframer.buffered or deframer.skipping:
            if self.frame_started is None or frames:
                self.frame_started = now_mono
        else:
            self.frame_started = None
        if frames:
            stats.frames += len(frames)
            self.owner.on_frames(frames, self.peer, time.time())

    def eof_received(self) -> bool:
        rest = self.deframer.close()
        if rest is not None:
            self.owner.stats.frames += 1
            self.owner.on_frames([rest], self.peer, time.time())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.connections.discard(self)


# At shutdown, connections are read on while they are busy, at most this long, so what senders have
# already written is taken rather than cut.
SHUTDOWN_GRACE = 1.0


class TcpInput(Input):
    shut_rank = 1
    reads = True

    def __init__(self, address: Address, on_frames: FramesHandler, *, framing: Framing, max_frame: int,
                 idle_timeout: float, max_connections: int, reuse_port: bool = False,
                 frame_timeout: float, on_reject: RejectHandler = ignore_rejection,
                 ssl_context: ssl.SSLContext | None = None, name: str = "tcp") -> None:
        self.name = name
        self.address = address
        self.on_frames = on_frames
        self.on_reject = on_reject
        self.frame_timeout = frame_timeout
        self.ssl_context = ssl_context
        self.framing = framing
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.reuse_port = reuse_port
        self.connections: set[_Connection] = set()
        self.stats = TcpStats()
        self.paused = False
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> Address:
        assert self._server is not None
        return bound_address(self._server)

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._server = await loop.create_server(
            lambda: _Connection(self), self.address.host, self.address.port, reuse_port=self.reuse_port or None,
            backlog=1024, ssl=self.ssl_context,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self.ssl_context is not None else None)

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            for conn in self.connections:
                if conn.transport is not None:
                    conn.transport.pause_reading()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            now = time.monotonic()
            for conn in self.connections:
                if conn.frame_started is not None:
                    conn.frame_started = now  # the time we did not read was ours
                if conn.transport is not None and not conn.transport.is_closing():
                    conn.transport.resume_reading()

    def sweep(self) -> None:
        """Close connections that sent nothing for idle_timeout (and half-open ones, which look the same)."""
        if self.paused:
            return  # while we do not read, silence is ours, not theirs
        now = time.monotonic()
        deadline = now - self.idle_timeout
        frame_deadline = now - self.frame_timeout
        for conn in list(self.connections):
            if conn.last_active < deadline:
                self.stats.idle_closed += 1
            elif conn.frame_started is not None and conn.frame_started < frame_deadline:
                self.stats.frame_timeouts += 1
                self.on_reject(GelfError(Reason.FRAME_TIMEOUT, f"a frame still incomplete after "
                                         f"{self.frame_timeout:.0f} s ({conn.deframer.buffered} bytes); "
                                         f"connection closed"), conn.peer, time.time())
            else:
                continue
            self.connections.discard(conn)
            if conn.transport is not None:
                conn.transport.close()

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        await self.start(loop)

    async def shut(self, force: bool) -> None:
        await self.close(0.0 if force else SHUTDOWN_GRACE)

    def describe(self) -> str:
        return f"{self.name}={self.bound} ({self.framing} framing{' TLS' if self.ssl_context else ''})"

    def report(self, b: SnapshotBuilder) -> None:
        t, label = self.stats, self.label
        b.counter("gelfingest_received", RECEIVED_HELP, t.frames, input=label)
        b.counter("gelfingest_received_bytes", "Bytes received, by input", t.bytes, input=label)
        b.counter("gelfingest_tcp_connections", "TCP connections accepted", t.connections, input=label)
        b.counter("gelfingest_tcp_connections_refused", "TCP connections over the limit", t.refused_connections,
                  input=label)
        b.counter("gelfingest_tcp_oversize_frames", "TCP frames over the cap, skipped", t.oversize_frames,
                  input=label)

    def totals(self) -> str:
        t = self.stats
        return (f"; {self.name}: {t.connections} connections ({t.refused_connections} refused, {t.idle_closed} "
                f"closed idle, {t.frame_timeouts} closed mid-frame), {t.frames} frames, {t.bytes} bytes, "
                f"{t.oversize_frames} oversize frames skipped, {t.cut_at_shutdown} partial frames cut at shutdown")

    async def close(self, grace: float = 0.0) -> None:
        """Stop accepting; keep reading open connections while they are busy, at most ``grace`` s (so what
        senders already wrote is taken), then close them. A partial frame we cut is counted, not parsed."""
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + grace
        while not self.paused and time.monotonic() < deadline and any(
                c.last_active > time.monotonic() - 0.1 for c in self.connections):
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            if conn.transport is not None:
                if conn.deframer.close() is not None:
                    self.stats.cut_at_shutdown += 1
                conn.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
