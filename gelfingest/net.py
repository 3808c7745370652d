"""Socket helpers, in one place: addresses, their family, receive buffers and free ports.

Every input, the chunk forwarder, the supervisor and the local Elasticsearch launcher take these from
here, so that a fix (such as forcing a receive buffer past ``net.core.rmem_max``) reaches them all.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from dataclasses import dataclass
from typing import Final

# The largest UDP payload is 65,507 bytes (IPv4); a receive of this size always takes a whole datagram.
MAX_UDP_PAYLOAD: Final = 65535
# SO_RCVBUFFORCE: as root, a receive buffer past net.core.rmem_max. Python's socket module does not name
# it (it is 33 on Linux); without it a root daemon got rmem_max (often 4 MiB, doubled by the kernel)
# instead of the buffer it asked for.
SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address | None:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` (all interfaces) or ``off``."""
    text = text.strip()
    if text.lower() in ("off", "none", "false", ""):
        return None
    m = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<p1>\d+)|(?P<host>[^:\[\]]*):(?P<p2>\d+)", text)
    if not m:
        raise ValueError(f"expected HOST:PORT or off, got {text!r}")
    host = m["v6"] or m["host"] or "0.0.0.0"
    port = int(m["p1"] or m["p2"])
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return Address(host, port)


def bound_address(server: asyncio.Server) -> Address:
    """Where a listening server is bound (its first socket): the port it got when asked for port 0."""
    host, port = server.sockets[0].getsockname()[:2]
    return Address(host, port)


def family(host: str) -> socket.AddressFamily:
    """The family of a host to bind or connect to: IPv6 for an address with a colon, else IPv4."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for ``size`` bytes of receive buffer, past net.core.rmem_max when we may (root); return what the
    kernel gave, as it counts it (twice what is asked, for its own bookkeeping)."""
    try:
        if SO_RCVBUFFORCE is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def free_ports(count: int, kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports on ``host`` that nothing is bound to (now), for sockets of ``kind``."""
    socks = [socket.socket(family(host), kind) for _ in range(count)]
    try:
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing is bound to (now): TCP by default, UDP with ``socket.SOCK_DGRAM``."""
    return free_ports(1, kind, host)[0]


def resolve_port(address: Address, kind: int = socket.SOCK_DGRAM) -> Address:
    """Port 0 means "any": pick one now, so that several processes (the workers) bind the same one."""
    if address.port:
        return address
    return Address(address.host, free_port(kind, address.host))
