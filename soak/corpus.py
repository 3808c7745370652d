"""The garbage the soak sends, and what the daemon's own pure core makes of each piece of it.

The expected rejections of the report are not written down by hand: every case of the known-bad corpus
(tests/vectors/bad/, its manifest saying which transports carry it) is fed once, before the run, to a fresh
pure core as the daemon would cut it (datagrams; TCP frames after a NUL Deframer; the messages of an HTTP
body), and its outcomes are then counted once per time it was sent.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from gelfingest.core.errors import GelfError
from gelfingest.core.framing import DEFAULT_MAX_FRAME, Deframer, http_body_messages
from gelfingest.core.ingest import Ingest
from soak import ROOT
from tests.helpers import read_vector

BAD = ROOT / "tests" / "vectors" / "bad"
HTTP_MAX_BODY = 8 * 1024 * 1024  # the daemon's default --http-max-body
# Outcomes of the pure core that are not rejections.
NOT_REJECTED = ("kept", "pending")

Outcome = tuple[Counter[str], Counter[str]]  # (outcomes: reason, "kept" or "pending"), dropped fields by reason


def outcomes(payloads: list[bytes]) -> Outcome:
    """Feed datagrams (or TCP frames, or HTTP lines) to a fresh pure core, in order, as a worker does."""
    ingest = Ingest()
    out: Counter[str] = Counter()
    now = time.time()
    for payload in payloads:
        before = ingest.decoded
        # One at a time, so that each is kept, pending (a chunk) or rejected on its own.
        _, rejected = ingest.take_many([payload], ["127.0.0.1"], now)
        if rejected:
            out[rejected[0][0].reason] += 1
            continue
        out["kept" if ingest.decoded > before else "pending"] += 1
    return out, Counter(dict(ingest.decoder.dropped_fields))


def tcp_outcome(stream: bytes) -> tuple[Outcome, int]:
    """A TCP stream cut as the daemon cuts it (NUL framing): the frames' outcomes, and the frames skipped."""
    deframer = Deframer("nul", DEFAULT_MAX_FRAME)
    frames = deframer.feed(stream)
    return outcomes(frames), deframer.oversize


def http_outcome(body: bytes) -> tuple[int, Outcome]:
    """The status a POST /gelf of this body gets, and the outcomes (a refused body counts under its reason)."""
    try:
        messages = http_body_messages(body, "", HTTP_MAX_BODY)
    except GelfError as err:
        return (413 if err.reason == "decompressed_too_large" else 400), (Counter({err.reason: 1}), Counter())
    if not messages:
        return 400, (Counter({"empty": 1}), Counter())
    result, dropped = outcomes(messages)
    rejected = sum(n for k, n in result.items() if k not in NOT_REJECTED)
    return (400 if rejected else 202), (result, dropped)


def scaled(outcome: Outcome, times: int, into: Outcome) -> None:
    for _ in range(times):
        into[0].update(outcome[0])
        into[1].update(outcome[1])


def load_corpus() -> dict[str, tuple[list[bytes], dict[str, Any]]]:
    manifest = json.loads((BAD / "manifest.json").read_text())
    return {name: (read_vector(f"bad/{name}"), expected) for name, expected in manifest.items()
            if (BAD / f"{name}.dgrams").exists()}


class Plan:
    """The garbage to send, and what the pure core makes of each piece (computed once)."""

    def __init__(self) -> None:
        corpus = load_corpus()
        self.cases = {name: e for name, (_, e) in corpus.items()}
        self.udp = [(name, d) for name, (d, e) in corpus.items() if "udp" in e["transports"]]
        self.udp_outcome = {name: outcomes(d) for name, d in self.udp}
        # TCP: one burst a connection of every case the manifest says TCP carries whole; a payload with a NUL
        # in it (compressed data) cannot be one NUL-ended frame, so those go in the rotation of now-and-then
        # sends with the 1 GiB bombs, cut by the framing into many garbage frames.
        tcp = [(name, b"".join(d)) for name, (d, e) in corpus.items() if "tcp" in e["transports"]]
        clean = [(name, p) for name, p in tcp if b"\0" not in p]
        self.burst_cases = [name for name, _ in clean]
        self.burst = b"".join(p + b"\0" for _, p in clean)
        (self.burst_outcome, _) = tcp_outcome(self.burst)
        bombs = [n for n in ("gzip_bomb_1gib", "zlib_bomb_1gib") if n in corpus]
        with_nul = [name for name, p in tcp if b"\0" in p]
        self.tcp_rotation = [(n, b"".join(corpus[n][0])) for n in dict.fromkeys([*bombs, *with_nul])]
        self.tcp_rotation_outcome = {n: tcp_outcome(p + b"\0")[0] for n, p in self.tcp_rotation}
        http = [(name, b"\n".join(d)) for name, (d, e) in corpus.items() if "http" in e["transports"]]
        self.http = [(n, p) for n, p in http if n not in bombs]
        self.http_rotation = [(n, p) for n, p in http if n in bombs] or [(n, b"".join(corpus[n][0])) for n in bombs]
        self.http_outcome = {n: http_outcome(p) for n, p in [*self.http, *self.http_rotation]}
