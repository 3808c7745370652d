"""The socket helpers: addresses, and receive buffers forced past net.core.rmem_max where we may."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from gelfingest.config import load_config
from gelfingest.fleet.forwarding import RECEIVE_BUFFER, ChunkForwarder
from gelfingest.net import Address, free_port, free_ports, resolve_port, set_receive_buffer
from tests.helpers import free_udp_port

RMEM_MAX = int(Path("/proc/sys/net/core/rmem_max").read_text())


def expected_buffer(size: int) -> int:
    """What the kernel reports for a receive buffer of ``size`` (it doubles what it is given): as root the
    size asked for, else no more than net.core.rmem_max."""
    return 2 * (size if os.geteuid() == 0 else min(size, RMEM_MAX))


def test_a_receive_buffer_past_rmem_max_is_forced_as_root() -> None:
    size = RMEM_MAX * 2
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert set_receive_buffer(sock, size) == expected_buffer(size)


def test_the_forwarding_sockets_get_the_buffer_asked_for() -> None:
    """They used to ask with getattr(socket, "SO_RCVBUFFORCE", SO_RCVBUF), a name Python does not define:
    so even as root they were capped at rmem_max."""
    async def scenario() -> None:
        config = load_config(["--workers", "2", "--worker-ports", f"{free_udp_port()},{free_udp_port()}",
                              "--chunk-forward", f"127.0.0.1:{free_udp_port()}", "--advertise", "127.0.0.1:1"], {})
        forwarder = ChunkForwarder(config, lambda data, source, now: None)
        forwarder.start(asyncio.get_running_loop())
        try:
            assert forwarder.effective_buffer == expected_buffer(RECEIVE_BUFFER)
        finally:
            forwarder.close()

    asyncio.run(scenario())


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(3, socket.SOCK_DGRAM)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", free_port()))


def test_port_zero_is_resolved_once_and_a_given_port_kept() -> None:
    assert resolve_port(Address("127.0.0.1", 12345)) == Address("127.0.0.1", 12345)
    picked = resolve_port(Address("127.0.0.1", 0))
    assert picked.host == "127.0.0.1" and picked.port > 0
