"""Instructions per event through the pure core, counted by callgrind: the figure that holds where this
machine's timings move more than the effect measured.

    .venv/bin/python -m benchmarks.instructions [--events 2000] [--modes counter clock]
                                                [--inflaters zlib-ng isal] [--kinds small mixed large]

Traffic (encoded once, in this process, into a file the counted processes read):

- ``small``: Docker's small gzip messages (benchmarks/traffic.py, no chunked ones);
- ``mixed``: the suite's traffic, 5 % of it 6-12 KB messages chunked as go-gelf chunks them;
- ``large``: 32 KB messages (stack traces and JSON log lines of benchmarks/large_messages.py), gzipped and
  chunked.

Fed as the UDP input feeds the core with recvmmsg: reads of 64 datagrams, each with its own kernel stamp
20 us after the one before (``Ingest.take_many`` with ``stamps``, so clock mode numbers each event at its
own tick), into the default encoder and batcher.

Each configuration (sequence mode, inflater, traffic) runs twice under ``valgrind --tool=callgrind``, over
N and 2N events after the same warm-up; the difference of the two totals over N is the cost of an event,
with the interpreter's start, the imports and the warm-up taken out. Deterministic for the same binaries
and inputs, whatever else the machine does: the counted processes hash strings with one fixed seed
(``PYTHONHASHSEED=0``), since a random one moved the count by up to 1 % between runs of the same code.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson

from benchmarks.traffic import chunks_of, udp_events
from gelfingest.core.sequence import SequenceMode

READ = 64
STAMP_STEP = 20e-6
WARM_UP = 300
LARGE_KB = 32
INFLATERS = ("zlib-ng", "isal")


def large_events(count: int) -> list[tuple[bytes, ...]]:
    from benchmarks.large_messages import json_text, trace_text

    rng = random.Random(32)
    out = []
    for i in range(count):
        text = (trace_text if i % 2 else json_text)(LARGE_KB * 1024, rng)
        payload = gzip.compress(orjson.dumps({"version": "1.1", "host": "h", "short_message": text, "level": 3,
                                              "_container_name": "app"}), 1)
        out.append(tuple(chunks_of(payload, rng)))
    return out


def traffic(kind: str, events: int) -> list[tuple[bytes, ...]]:
    if kind == "large":
        return large_events(events)
    return udp_events(events, chunked_share=0.0 if kind == "small" else 0.05, seed=7)


def use_inflater(name: str) -> None:
    """Make the core inflate with ``name`` (the counted process only; the core's own is isal)."""
    if name == "zlib-ng":
        from zlib_ng import zlib_ng

        from gelfingest.core import decompress
        setattr(decompress, "zlib", zlib_ng)  # noqa: B010  (the module's private name)
        setattr(decompress, "_INFLATE_ERROR", zlib_ng.error)  # noqa: B010


def child(path: Path, mode: SequenceMode, inflater: str, count: int) -> None:
    """Feed WARM_UP + ``count`` events of the file to a fresh core."""
    from gelfingest.core.ingest import Ingest, IngestSettings

    use_inflater(inflater)
    events: list[tuple[bytes, ...]] = pickle.loads(path.read_bytes())[: WARM_UP + count]
    datagrams = [d for e in events for d in e]
    ingest = Ingest(IngestSettings(sequence_mode=mode, document_id_prefix="AAAAAAAA"))
    now = 1_765_000_000.0
    sources = ["172.17.0.1"] * READ
    for i in range(0, len(datagrams), READ):
        burst = datagrams[i : i + READ]
        stamps = [now + k * STAMP_STEP for k in range(len(burst))]
        now += len(burst) * STAMP_STEP
        ingest.take_many(burst, sources[: len(burst)], now, stamps=stamps)
    ingest.flush()
    assert ingest.decoded == len(events), (ingest.decoded, len(events))


def counted(path: Path, mode: str, inflater: str, count: int) -> int:
    """Instructions callgrind counts for a child over ``count`` events."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
         "benchmarks.instructions", "--child", str(path), mode, inflater, str(count)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    m = re.search(r"Collected : (\d+)", out.stderr)
    assert m, out.stderr[-2000:]
    return int(m[1])


def per_event(path: Path, mode: str, inflater: str, events: int) -> float:
    return (counted(path, mode, inflater, 2 * events) - counted(path, mode, inflater, events)) / events


def measure(kinds: Sequence[str], modes: Sequence[str], inflaters: Sequence[str],
            events: int) -> list[dict[str, object]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            path = Path(tmp) / f"{kind}.pickle"
            path.write_bytes(pickle.dumps(traffic(kind, WARM_UP + 2 * events)))
            for mode, inflater in itertools.product(modes, inflaters):
                n = per_event(path, mode, inflater, events)
                rows.append({"traffic": kind, "mode": mode, "inflater": inflater, "instructions_per_event": round(n)})
                print(f"{kind:<6} {mode:<8} {inflater:<8} {n:>12,.0f} instructions per event", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), "clock" if argv[2] == "clock" else "counter", argv[3], int(argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--modes", nargs="+", choices=("counter", "clock"), default=["counter", "clock"])
    p.add_argument("--inflaters", nargs="+", choices=INFLATERS, default=["zlib-ng"])
    p.add_argument("--kinds", nargs="+", choices=("small", "mixed", "large"), default=["small"])
    args = p.parse_args(argv)
    measure(args.kinds, args.modes, args.inflaters, args.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
