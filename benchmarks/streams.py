"""Container streams (gelfingest/core/streams.py): what reordering, rejoining Docker's 16 KiB pieces and
joining stack traces cost per event, and what a pending stream holds in memory.

    .venv/bin/python -m benchmarks.streams [--containers 200] [--events 75] [--runs 3] [--skip-daemon]

1. **Core cost.** The same Docker-shaped traffic through ``Ingest.take_many`` + ``tick`` + ``flush``, with
   every stream feature off and with (a) the reorder window alone (a rate limit nothing reaches, so streams
   are on and nothing else), (b) ``join_partial``, (c) ``multiline`` java,python,go, (d) all of them. The
   traffic: ``--containers`` containers, each writing what tests/stream_sample.py's ``program_output`` writes
   (ordinary lines, Java, Python and Go traces, 40 KB lines; its 100 KB lines are left out), cut by Docker's
   copier into 16,384-byte pieces (``copier_pieces``), one GELF message a piece with the driver's fields and
   ``_container_id``, interleaved at random over the containers (each container's own order kept), every
   piece of a line stamped with the line's first millisecond. Uncompressed and gzip level 1 (Docker's
   default), chunked as go-gelf chunks (datagrams of 1420 bytes). Fed in bursts of ``--burst`` messages with
   ``now`` advancing ``--rate`` messages a second of simulated time, ``tick`` every 0.1 s of it,
   ``stream_reorder_window`` 0.05 s. CPU time (``time.process_time``) per message offered; the runs of
   each configuration interleaved with the others', the range over ``--runs``. Every run's output is
   checked: with everything on, one document per event the programs meant, nothing cut.
2. **Memory per pending stream.** 10,000 streams each holding one thing: an ordinary line (which might start
   a trace, under ``multiline`` java) or a 16,384-byte piece waiting for the rest of its line
   (``join_partial``). Python's allocations held (tracemalloc: current once held, and peak) and the
   process's RSS (VmRSS before and once held, VmHWM), each case in a fresh process. Then 100,000 distinct
   streams against the default ``max_pending_streams`` (10,000): streams kept and memory, as they come.
3. **The daemon** (``--skip-daemon`` to leave out): one worker, UDP in, the null output, fed the gzip
   traffic by a separate process at ``--daemon-rate`` messages a second, with the stream features off and
   with GELFINGEST_JOIN_PARTIAL=true GELFINGEST_MULTILINE=java,python,go; messages per CPU-second of the
   daemon (tests/harness.py's Daemon, measured as the suite measures).

Prints the figures; the same to --json. About 2-3 minutes on this machine's two shared cores.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import gzip
import json
import os
import pstats
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from benchmarks.measure import RESULTS, ROOT
from benchmarks.traffic import CHUNKED_SIZE, chunks_of, send_udp
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.streams import PIECE_SIZE, Cut
from tests.harness import Daemon, rss_kib
from tests.stream_sample import copier_pieces, program_output

SOURCE = "172.17.0.1"
REORDER_WINDOW = 0.05
TICK = 0.1
# A rate limit no stream reaches: streams on (reordered), nothing else.
UNREACHED_RATE = 10**9
# Distinct programs (program_output is slow to write 40 KB lines: containers share them, each its own id).
PROGRAMS = 25
LONGEST = 50_000  # program_output's 100 KB lines are left out (its 40 KB ones kept)
CONFIGS: dict[str, IngestSettings] = {
    "off": IngestSettings(),
    "reorder only": IngestSettings(stream_rate_limit=UNREACHED_RATE),
    "join_partial": IngestSettings(join_partial=True),
    "multiline java,python,go": IngestSettings(multiline=("java", "python", "go")),
    "all on": IngestSettings(join_partial=True, multiline=("java", "python", "go"),
                             stream_rate_limit=UNREACHED_RATE),
}
DAEMON_STREAMS = {"GELFINGEST_JOIN_PARTIAL": "true", "GELFINGEST_MULTILINE": "java,python,go"}


def settings(base: IngestSettings) -> IngestSettings:
    return replace(base, stream_reorder_window=REORDER_WINDOW, document_id_prefix="Ab3-")


# -- traffic ---------------------------------------------------------------------------------------------

def container_id(k: int) -> str:
    return f"{k:08x}" + "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e"[: 64 - 8]


def gelf(k: int, text: str, timestamp: float) -> bytes:
    """A message of container ``k`` as Docker's gelf driver writes it."""
    cid = container_id(k)
    return orjson.dumps({
        "version": "1.1", "host": "docker-host", "short_message": text, "timestamp": timestamp, "level": 6,
        "_container_id": cid, "_container_name": f"app-{k}", "_image_id": "sha256:0123456789abcdef0123456789",
        "_image_name": "shop:1.4", "_command": "java -jar shop.jar", "_tag": cid[:12],
        "_created": "2026-11-23T08:00:00.123456789Z"})


