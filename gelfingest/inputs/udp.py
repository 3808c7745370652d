"""The UDP input: a socket drained in bursts from the event loop.

asyncio's DatagramProtocol reads one datagram per loop turn, which makes the socket, not the decoder, the
bottleneck; this reader drains the socket until it would block, up to DRAIN_PER_WAKEUP datagrams a wake-up
(docs/performance.md has both rates), with recvmmsg (inputs/mmsg.py) where it can. The input only moves
bytes: each burst is handed over at once, ``on_burst(datagrams, source_ips, now, stamps)`` with one ``now``
per burst and, with kernel timestamps on (clock mode), each datagram's receive time in ``stamps`` (so what
is done per message, decoding to batching, runs in one loop over the burst).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
from typing import TYPE_CHECKING, Final, Protocol

from gelfingest.inputs.base import RECEIVED_HELP, Input
from gelfingest.inputs.mmsg import SO_TIMESTAMPNS, MultiReceiver
from gelfingest.net import MAX_UDP_PAYLOAD, Address, family, set_receive_buffer

if TYPE_CHECKING:
    from gelfingest.metrics import SnapshotBuilder

logger = logging.getLogger(__name__)

# Datagrams read per wake-up before giving the loop back to the timers and the sender.
DRAIN_PER_WAKEUP: Final = 512


class BurstHandler(Protocol):
    """Takes a burst: the datagrams, their senders' addresses, when it was read, and (kernel timestamps on)
    when each was received."""

    def __call__(self, datagrams: list[bytes], sources: list[str], now: float,
                 stamps: list[float] | None = None, /) -> object: ...


_TIMESPEC: Final = struct.Struct("@qq")


class UdpInput(Input):
    shut_rank = 0
    reads = True

    def __init__(self, address: Address, receive_buffer: int, on_burst: BurstHandler,
                 reuse_port: bool = False, kernel_timestamps: bool = False, reader: str = "auto",
                 name: str = "udp") -> None:
        """``kernel_timestamps``: hand each datagram the time the kernel received it (for clock-mode
        sequences) besides the burst's ``now``. ``reader``: recvmmsg (inputs/mmsg.py, many datagrams a
        system call), recvfrom (recvmsg with timestamps: one a call), or auto (recvmmsg where it works)."""
        self.name = name
        self.reader = reader
        self._multi: MultiReceiver | None = None
        self.address = address
        self.reuse_port = reuse_port
        self.kernel_timestamps = kernel_timestamps
        # True while the last read stopped with datagrams still waiting in the socket (the worker is behind).
        self.behind = False
        self.receive_buffer = receive_buffer
        self.on_burst = on_burst
        self.sock: socket.socket | None = None
        self.effective_buffer = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        self.datagrams = 0
        self.bytes = 0
        self.inode = 0

    @property
    def bound(self) -> Address:
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        return Address(host, port)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        sock = socket.socket(family(self.address.host), socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            # Only with several workers: a second, unrelated gelfingest on the same port must fail.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.effective_buffer = set_receive_buffer(sock, self.receive_buffer)
        if self.kernel_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((self.address.host, self.address.port))
        sock.setblocking(False)
        self.sock = sock
        self.inode = os.fstat(sock.fileno()).st_ino  # finds our row in /proc/net/udp (kernel drops)
        self._loop = loop
        if self.reader != "recvfrom" and MultiReceiver.available():
            self._multi = MultiReceiver(sock, timestamps=self.kernel_timestamps)
        elif self.reader == "recvmmsg":
            logger.warning("recvmmsg is not available here: the UDP input reads with recvfrom")
        loop.add_reader(sock.fileno(), self._read)

    @property
    def reads_with(self) -> str:
        """The system call it reads with."""
        if self._multi is not None:
            return "recvmmsg"
        return "recvmsg" if self.kernel_timestamps else "recvfrom"

    def _read(self) -> bool:
        if self._multi is not None:
            return self._ready_multi()
        return self._ready_stamped() if self.kernel_timestamps else self._ready()

    def pause(self) -> None:
        """Stop reading: the kernel's buffer holds what comes meanwhile (and counts what it drops)."""
        if not self._paused and self._loop is not None and self.sock is not None:
            self._paused = True
            self._loop.remove_reader(self.sock.fileno())

    def resume(self) -> None:
        if self._paused and self._loop is not None and self.sock is not None:
            self._paused = False
            self._loop.add_reader(self.sock.fileno(), self._read)

    def _ready(self) -> bool:
        """Read one burst and hand it over; True when it stopped at the burst cap (more may be waiting)."""
        sock = self.sock
        if sock is None:
            return False
        now = time.time()
        recvfrom = sock.recvfrom
        datagrams: list[bytes] = []
        sources: list[str] = []
        full = True
        for _ in range(DRAIN_PER_WAKEUP):
            try:
                data, addr = recvfrom(MAX_UDP_PAYLOAD)
            except (BlockingIOError, InterruptedError):
                full = False
                break
            except OSError as exc:  # e.g. ICMP errors surfaced on the socket: not ours to stop for
                logger.debug("UDP receive error: %s", exc)
                full = False
                break
            datagrams.append(data)
            sources.append(addr[0])
        return self._hand_over(datagrams, sources, full, now)

    def _hand_over(self, datagrams: list[bytes], sources: list[str], full: bool, now: float | None,
                   stamps: list[float] | None = None) -> bool:
        """Hand a burst over (``now``: when it was read, else now; a stamp of 0.0: no timestamp came with
        that datagram, so it gets ``now``); True when the read stopped at the burst cap."""
        self.behind = full
        if datagrams:
            if now is None:
                now = time.time()
            if stamps is not None and 0.0 in stamps:
                stamps = [t or now for t in stamps]
            self.datagrams += len(datagrams)
            self.bytes += sum(map(len, datagrams))
            self.on_burst(datagrams, sources, now, stamps)
        return full and not self._paused

    def _ready_multi(self) -> bool:
        """As _ready, with recvmmsg: up to DRAIN_PER_WAKEUP datagrams in calls of VLEN."""
        multi = self._multi
        if multi is None or self.sock is None:
            return False
        datagrams: list[bytes] = []
        sources: list[str] = []
        stamps: list[float] | None = [] if self.kernel_timestamps else None
        full = True
        for _ in range(DRAIN_PER_WAKEUP // multi.vlen):
            try:
                got, senders, times, drained = multi.receive()
            except OSError as exc:
                logger.debug("UDP receive error: %s", exc)
                full = False
                break
            datagrams += got
            sources += senders
            if stamps is not None and times is not None:
                stamps += times
            if drained:
                full = False
                break
        return self._hand_over(datagrams, sources, full, None, stamps)

    def _ready_stamped(self) -> bool:
        """As _ready, with each datagram's kernel receive time (``stamps``), in one burst."""
        sock = self.sock
        if sock is None:
            return False
        recvmsg = sock.recvmsg
        datagrams: list[bytes] = []
        sources: list[str] = []
        stamps: list[float] = []
        full = True
        unpack, level, kind, size = _TIMESPEC.unpack_from, socket.SOL_SOCKET, SO_TIMESTAMPNS, _TIMESPEC.size
        for _ in range(DRAIN_PER_WAKEUP):
            try:
                data, ancillary, _flags, addr = recvmsg(MAX_UDP_PAYLOAD, 64)
            except (BlockingIOError, InterruptedError):
                full = False
                break
            except OSError as exc:
                logger.debug("UDP receive error: %s", exc)
                full = False
                break
            stamp = 0.0
            for cmsg_level, cmsg_kind, value in ancillary:
                if cmsg_level == level and cmsg_kind == kind and len(value) >= size:
                    seconds, nanos = unpack(value)
                    stamp = seconds + nanos * 1e-9
            datagrams.append(data)
            sources.append(addr[0])
            stamps.append(stamp)
        return self._hand_over(datagrams, sources, full, None, stamps)

    def drain(self) -> None:
        """Read what the kernel already holds for us (at shutdown: it reached us, so it is ours)."""
        self._paused = False
        # Bounded: a full receive buffer holds at most effective_buffer / 64 datagrams.
        for _ in range(max(1, self.effective_buffer // 64 // DRAIN_PER_WAKEUP + 1)):
            if not self._read():
                return

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self.start(loop)

    async def shut(self, force: bool) -> None:
        if not force:  # datagrams already in the kernel's buffer reached us, so they are ours
            self.drain()
        self.close()

    def describe(self) -> str:
        return f"{self.name}={self.bound} (receive buffer {self.effective_buffer} bytes, {self.reads_with})"

    def report(self, b: SnapshotBuilder) -> None:
        b.counter("gelfingest_received", RECEIVED_HELP, self.datagrams, input=self.label)
        b.counter("gelfingest_received_bytes", "Bytes received, by input", self.bytes, input=self.label)

    def received(self) -> str:
        return f"{self.name}: {self.datagrams} datagrams ({self.bytes} bytes)"

    def close(self) -> None:
        if self.sock is not None:
            if self._loop is not None and not self._paused:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
