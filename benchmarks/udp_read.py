"""What reading a datagram costs, and what the kernel charges a waiting one.

    .venv/bin/python -m benchmarks.udp_read [--datagrams 20000] [--runs 3]

1. CPU time per datagram of draining a loopback socket that holds ``--datagrams`` of 350 bytes, with each
   reader the UDP input has (inputs/udp.py, inputs/mmsg.py): recvfrom, recvmmsg, recvmsg with
   SO_TIMESTAMPNS (clock mode without recvmmsg) and recvmmsg with it. Best of ``--runs``.
2. The receive buffer a waiting datagram takes, as the kernel counts it (``rx_queue`` in /proc/net/udp,
   divided by the datagrams): for the suite's own mixed traffic (benchmarks/traffic.py), left unread. That
   figure says how large a burst ``--udp-receive-buffer`` holds (docs/performance.md, "Bursts").
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks.traffic import udp_datagrams
from gelfingest.inputs.mmsg import MultiReceiver
from gelfingest.net import MAX_UDP_PAYLOAD, set_receive_buffer

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")


def receiver(timestamps: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_receive_buffer(sock, 256 << 20)
    if timestamps:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def drain_recvfrom(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            sock.recvfrom(MAX_UDP_PAYLOAD)
        except BlockingIOError:
            return n
        n += 1


def drain_recvmsg(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            _, ancillary, _, _ = sock.recvmsg(MAX_UDP_PAYLOAD, 64)
        except BlockingIOError:
            return n
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                _TIMESPEC.unpack_from(value)
        n += 1


def drainer_mmsg(sock: socket.socket, timestamps: bool) -> Callable[[socket.socket], int]:
    multi = MultiReceiver(sock, timestamps=timestamps)

    def drain(_sock: socket.socket) -> int:
        n = 0
        while True:
            datagrams, _, _, drained = multi.receive()
            n += len(datagrams)
            if drained:
                return n
    return drain


def per_datagram(count: int, runs: int, timestamps: bool, make: Callable[[socket.socket], Callable[[socket.socket],
                                                                                                     int]]) -> float:
    sock = receiver(timestamps)
    drain = make(sock)
    payload, target = b"x" * 350, sock.getsockname()
    best = float("inf")
    with sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(runs):
            for _ in range(count):
                sender.sendto(payload, target)
            time.sleep(0.05)
            start = time.process_time()
            got = drain(sock)
            took = time.process_time() - start
            assert got == count, (got, count)  # nothing dropped: the buffer held them all
            best = min(best, took / got * 1e6)
    return best


def charged_per_datagram(events: int) -> tuple[int, float]:
    datagrams = udp_datagrams(events)
    sock = receiver(False)
    port = sock.getsockname()[1]
    with sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for d in datagrams:
            sender.sendto(d, ("127.0.0.1", port))
        time.sleep(0.2)
        with open("/proc/net/udp") as table:
            for line in table:
                fields = line.split()
                if fields[1].endswith(f":{port:04X}"):
                    return len(datagrams), int(fields[4].split(":")[1], 16) / len(datagrams)
    raise RuntimeError("the socket is not in /proc/net/udp")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    readers: list[tuple[str, bool, Callable[[socket.socket], Callable[[socket.socket], int]]]] = [
        ("recvfrom", False, lambda _: drain_recvfrom),
        ("recvmmsg", False, lambda s: drainer_mmsg(s, False)),
        ("recvmsg with SO_TIMESTAMPNS", True, lambda _: drain_recvmsg),
        ("recvmmsg with SO_TIMESTAMPNS", True, lambda s: drainer_mmsg(s, True)),
    ]
    print(f"CPU per datagram, {args.datagrams} of 350 bytes on loopback, best of {args.runs}:")
    for name, timestamps, make in readers:
        if name.startswith("recvmmsg") and not MultiReceiver.available():
            print(f"  {name:30} not available here")
            continue
        print(f"  {name:30} {per_datagram(args.datagrams, args.runs, timestamps, make):6.2f} us", flush=True)
    sent, charged = charged_per_datagram(20_000)
    print(f"receive buffer charged per waiting datagram, the suite's mix ({sent} datagrams): {charged:.0f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