@dataclass(frozen=True, slots=True)
class Traffic:
    sent: list[float]  # each message's (simulated) send time
    plain: list[tuple[bytes, ...]]  # each message as datagrams (its chunks, or itself)
    gzip: list[tuple[bytes, ...]]
    events: int  # the events the programs meant (a trace one, a long line one)
    traces: int
    long_lines: int
    pieces: int  # messages of exactly 16,384 bytes
    empty: int  # empty messages (Go's empty line after "panic:"; a line ending at a piece's end)
    start: float
    plain_bytes: int
    gzip_bytes: int


def build_traffic(containers: int, events: int, rate: float, seed: int = 1) -> Traffic:
    rng = random.Random(seed)
    programs = []
    for p in range(PROGRAMS):
        out = program_output(f"p{p}", events, seed=p)
        lines = out.data.split(b"\n")
        keep = [line for line in lines if len(line) < LONGEST]
        meant = [e for e in out.events if len(e) < LONGEST]
        long_lines = sum(1 for e in meant if len(e) > PIECE_SIZE)
        programs.append((copier_pieces(b"\n".join(keep)), len(meant), out.traces, long_lines))
    per = [programs[k % PROGRAMS][0] for k in range(containers)]
    order = [k for k, pieces in enumerate(per) for _ in pieces]
    rng.shuffle(order)  # interleaved, each container's own order kept
    cursor = [0] * containers
    stamps: list[dict[int, float]] = [{} for _ in range(containers)]
    start = float(int(time.time()))
    sent, plain, gz = [], [], []
    for m, k in enumerate(order):
        piece, line = per[k][cursor[k]]
        cursor[k] += 1
        at = start + m / rate
        # Every piece of a line carries the line's time (Docker stamps them with the first piece's).
        payload = gelf(k, piece.decode(), stamps[k].setdefault(line, round(at, 3)))
        zipped = gzip.compress(payload, 1)
        sent.append(at)
        plain.append(tuple(chunks_of(payload, rng)) if len(payload) > CHUNKED_SIZE else (payload,))
        gz.append(tuple(chunks_of(zipped, rng)) if len(zipped) > CHUNKED_SIZE else (zipped,))
    pieces = [p for pieces_of in per for p, _ in pieces_of]
    return Traffic(sent, plain, gz, sum(programs[k % PROGRAMS][1] for k in range(containers)),
                   sum(programs[k % PROGRAMS][2] for k in range(containers)),
                   sum(programs[k % PROGRAMS][3] for k in range(containers)),
                   sum(1 for p in pieces if len(p) == PIECE_SIZE), sum(1 for p in pieces if not p), start,
                   sum(len(d) for m in plain for d in m), sum(len(d) for m in gz for d in m))


# -- 1. core cost -------------------------------------------------------------------------------------------

Step = tuple[float, list[bytes] | None]  # (now, datagrams); None: a tick


