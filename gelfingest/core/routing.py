"""Which worker of which instance owns a chunked message: rendezvous hashing on the message id.

A per-datagram balancer (nginx round robin) and SO_REUSEPORT scatter the chunks of one message over
instances and workers. Every receiver computes the same owner for a message id, forwards chunks it does
not own to that owner, and the owner alone reassembles. Rendezvous (highest-random-weight) hashing picks
the owner among the members alive now; when a member goes, only its messages move. The chunks travel in
forward_frames.py's frames.

Two levels: first the instance (among this one and the peers that answer), then the worker within it
(all workers of an instance are assumed up; the supervisor restarts the ones that die).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable


def _weight(member: bytes, message_id: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(message_id, key=member, digest_size=8).digest(), "big")


def rendezvous(message_id: bytes, members: Iterable[str]) -> str:
    """The member with the highest weight for this id: the same answer wherever it is computed."""
    return max(members, key=lambda m: _weight(m.encode(), message_id))


def owner_worker(message_id: bytes, workers: int) -> int:
    if workers == 1:
        return 0
    return int(rendezvous(message_id, (f"worker-{k}" for k in range(workers))).rsplit("-", 1)[1])


def is_ip_address(text: str) -> bool:
    """An IPv4 or IPv6 address as text, rather than a name to look up (a peer's host, a sender's address)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
