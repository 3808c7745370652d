"""The frames in which chunks travel between workers and instances (our own format, not GELF).

    magic (4) | hop (1) | length of source address (1) | source address | the original datagram

hop 0: from another instance (the receiver picks its owner worker); hop 1: to the owner worker itself.
PING and PONG, followed by the sender's name, tell a peer is alive (fleet/forwarding.py).
"""

from __future__ import annotations

from typing import Final

FORWARD_MAGIC: Final = b"GIFW"
PING: Final = b"GIPI"
PONG: Final = b"GIPO"
HOP_INSTANCE: Final = 0
HOP_WORKER: Final = 1


def frame_forward(hop: int, source: str, datagram: bytes) -> bytes:
    src = source.encode()
    return FORWARD_MAGIC + bytes((hop, len(src))) + src + datagram


def parse_forward(frame: bytes) -> tuple[int, str, bytes] | None:
    """(hop, source, datagram) of a forwarding frame, or None when it is not one."""
    if len(frame) < 6 or frame[:4] != FORWARD_MAGIC:
        return None
    hop, n = frame[4], frame[5]
    if hop not in (HOP_INSTANCE, HOP_WORKER) or len(frame) < 6 + n:
        return None
    try:
        source = frame[6 : 6 + n].decode("ascii")
    except UnicodeDecodeError:
        return None
    return hop, source, frame[6 + n :]