def schedule(traffic: Traffic, messages: list[tuple[bytes, ...]], burst: int) -> list[Step]:
    """Bursts of ``burst`` messages at the send time of their last, and a tick every TICK seconds between."""
    steps: list[Step] = []
    next_tick = traffic.start + TICK
    for i in range(0, len(messages), burst):
        now = traffic.sent[min(i + burst, len(messages)) - 1]
        while next_tick <= now:
            steps.append((next_tick, None))
            next_tick += TICK
        steps.append((now, [d for m in messages[i : i + burst] for d in m]))
    # Past every timeout (the pieces' 2 s): what the streams hold goes; then flush.
    end = traffic.sent[-1]
    while next_tick <= end + 3.0:
        steps.append((next_tick, None))
        next_tick += TICK
    return steps


@dataclass(frozen=True, slots=True)
class CoreRun:
    cpu_seconds: float
    documents: int
    rejected: int
    ingest: Ingest


def run_core(steps: Sequence[Step], base: IngestSettings) -> CoreRun:
    ingest = Ingest(settings(base))
    sources = [SOURCE] * max(len(d) for _, d in steps if d is not None)
    documents = rejected = 0
    gc.collect()
    t0 = time.process_time()
    for now, datagrams in steps:
        if datagrams is None:
            batches = ingest.tick(now)
        else:
            batches, bad = ingest.take_many(datagrams, sources[: len(datagrams)], now)
            rejected += len(bad)
        documents += sum(len(b) for b in batches)
    last = ingest.flush()
    cpu = time.process_time() - t0
    return CoreRun(cpu, documents + (len(last) if last is not None else 0), rejected, ingest)


def check(name: str, run: CoreRun, traffic: Traffic, messages: int) -> None:
    """A feature that did not do its work would look cheap: each run must come out as it should."""
    streams = run.ingest.streams
    if name == "off":
        assert streams is None
        assert run.documents == messages - traffic.empty and run.rejected == traffic.empty, (run, traffic.empty)
        return
    assert streams is not None
    assert not streams.late and not streams.rate_limited, (streams.late, streams.rate_limited)
    assert not +streams.cut, streams.cut
    if name in ("join_partial", "all on"):
        assert streams.joined_pieces == traffic.long_lines, (streams.joined_pieces, traffic.long_lines)
    if name == "multiline java,python,go":
        assert streams.joined_lines >= traffic.traces, (streams.joined_lines, traffic.traces)
    if name == "all on":
        assert streams.joined_lines == traffic.traces, (streams.joined_lines, traffic.traces)
        assert run.documents == traffic.events, (run.documents, traffic.events)


