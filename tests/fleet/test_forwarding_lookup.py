"""Peers named by host name: looked up in the background, again while they do not answer, reconnected
when their address changes (a container recreated by compose). The resolver is ours to steer; the peer
is a real UDP socket answering pings."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from gelfingest.config import Config
from gelfingest.core.forward_frames import PING, PONG
from gelfingest.fleet.forwarding import RESOLVE_INTERVAL, ChunkForwarder
from gelfingest.net import Address


def test_a_peer_by_name_is_found_after_a_failed_lookup_and_followed_to_its_new_address() -> None:
    asyncio.run(_scenario())


async def _scenario() -> None:
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    port = peer.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                data, addr = peer.recvfrom(1024)
            except BlockingIOError:
                return
            if data[:4] == PING:
                peer.sendto(PONG + data[4:], addr)

    loop.add_reader(peer.fileno(), answer)
    answers: list[Any] = [socket.gaierror(-2, "Name or service not known"), "127.0.0.3", "127.0.0.1"]
    looked_up: list[str] = []

    async def getaddrinfo(host: str, port_: int, **_: Any) -> list[Any]:
        looked_up.append(host)
        answer_ = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer_, Exception):
            raise answer_
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", (answer_, port_))]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
    config = Config(chunk_forward=Address("127.0.0.1", 0), advertise="me:1",
                    peers=(Address("peer.test", port),))
    forwarder = ChunkForwarder(config, lambda *_: None)
    forwarder.start(loop)
    (p,) = forwarder.peers
    try:
        now = 1000.0
        assert p.sock is None  # nothing looked up at start: a name that does not resolve yet is no error
        for expected_ip in ("", "127.0.0.3", "127.0.0.1"):
            forwarder.tick(now)
            await asyncio.sleep(0.2)
            assert p.ip == expected_ip
            now += RESOLVE_INTERVAL
        forwarder.tick(now)
        await asyncio.sleep(0.2)
        assert p.up and p.sock is not None and p.sock.getpeername() == ("127.0.0.1", port)
        assert looked_up == ["peer.test"] * 3
        # An answering peer is not looked up again.
        forwarder.tick(now + 3 * RESOLVE_INTERVAL)
        await asyncio.sleep(0.1)
        assert looked_up == ["peer.test"] * 3
    finally:
        forwarder.close()
        loop.remove_reader(peer.fileno())
        peer.close()


def test_a_peer_by_address_is_connected_at_start_without_a_lookup() -> None:
    host = "127.0.0.1"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        looked_up: list[str] = []

        async def getaddrinfo(host_: str, *_: Any, **__: Any) -> list[Any]:
            looked_up.append(host_)
            return []

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign,assignment]
        config = Config(chunk_forward=Address("127.0.0.1", 0), advertise="me:1", peers=(Address(host, 9),))
        forwarder = ChunkForwarder(config, lambda *_: None)
        forwarder.start(loop)
        try:
            assert forwarder.peers[0].sock is not None
            assert forwarder.peers[0].sock.getpeername() == (host, 9)
            forwarder.tick(1000.0)  # the peer does not answer: an address is still never looked up
            await asyncio.sleep(0.1)
            assert looked_up == []
        finally:
            forwarder.close()
    asyncio.run(run())
