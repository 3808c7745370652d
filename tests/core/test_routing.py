import os
from collections import Counter

from gelfingest.core.forward_frames import HOP_INSTANCE, HOP_WORKER, frame_forward, parse_forward
from gelfingest.core.routing import owner_worker, rendezvous


def test_every_receiver_computes_the_same_owner() -> None:
    members = ["10.0.0.1:12211", "10.0.0.2:12211", "10.0.0.3:12211"]
    for _ in range(200):
        mid = os.urandom(8)
        assert rendezvous(mid, members) == rendezvous(mid, list(reversed(members)))


def test_owners_are_spread_and_only_the_lost_members_share_moves() -> None:
    members = ["a:1", "b:1", "c:1"]
    ids = [os.urandom(8) for _ in range(3000)]
    owners = {mid: rendezvous(mid, members) for mid in ids}
    counts = Counter(owners.values())
    assert all(800 < n < 1200 for n in counts.values()), counts
    after = {mid: rendezvous(mid, ["a:1", "c:1"]) for mid in ids}
    moved = [mid for mid in ids if after[mid] != owners[mid]]
    assert all(owners[mid] == "b:1" for mid in moved)


def test_owner_worker_is_within_range_and_balanced() -> None:
    counts = Counter(owner_worker(os.urandom(8), 4) for _ in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 < n < 1200 for n in counts.values()), counts
    assert owner_worker(b"12345678", 1) == 0


def test_forward_frame_round_trip() -> None:
    datagram = b"\x1e\x0f" + os.urandom(10) + b"data"
    for hop in (HOP_INSTANCE, HOP_WORKER):
        frame = frame_forward(hop, "192.168.1.20", datagram, 1_764_000_000.123456)
        assert parse_forward(frame) == (hop, "192.168.1.20", datagram, 1_764_000_000.123456)


def test_garbage_is_not_a_forward_frame() -> None:
    nan = b"GIFW\x00\x01a" + bytes.fromhex("7ff8000000000000") + b"\x1e\x0fdata"
    for frame in (b"", b"GIFW", b"GIFW\x07\x00x", b"GIFW\x00\x50short", b"\x1e\x0f" + bytes(12), nan):
        assert parse_forward(frame) is None