def core_costs(traffic: Traffic, runs: int, burst: int) -> list[dict[str, Any]]:
    rows = []
    for encoding, messages in (("plain", traffic.plain), ("gzip", traffic.gzip)):
        steps = schedule(traffic, messages, burst)
        cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
        documents: dict[str, int] = {}
        run_core(steps, CONFIGS["all on"])  # warm-up (caches of the decoder, regexes, allocator)
        for r in range(runs):
            names = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))
            for name in names:
                run = run_core(steps, CONFIGS[name])
                check(name, run, traffic, len(messages))
                cpu[name].append(run.cpu_seconds)
                documents[name] = run.documents
        n = len(messages)
        base = sorted(cpu["off"])[len(cpu["off"]) // 2] / n * 1e6
        for name in CONFIGS:
            us = [c / n * 1e6 for c in cpu[name]]
            median = sorted(us)[len(us) // 2]
            rows.append({"encoding": encoding, "config": name, "messages": n, "documents": documents[name],
                         "us_per_message": [round(u, 2) for u in us],
                         "messages_per_cpu_s": [round(n / c) for c in cpu[name]],
                         "median_us": round(median, 2), "added_us": round(median - base, 2),
                         "relative": round(median / base, 3)})
    return rows


def print_core(rows: list[dict[str, Any]], traffic: Traffic) -> None:
    print(f"traffic: {len(traffic.plain)} messages from the containers ({traffic.events} events meant: "
          f"{traffic.traces} traces, {traffic.long_lines} 40 KB lines in {traffic.pieces} pieces of "
          f"16,384 bytes and their last ones; {traffic.empty} empty messages), "
          f"{traffic.plain_bytes / 2**20:.1f} MiB plain, {traffic.gzip_bytes / 2**20:.1f} MiB gzip")
    print(f"{'encoding':8} {'config':26} {'us/message (runs)':>30} {'messages/CPU-s':>20} {'median':>8} "
          f"{'added':>7} {'x off':>6} {'docs':>6}")
    for r in rows:
        us = " ".join(f"{u:.2f}" for u in r["us_per_message"])
        rates = r["messages_per_cpu_s"]
        print(f"{r['encoding']:8} {r['config']:26} {us:>30} {f'{min(rates)}-{max(rates)}':>20} "
              f"{r['median_us']:8.2f} {r['added_us']:+7.2f} {r['relative']:6.3f} {r['documents']:6}")


def profile(traffic: Traffic, burst: int, config: str, top: int = 25) -> None:
    steps = schedule(traffic, traffic.gzip, burst)
    profiler = cProfile.Profile()
    profiler.enable()
    run_core(steps, CONFIGS[config])
    profiler.disable()
    print(f"\ncProfile, gzip traffic, {config} (tottime):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# -- 2. memory ------------------------------------------------------------------------------------------------

def held_message(kind: str, k: int, timestamp: float) -> bytes:
    """What stream ``k`` sends that it will hold: an ordinary line, or a first piece of a long line."""
    if kind == "lines":
        return gelf(k, f"[c{k}] GET /api/orders/{k} 200 12ms", timestamp)
    head = f"[c{k}] {{\"level\": \"info\", \"payload\": \""
    return gelf(k, (head + "abcdefghijklmnopqrstuvwxyz0123456789 " * 443)[:PIECE_SIZE], timestamp)


def memory_settings(kind: str) -> IngestSettings:
    return settings(IngestSettings(multiline=("java",)) if kind == "lines" else IngestSettings(join_partial=True))


def hold(kind: str, streams: int, checkpoints: int = 0) -> tuple[Ingest, list[dict[str, Any]]]:
    """``streams`` streams, each sending one message it holds, at a simulated million a second (well within
    every timeout), a tick every 10 ms; then a tick past the reorder window. With ``checkpoints``: the
    streams kept, the pending ones and tracemalloc's current every so many streams."""
    ingest = Ingest(memory_settings(kind))
    start = float(int(time.time()))
    sources = [SOURCE] * 500
    seen = []
    next_tick = start + 0.01
    for first in range(0, streams, 500):
        now = start + first / 1e6
        if now >= next_tick:
            ingest.tick(now)
            next_tick += 0.01
        batch = [held_message(kind, k, round(now, 3)) for k in range(first, min(first + 500, streams))]
        _, rejected = ingest.take_many(batch, sources[: len(batch)], now)
        assert not rejected, rejected[:3]
        done = first + len(batch)
        if checkpoints and done % checkpoints == 0:
            s = ingest.streams
            assert s is not None
            seen.append({"keys": done, "streams": s.streams, "pending": s.pending_streams,
                         "evicted": s.cut[Cut.EVICTED],
                         "traced_mib": round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                         if tracemalloc.is_tracing() else None,
                         "rss_mib": round(rss_kib_self() / 1024, 1)})
    ingest.tick(start + streams / 1e6 + REORDER_WINDOW + 0.01)
    return ingest, seen


def rss_kib_self(field: str = "VmRSS") -> int:
    return rss_kib(os.getpid(), field)


def memory_case(kind: str, streams: int, checkpoints: int) -> dict[str, Any]:
    """In a fresh process: RSS first (no tracemalloc), then tracemalloc with a new Ingest."""
    gc.collect()
    rss0 = rss_kib_self()
    ingest, seen_rss = hold(kind, streams, checkpoints)
    s = ingest.streams
    assert s is not None
    rss1, hwm = rss_kib_self(), rss_kib_self("VmHWM")
    result: dict[str, Any] = {"kind": kind, "streams_fed": streams, "streams_kept": s.streams,
                              "pending": s.pending_streams, "evicted": s.cut[Cut.EVICTED],
                              "rss_before_mib": round(rss0 / 1024, 1), "rss_held_mib": round(rss1 / 1024, 1),
                              "hwm_mib": round(hwm / 1024, 1)}
    del ingest, s
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ingest, seen = hold(kind, streams, checkpoints)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    s = ingest.streams
    assert s is not None
    pending = s.pending_streams
    result.update({"traced_held_mib": round((current - before) / 2**20, 2),
                   "traced_peak_mib": round((peak - before) / 2**20, 2)})
    if pending:
        result.update({"traced_bytes_per_pending": round((current - before) / pending),
                       "traced_peak_bytes_per_pending": round((peak - before) / pending),
                       "rss_bytes_per_pending": round((rss1 - rss0) * 1024 / pending),
                       "hwm_bytes_per_pending": round((hwm - rss0) * 1024 / pending)})
    if checkpoints:
        result["checkpoints"] = [{**a, "rss_mib": b["rss_mib"]} for a, b in zip(seen, seen_rss, strict=True)]
    # Everything held comes out at flush: nothing was dropped.
    last = ingest.flush()
    result["flushed"] = len(last) if last is not None else 0
    return result


def memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    cases = [("lines", args.pending, 0), ("pieces", args.pending, 0), ("lines", args.cap_keys, args.cap_keys // 10),
             ("pieces", args.cap_keys, args.cap_keys // 10)]
    out = []
    for kind, streams, checkpoints in cases:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.streams", "--memory-case", kind,
                               "--memory-streams", str(streams), "--memory-checkpoints", str(checkpoints)],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout))
    return out


def print_memory(rows: list[dict[str, Any]]) -> None:
    print("\nmemory: streams each holding one message (multiline java: an ordinary line; join_partial: a "
          "16,384-byte piece)")
    for r in rows:
        print(f"{r['kind']:6} fed {r['streams_fed']:>6} streams: kept {r['streams_kept']:>6}, pending "
              f"{r['pending']:>6}, evicted {r['evicted']:>6}; tracemalloc held {r['traced_held_mib']:7.2f} MiB, "
              f"peak {r['traced_peak_mib']:7.2f} MiB; RSS {r['rss_before_mib']} -> {r['rss_held_mib']} MiB, "
              f"VmHWM {r['hwm_mib']} MiB; flushed {r['flushed']}")
        if "traced_bytes_per_pending" in r:
            print(f"       per pending stream: {r['traced_bytes_per_pending']} B held "
                  f"({r['traced_peak_bytes_per_pending']} B at peak), RSS {r['rss_bytes_per_pending']} B, "
                  f"VmHWM {r['hwm_bytes_per_pending']} B")
        for c in r.get("checkpoints", []):
            print(f"       after {c['keys']:>6} keys: {c['streams']:>6} streams, {c['pending']:>6} pending, "
                  f"{c['evicted']:>6} evicted, tracemalloc {c['traced_mib']} MiB, RSS {c['rss_mib']} MiB")


# -- 3. the daemon ----------------------------------------------------------------------------------------------

def daemon_costs(traffic: Traffic, runs: int, rate: float, repeat: int) -> list[dict[str, Any]]:
    from benchmarks.suite import Session  # the suite's way of measuring a point

    base = {"GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_OUTPUT": "null", "GELFINGEST_WORKERS": "1",
            "GELFINGEST_STREAM_REORDER_WINDOW": str(REORDER_WINDOW)}
    count = len(traffic.gzip) * repeat
    rows: list[dict[str, Any]] = []
    with Daemon(base) as off, Daemon({**base, **DAEMON_STREAMS}) as on:
        sessions = {"off": Session(off), "join_partial + multiline": Session(on)}
        for r in range(runs):
            for name in list(sessions) if r % 2 == 0 else list(reversed(sessions)):
                d = sessions[name].daemon
                m = sessions[name].point(functools.partial(send_udp, d.udp_port, traffic.gzip, count, rate))
                rows.append({"config": name, "run": r, "messages": count, "sent_rate": round(m.sent.rate),
                             "decoded": m.counters.decoded, "delivered": m.delivered,
                             "kernel_drops": m.kernel_drops, "cpu_seconds": round(m.cpu_seconds, 2),
                             "messages_per_cpu_s": round(m.counters.decoded / m.cpu_seconds),
                             "others_cpu_seconds": round(m.others_cpu_seconds, 2),
                             "peak_rss_mib": round(m.peak_rss_mib, 1), "errors": m.daemon_errors})
    return rows


def print_daemon(rows: list[dict[str, Any]]) -> None:
    print("\ndaemon, 1 worker, UDP gzip into null:")
    for r in rows:
        print(f"{r['config']:26} run {r['run']}: {r['messages']} messages at {r['sent_rate']}/s, decoded "
              f"{r['decoded']}, delivered {r['delivered']} documents, kernel drops {r['kernel_drops']}, "
              f"{r['cpu_seconds']} CPU-s: {r['messages_per_cpu_s']} messages per CPU-second "
              f"(others {r['others_cpu_seconds']}, peak RSS {r['peak_rss_mib']} MiB)"
              + (f" ERRORS {r['errors'][:2]}" if r["errors"] else ""))


# -- main ------------------------------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--events", type=int, default=75, help="events each container means (program_output)")
    parser.add_argument("--rate", type=float, default=20_000, help="messages a second of simulated time")
    parser.add_argument("--burst", type=int, default=100, help="messages taken at once")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pending", type=int, default=10_000, help="streams holding something (memory)")
    parser.add_argument("--cap-keys", type=int, default=100_000, help="distinct streams against the cap")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-daemon", action="store_true")
    parser.add_argument("--daemon-rate", type=float, default=10_000, help="messages a second offered")
    parser.add_argument("--daemon-repeat", type=int, default=2, help="times the traffic is sent a point")
    parser.add_argument("--profile", choices=CONFIGS, help="cProfile of the core with this config, and stop")
    parser.add_argument("--json", type=Path, default=RESULTS / "streams.json")
    parser.add_argument("--memory-case", choices=("lines", "pieces"), help=argparse.SUPPRESS)
    parser.add_argument("--memory-streams", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--memory-checkpoints", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_case:
        print(json.dumps(memory_case(args.memory_case, args.memory_streams, args.memory_checkpoints)))
        return 0
    started = time.perf_counter()
    traffic = build_traffic(args.containers, args.events, args.rate)
    print(f"[traffic built in {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    if args.profile:
        profile(traffic, args.burst, args.profile)
        return 0
    results: dict[str, Any] = {"options": {k: v for k, v in vars(args).items() if not k.startswith("memory_")
                                           and k != "json"}}
    results["core"] = core = core_costs(traffic, args.runs, args.burst)
    print_core(core, traffic)
    print(f"[core done at {time.perf_counter() - started:.0f} s]", file=sys.stderr)
    if not args.skip_memory:
        results["memory"] = mem = memory(args)
        print_memory(mem)
        print(f"[memory done at {time.perf_counter() - started:.0f} s]", file=sys.stderr)
    if not args.skip_daemon:
        results["daemon"] = daemon = daemon_costs(traffic, args.runs, args.daemon_rate, args.daemon_repeat)
        print_daemon(daemon)
    print(f"[{time.perf_counter() - started:.0f} s in all]", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
