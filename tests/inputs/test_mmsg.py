"""recvmmsg through ctypes (inputs/mmsg.py) on real loopback sockets: every datagram, byte for byte and in
order, with its sender and (SO_TIMESTAMPNS) its kernel receive time; and the UDP input reading with it
hands over what reading with recvfrom does."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from gelfingest.inputs.mmsg import VLEN, MultiReceiver
from gelfingest.inputs.udp import UdpInput
from gelfingest.net import Address

pytestmark = pytest.mark.skipif(not MultiReceiver.available(), reason="recvmmsg is Linux's")


def pair(family: socket.AddressFamily, host: str, timestamps: bool) -> tuple[socket.socket, socket.socket]:
    receiver = socket.socket(family, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if timestamps:
        receiver.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", 35), 1)
    receiver.bind((host, 0))
    receiver.setblocking(False)
    sender = socket.socket(family, socket.SOCK_DGRAM)
    sender.bind((host, 0))
    sender.connect(receiver.getsockname()[:2])
    return receiver, sender


@pytest.fixture(autouse=True, scope="module")
def _kernel_timestamps_on() -> Iterator[None]:
    """Linux turns receive timestamps on for the whole machine while some socket asks for them, a moment
    after the first does (and off once the last closes): a datagram received meanwhile is stamped when it
    is read. One such socket stays open through these tests, as a daemon's does."""
    receiver, sender = pair(socket.AF_INET, "127.0.0.1", timestamps=True)
    with receiver, sender:
        sender.send(b"first")
        time.sleep(0.05)
        receiver.recvmsg(64, 64)
        yield


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
@pytest.mark.parametrize("timestamps", [False, True])
def test_every_datagram_with_its_sender_and_time(family: socket.AddressFamily, host: str, timestamps: bool) -> None:
    receiver, sender = pair(family, host, timestamps)
    with receiver, sender:
        sizes = [0, 1, 1420, 8000, 65_507 if family == socket.AF_INET else 65_000]  # the largest IPv4 payload
        sent = [bytes([k % 251]) * sizes[k % len(sizes)] for k in range(VLEN * 2 + 7)]
        before = time.time()
        for data in sent:
            sender.send(data)
        after = time.time()
        multi = MultiReceiver(receiver, timestamps=timestamps)
        got: list[bytes] = []
        calls = []
        while True:
            datagrams, sources, stamps, drained = multi.receive()
            calls.append(len(datagrams))
            got += datagrams
            assert set(sources) <= {host}
            if timestamps:
                assert stamps is not None and len(stamps) == len(datagrams)
                assert all(before - 0.01 <= t <= after + 0.01 for t in stamps), (before, stamps[:3], after)
                assert stamps == sorted(stamps)
            else:
                assert stamps is None
            if drained:
                break
        assert got == sent  # byte for byte, in order, the empty one too
        assert calls[:2] == [VLEN, VLEN] and calls[-1] < VLEN


def test_the_udp_input_hands_over_with_recvmmsg_what_it_does_with_recvfrom() -> None:
    asyncio.run(_both_readers())


async def _both_readers() -> None:
    loop = asyncio.get_running_loop()
    bursts: dict[str, list[tuple[list[bytes], list[str], list[float] | None]]] = {}
    for reader in ("recvmmsg", "recvfrom"):
        for stamped in (False, True):
            name = f"{reader} {stamped}"
            bursts[name] = []
            udp = UdpInput(Address("127.0.0.1", 0), 4 << 20,
                           lambda d, s, _now, t=None, name=name: bursts[name].append((d, s, t)),
                           kernel_timestamps=stamped, reader=reader)
            udp.start(loop)
            assert udp.reads_with == (reader if reader == "recvmmsg" else "recvmsg" if stamped else "recvfrom")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for k in range(1000):
                    s.sendto(b"datagram %d" % k, ("127.0.0.1", udp.bound.port))
            deadline = time.monotonic() + 5
            while sum(len(b[0]) for b in bursts[name]) < 1000:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            udp.close()
    for name, taken in bursts.items():
        assert [d for b in taken for d in b[0]] == [b"datagram %d" % k for k in range(1000)], name
        assert {s for b in taken for s in b[1]} == {"127.0.0.1"}
        stamps = [t for b in taken for t in (b[2] or [])]
        assert (len(stamps) == 1000) == name.endswith("True") and stamps == sorted(stamps), name
    # With recvmmsg and timestamps, bursts are many datagrams each, as without (not one each, as before).
    assert max(len(b[0]) for b in bursts["recvmmsg True"]) > 1
