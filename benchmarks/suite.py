"""The benchmark suite: gelfingest's throughput, cost and loss, one table for all of it.

    python -m benchmarks.suite [--quick] [--skip-es] [--only NAME ...] [--json PATH] [--svg PATH]

Scenarios (one daemon per scenario and worker count, reused across that scenario's points):

- ``udp-null-max``: Docker-shaped gzip GELF over UDP into the null output (everything but Elasticsearch), as
  fast as the sender goes: events per CPU-second of gelfingest (goal 100,000), and of two workers against
  one's (``efficiency_to_one_worker``).
- ``udp-null-curve``: the same at fixed offered rates, low to beyond the knee: delivered events/s and loss
  per point, and the knee (the highest offered rate with loss under 0.1 %, every lower rate too). Also drawn
  as an SVG chart.
- ``udp-small-max``: small gzip messages only (no chunked ones: the traffic of udp-modes), one worker, as
  fast as the sender goes (goal 110,000 events per CPU-second).
- ``udp-large``: large messages (``--large-sizes``, 8, 32 and 128 KB of GELF JSON: a stack trace, a JSON log
  line and the suite's own large message in turn, gzipped and chunked as go-gelf does) into the null output,
  one worker, offered at ``--large-kib-rate`` KiB/s of decompressed message: events per CPU-second and CPU
  microseconds per KB (the whole daemon's; benchmarks/large_messages.py measures the core alone).
- ``tcp-null-max``: uncompressed GELF TCP into the null output over 8 connections, as fast as they go:
  MiB/s (goal 86 with 2 workers), events/s, events per CPU-second.
- ``udp-inflaters``: isal (ours since issue 23) against zlib-ng in the whole daemon, in turn, ``--modes-runs``
  times each:
  small gzip messages and the mixed traffic at ``--modes-rate``, 32 KB messages at ``--large-kib-rate``;
  CPU per event of each and isal's over zlib-ng's (medians). The daemon inflates with zlib-ng through
  benchmarks/inflater_hook (a sitecustomize on PYTHONPATH), not through any option of its own.
- ``udp-modes``: the sequence modes side by side: small gzip messages only (no chunked ones), one worker,
  the null output, at ``--modes-rate`` (below the knee, so both deliver everything), ``counter`` and
  ``clock`` in turn, ``--modes-runs`` times each: events per CPU-second of each, and clock's cost over
  counter's (the CPU per event of the one over the other's, median of the runs).
- ``es-ceiling``: measured before and again after ``es-udp`` (it moves on a shared machine): a local
  Elasticsearch's own limit for the same documents: bulk bodies encoded by the pure
  core exactly as the daemon sends them (op_type create with ids, batches cut as the daemon's defaults cut
  them, the daemon's filter_path), posted by a minimal keep-alive client as many at a time as the daemon
  (its default --elasticsearch-concurrency), after a warm-up; timed to the last answer and a _refresh.
- ``es-udp``: the daemon into that Elasticsearch, fed the same events over UDP at a fixed rate (--es-rate,
  by default 1.25 x the ceiling, so that Elasticsearch is the bottleneck); end-to-end events/s = documents
  in the index / time from the first datagram until the index (polled with _refresh) holds all that was
  sent, or stopped growing for 5 s. Reported against the mean of the two ceilings as ``ratio_to_ceiling``
  (goal 0.9); on one machine the daemon's CPU competes with Elasticsearch's.
  It measures the ceiling first when asked alone.
- ``es-burst``: a burst into that Elasticsearch, on the same cores: ``--burst-events`` (200,000) of the
  same events offered at ``--burst-rate`` (60,000/s) to one worker, far above what it indexes: what the
  UDP receive buffer (``--udp-receive-buffer``, as the daemon gets it) and the queue absorb, and the loss.
- ``es-ids``: Elasticsearch's CPU per event with gelfingest's default ids (``create``, a prefix and the
  sequence) and with ids it chooses (``--document-id auto``): ``--ids-events`` (200,000) of the same events
  at ``--ids-rate`` (40,000/s), one worker, ``--ids-runs`` (3) of each kind in turn after one not counted;
  the medians' difference (goal at most 15 %).
- ``es-system``: the whole system's CPU per event indexed (the tool's and Elasticsearch's, through a final
  refresh and ES_SETTLE_SECONDS of merges): gelfingest with the defaults before issue 23 (Logstash's
  mappings, refresh every second, counter mode) and with today's, and rsyslog with today's template, on the
  es-rsyslog traffic at ``--system-rate``, ``--system-runs`` times in turn; nobody searches meanwhile (the
  end is found from the index's indexing statistics, which neither refresh nor search it).
- ``es-template``: benchmarks/es_cost.py on the same Elasticsearch: its CPU per document under gelfingest's
  template against Logstash's own, no template and gelfingest's before issue 23, with nobody searching, with
  a Kibana-like reader and as fast as it goes (goals: at most 0.75 x Logstash's with nobody searching, at
  most 1.0 x with the reader).
- ``processors``: benchmarks/processors.py's parts in the core (no daemon): CPU us per event of small Docker
  messages with processors off, an empty file, then a typical file (drop probe lines, decode JSON, redact, add
  a field) one processor more at a time (``--processors-events``, 50,000, ``--processors-rounds``, 7, times
  each in turn; medians), as ``events_per_cpu_s`` and in the note; callgrind's instructions per event off and
  with the file (when valgrind is installed; not with --quick); and the hostile cases (``processors-hostile``:
  a 1 MB JSON object of 100,000 keys, 10,000 levels of nesting, backtracking patterns, redact over a line of
  --max-message-size), ms per event and what became of it.
- ``es-processors``: benchmarks/processors.py's comparison on the suite's Elasticsearch: the same JSON lines
  (``--processors-es-events``, 100,000, at ``--processors-es-rate``, 8,000/s) parsed by gelfingest
  (``--processors`` with decode_json_fields), by an ingest pipeline's ``json`` processor (``--pipeline``), and by
  neither, ``--processors-es-runs`` (3) times in turn: gelfingest's CPU per event indexed (``events_per_cpu_s``)
  and Elasticsearch's (``ES µs/ev``), the medians (``es-processors-median``) and which way is cheaper for the
  whole system.
- ``es-rsyslog``: rsyslog (benchmarks/rsyslog.py says how it is configured and why) and gelfingest (one
  worker) on the same uncompressed, unchunked GELF over UDP into that Elasticsearch, in turn at each of
  ``--peer-rates`` (``--peer-events`` each), then the burst of es-burst: events per CPU-second of each tool
  and of Elasticsearch, the loss, the lossless rate of each (the highest offered rate that, with every lower
  one, lost under 0.1 %) and the ratio of events per CPU-second. Left out if rsyslog is not installed (make
  bench installs it).

The load comes from a separate process replaying traffic encoded once (benchmarks/traffic.py), paced in
bursts of 100 events over 64 source sockets (SO_REUSEPORT spreads by source address), so the generator is
never what is measured. Between points the suite waits until nothing is left unread in the daemon's
sockets, its CPU is idle and its metrics snapshots are newer than the work, and takes differences.

Figures of a row: events sent (and datagrams, MiB, the rate the sender achieved); received (the daemon's
own counter: datagrams for UDP, so chunked events count once per chunk; frames for TCP); delivered
(documents the null output took, from the daemon's snapshots; for Elasticsearch the index's _count); loss =
sent - delivered, and the kernel's drop counter of the daemon's UDP sockets over the point; events per
CPU-second (utime+stime of the supervisor and every worker from /proc over the point); wall-clock delivered
events/s and received MiB/s (from the first send until the daemon's CPU went idle); the largest peak RSS
(VmHWM) of a worker; and ``others``: the cores the rest of the machine kept busy meanwhile (all cores' busy
time from /proc/stat less the daemon's, the sender's and the suite's; Elasticsearch's among them in the es-
scenarios, which also report it apart, per event indexed) or the hypervisor gave to other machines (steal),
so a figure taken while something else ran says so. The note
column holds goals met or missed, the knee, a sender that fell short of its rate, other work on the machine
or steal, and errors the daemon logged.

The table goes to stdout; the same figures with the machine, the date and the options to --json; each
daemon's log to suite-logs/ beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import html
import itertools
import json
import math
import secrets
import statistics
import sys
import time
import urllib.error
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import es_cost, large_messages, processors
from benchmarks.measure import (
    RESULTS,
    bench_daemon,
    encoded_bodies,
    es_call,
    es_count,
    es_cpu_seconds,
    es_quiet,
    machine,
    machine_cpu_seconds,
    own_cpu_seconds,
    post_bulks,
    wait_indexed,
    wait_until_idle,
)
from benchmarks.rsyslog import Rsyslog
from benchmarks.rsyslog import available as rsyslog_available
from benchmarks.traffic import Sent, send_tcp, send_udp, tcp_frames, udp_events
from gelfingest.config import Config
from gelfingest.core.bulk import ID_PREFIX_BYTES, id_prefix
from gelfingest.core.template import index_template
from gelfingest.local_es import LocalElasticsearch
from tests.harness import Counters, Daemon

SCENARIOS = ("udp-null-max", "udp-small-max", "udp-null-curve", "udp-modes", "udp-inflaters", "udp-large",
             "tcp-null-max", "processors",
             "es-ceiling", "es-udp", "es-burst", "es-ids", "es-rsyslog", "es-system", "es-template", "es-processors")
ES_SCENARIOS = ("es-ceiling", "es-udp", "es-burst", "es-ids", "es-rsyslog", "es-system", "es-template",
                "es-processors")
# A point is below the knee while it loses less than this share of the events sent.
KNEE_LOSS_PCT = 0.1
# udp-large: distinct messages of a point (the sender loops over them, each time with a new message id).
LARGE_DISTINCT = 3000
# The goals the figures are held against.
GOAL_EVENTS_PER_CPU_S = 100_000
# udp-small-max: small gzip messages only.
GOAL_SMALL_EVENTS_PER_CPU_S = 110_000
GOAL_TCP_MIB_S = 86.0
GOAL_TCP_WORKERS = 2
GOAL_RATIO_TO_CEILING = 0.9
# es-ids: Elasticsearch's CPU per event with gelfingest's default ids at most this much over auto ids.
GOAL_IDS_OVER_AUTO_PCT = 15.0
# es-udp offers this much more than the ceiling by default: Elasticsearch is the bottleneck, and the daemon
# has to hold (queue, spool) what it cannot take yet, as in real overload.
ES_OVER_CEILING = 1.25
# Into Elasticsearch, its CPU is counted until a final _refresh and this many seconds of merges after it: an
# index that is not refreshed while nobody searches it (gelfingest's template) pays for its segments then.
ES_SETTLE_SECONDS = 5.0
# A point during which the rest of the machine kept more than this many cores busy (or the hypervisor took
# them) is marked.
OTHERS_BUSY = 0.3
MIB = 2**20
STARTED = time.perf_counter()
# Side-by-side points so far (their logs are numbered).
POINTS = itertools.count(1)


def log(msg: str) -> None:
    print(f"[suite {time.perf_counter() - STARTED:5.0f} s] {msg}", file=sys.stderr, flush=True)


# -- one point -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Measured:
    sent: Sent
    counters: Counters | None  # the daemon's counters over the point (None: rsyslog, which has none)
    delivered: int
    kernel_drops: int | None
    cpu_seconds: float
    wall_seconds: float
    peak_rss_mib: float
    daemon_errors: list[str]  # what the daemon logged at ERROR or above during the point
    udp_receive_buffer: int | None
    # CPU-seconds the rest of the machine spent meanwhile: all cores' busy time less the daemon's, the
    # sender's and the suite's own (the kernel's softirq work for loopback traffic lands here too); and
    # those the hypervisor gave to other machines (steal).
    others_cpu_seconds: float
    steal_cpu_seconds: float
    es_cpu_seconds: float | None = None  # Elasticsearch's process tree over the point, into Elasticsearch


class Usage:
    """Busy CPU time of the machine and of the suite with its senders, to subtract from each other."""

    def __init__(self) -> None:
        (self.busy, self.steal), self.own = machine_cpu_seconds(), own_cpu_seconds()

    def others(self, daemon_cpu: float) -> tuple[float, float]:
        """CPU-seconds since this was made that neither the daemon (``daemon_cpu``) nor we used, and steal."""
        busy, steal = machine_cpu_seconds()
        # Clock ticks make it a little uncertain: a few hundredths below zero mean none.
        return max(0.0, busy - self.busy - (own_cpu_seconds() - self.own) - daemon_cpu), steal - self.steal


class Session:
    """A started daemon, measured point after point: each point is a difference from the one before."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        wait_until_idle(daemon.proc.pid)
        self.last = daemon.settled(time.time())
        self.errors = len(daemon.errors())

    def new_errors(self) -> list[str]:
        errors = self.daemon.errors()
        new, self.errors = errors[self.errors :], len(errors)
        return new

    def point(self, send: Callable[[], Sent],
              finish: Callable[[], tuple[int, float]] | None = None) -> Measured:
        """``send``, then wait for the end. ``finish`` waits for it and returns the events delivered and the
        perf_counter time they were; by default the end is when the daemon goes idle, and what it says it
        delivered counts."""
        d = self.daemon
        cpu0, drops0, usage = d.cpu_seconds(), d.kernel_drops(), Usage()
        t0 = time.perf_counter()
        sent = send()
        if finish is None:
            cpu1, end = wait_until_idle(d.proc.pid)
            delivered = None
        else:
            delivered, end = finish()
            cpu1 = d.cpu_seconds()
        # With an Elasticsearch on this machine, its CPU counts as others'.
        others, steal = usage.others(cpu1 - cpu0)
        # Before the socket closes: its row in /proc/net/udp, and its drop counter, leave with it.
        drops = d.kernel_drops() - drops0
        after = d.settled(time.time())
        delta, self.last = after - self.last, after
        return Measured(sent, delta, delta.indexed if delivered is None else delivered,
                        drops if d.udp_port else None, cpu1 - cpu0, end - t0, d.peak_rss_mib(),
                        self.new_errors(), d.receive_buffer, others, steal)


def row(scenario: str, workers: int | None, offered: float | str, m: Measured) -> dict[str, Any]:
    sent, c = m.sent, m.counters
    loss = sent.events - m.delivered
    wall = m.wall_seconds
    r = {
        "scenario": scenario, "tool": "gelfingest", "workers": workers, "offered_rate": offered,
        "events_sent": sent.events, "datagrams_sent": sent.datagrams, "mib_sent": round(sent.bytes / MIB, 1),
        "send_seconds": round(sent.seconds, 2), "sent_rate": round(sent.rate),
        "received": c and c.received, "received_mib": c and round(c.received_bytes / MIB, 1),
        "decoded": c and c.decoded, "delivered": m.delivered, "loss": loss,
        "loss_pct": round(100 * loss / sent.events, 3) if sent.events else 0, "kernel_drops": m.kernel_drops,
        "rejected": c and c.rejected, "chunked_incomplete": c and c.chunks_incomplete,
        "cpu_seconds": round(m.cpu_seconds, 2),
        "events_per_cpu_s": round(m.delivered / m.cpu_seconds) if m.cpu_seconds > 0 else None,
        "wall_seconds": round(wall, 2),
        "delivered_per_s": round(m.delivered / wall) if wall > 0 else None,
        "mib_per_s": round(c.received_bytes / MIB / wall, 1) if c and wall > 0 else None,
        "peak_rss_mib": round(m.peak_rss_mib, 1), "udp_receive_buffer": m.udp_receive_buffer,
        "others_cpu_seconds": round(m.others_cpu_seconds, 2), "steal_cpu_seconds": round(m.steal_cpu_seconds, 2),
        "others_cores": round((m.others_cpu_seconds + m.steal_cpu_seconds) / wall, 2) if wall > 0 else None,
        "daemon_errors": len(m.daemon_errors), "daemon_error_sample": [e[:300] for e in m.daemon_errors[:3]],
    }
    if m.es_cpu_seconds is not None:
        r["es_cpu_seconds"] = round(m.es_cpu_seconds, 2)
        r["es_cpu_us_per_event"] = round(1e6 * m.es_cpu_seconds / m.delivered, 1) if m.delivered else None
    if isinstance(offered, float | int) and sent.rate < 0.95 * offered:
        note(r, "the sender fell short of the rate")
    if m.daemon_errors:
        note(r, f"the daemon logged {len(m.daemon_errors)} errors, e.g. {m.daemon_errors[0][:100]!r}")
    # Into Elasticsearch, others include its CPU (reported on its own as es_cpu_seconds).
    if m.es_cpu_seconds is None and wall > 0 and m.others_cpu_seconds / wall > OTHERS_BUSY:
        note(r, "other work on the machine meanwhile")
    if wall > 0 and m.steal_cpu_seconds / wall > OTHERS_BUSY:
        note(r, f"the hypervisor took {m.steal_cpu_seconds / wall:.1f} cores (steal)")
    return r


def note(r: dict[str, Any], text: str) -> None:
    r["note"] = f"{r['note']}; {text}" if r.get("note") else text


def goal(r: dict[str, Any], figure: str, wanted: float) -> None:
    """Hold a figure of the row against its goal (in the row, and in its note)."""
    value = r.get(figure)
    met = value is not None and value >= wanted
    r["goal"] = {"figure": figure, "wanted": wanted, "met": met}
    note(r, f"goal {figure} >= {wanted:g}: {'met' if met else 'MISSED'}")


# -- scenarios --------------------------------------------------------------------------------------------

def udp_null_max(args: argparse.Namespace, events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    rows = []
    for w in args.workers:
        log(f"udp-null-max: {w} worker(s), {args.events} events as fast as possible")
        with bench_daemon(w, udp=True, keep_log=args.logs / f"udp-null-max-{w}w.log") as d:
            m = Session(d).point(functools.partial(send_udp, d.udp_port, events, args.events))
        r = row("udp-null-max", w, "max", m)
        goal(r, "events_per_cpu_s", GOAL_EVENTS_PER_CPU_S)
        rows.append(r)
    one = next((r["events_per_cpu_s"] for r in rows if r["workers"] == 1), None)
    for r in rows:
        if one and r["workers"] > 1 and r["events_per_cpu_s"]:
            # Events per CPU-second of N workers over one's: what the forwarding between them costs.
            r["efficiency_to_one_worker"] = round(r["events_per_cpu_s"] / one, 2)
            note(r, f"{r['efficiency_to_one_worker']:.2f} x one worker's events per CPU-second")
    return rows


def udp_small_max(args: argparse.Namespace, events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    """Small gzip messages only (no chunked ones), one worker, as fast as the sender goes."""
    log(f"udp-small-max: {args.events} small events as fast as possible")
    with bench_daemon(1, udp=True, keep_log=args.logs / "udp-small-max.log") as d:
        m = Session(d).point(functools.partial(send_udp, d.udp_port, events, args.events))
    r = row("udp-small-max", 1, "max", m)
    goal(r, "events_per_cpu_s", GOAL_SMALL_EVENTS_PER_CPU_S)
    return [r]


def udp_null_curve(args: argparse.Namespace, events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    rows = []
    for w in args.workers:
        with bench_daemon(w, udp=True, keep_log=args.logs / f"udp-null-curve-{w}w.log") as d:
            session = Session(d)
            for rate in sorted(args.rates):
                count = max(1, round(rate * args.point_seconds))
                log(f"udp-null-curve: {w} worker(s), {rate}/s offered, {count} events")
                m = session.point(functools.partial(send_udp, d.udp_port, events, count, rate))
                rows.append(row("udp-null-curve", w, rate, m))
    mark_knees(rows)
    return rows


def udp_modes(args: argparse.Namespace, events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    rows = []
    count = max(1, round(args.modes_rate * args.modes_seconds))
    for run in range(args.modes_runs):
        for mode in ("counter", "clock"):
            log(f"udp-modes: {mode}, run {run + 1} of {args.modes_runs}: {count} small events at "
                f"{args.modes_rate}/s")
            with bench_daemon(1, udp=True, keep_log=args.logs / f"udp-modes-{mode}-{run}.log",
                              env={"GELFINGEST_SEQUENCE_MODE": mode}) as d:
                m = Session(d).point(functools.partial(send_udp, d.udp_port, events, count, args.modes_rate))
            r = row("udp-modes", 1, args.modes_rate, m)
            r["sequence_mode"] = mode
            note(r, mode)
            rows.append(r)
    cost = {mode: sorted(r["cpu_seconds"] / r["delivered"] for r in rows
                         if r["sequence_mode"] == mode and r["delivered"]) for mode in ("counter", "clock")}
    if cost["counter"] and cost["clock"]:
        counter, clock = (c[len(c) // 2] for c in (cost["counter"], cost["clock"]))
        over = round(100 * (clock / counter - 1), 1)
        for r in rows:
            if r["sequence_mode"] == "clock":
                r["clock_over_counter_pct"] = over
        note(rows[-1], f"clock costs {over:+.1f} % CPU per event over counter (medians)")
    return rows


# benchmarks/inflater_hook/sitecustomize.py: with this folder on PYTHONPATH, the daemon and its workers inflate
# with zlib-ng when BENCH_INFLATER says so (udp-inflaters), with the core's own isal otherwise.
INFLATER_HOOK = Path(__file__).resolve().parent / "inflater_hook"
INFLATERS = ("zlib-ng", "isal")


def udp_inflaters(args: argparse.Namespace, small: Sequence[tuple[bytes, ...]],
                  mixed: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    """zlib-ng against isal in the whole daemon, one worker into null, in turn (each run in the other order
    than the one before): small gzip messages and the suite's mixed traffic at ``--modes-rate``, 32 KB
    messages at ``--large-kib-rate``; CPU per event, and isal's over zlib-ng's (medians) per traffic."""
    rows = []
    big = large_events(32, LARGE_DISTINCT // 10)
    traffic = {"small": (small, args.modes_rate), "mixed": (mixed, args.modes_rate),
               "32kb": (big, args.large_kib_rate / 32)}
    for kind, (events, rate) in traffic.items():
        count = max(60, round(rate * args.modes_seconds))
        for run in range(args.modes_runs):
            for inflater in (INFLATERS if run % 2 == 0 else INFLATERS[::-1]):
                log(f"udp-inflaters: {kind}, {inflater}, run {run + 1} of {args.modes_runs}: {count} at {rate:.0f}/s")
                env = {"PYTHONPATH": str(INFLATER_HOOK), "BENCH_INFLATER": inflater}
                with bench_daemon(1, udp=True, keep_log=args.logs / f"udp-inflaters-{kind}-{inflater}-{run}.log",
                                  env=env) as d:
                    m = Session(d).point(functools.partial(send_udp, d.udp_port, events, count, rate))
                r = row("udp-inflaters", 1, round(rate), m)
                r["traffic"], r["inflater"] = kind, inflater
                note(r, f"{kind}, {inflater}")
                rows.append(r)
        cost = {name: statistics.median(r["cpu_seconds"] / r["delivered"] for r in rows
                                        if r["traffic"] == kind and r["inflater"] == name and r["delivered"])
                for name in INFLATERS}
        over = round(100 * (cost["isal"] / cost["zlib-ng"] - 1), 1)
        rows[-1]["isal_over_zlib_ng_pct"] = over
        note(rows[-1], f"{kind}: isal {over:+.1f} % CPU per event against zlib-ng (medians)")
    return rows


def large_events(kb: int, count: int) -> list[tuple[bytes, ...]]:
    """``count`` large messages of about ``kb`` KB, the three kinds of benchmarks/large_messages.py in turn
    (a stack trace, a JSON log line, the suite's own), gzipped at level 1 and chunked as go-gelf does."""
    per_message, _ = large_messages.encoded(large_messages.KINDS, kb, count, compress=True)
    return [tuple(datagrams) for datagrams in per_message]


def udp_large(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Large messages (``--large-sizes`` KB) over UDP into the null output, one worker: events per CPU-second
    and CPU microseconds per KB of decompressed message, offered at ``--large-kib-rate`` KiB/s of it."""
    rows = []
    with bench_daemon(1, udp=True, keep_log=args.logs / "udp-large.log") as d:
        session = Session(d)
        for kb in args.large_sizes:
            rate = args.large_kib_rate / kb
            count = max(60, round(rate * args.point_seconds))
            events = large_events(kb, min(count, LARGE_DISTINCT))
            log(f"udp-large: {count} messages of {kb} KB at {rate:.0f}/s")
            m = session.point(functools.partial(send_udp, d.udp_port, events, count, rate))
            r = row("udp-large", 1, round(rate), m)
            r["message_kb"] = kb
            if m.delivered:
                # The whole daemon's CPU: the chunks' reads and the null output too, where
                # benchmarks/large_messages.py measures the core alone.
                r["us_per_kb"] = round(1e6 * m.cpu_seconds / (m.delivered * kb), 2)
            note(r, f"{kb} KB messages, {r.get('us_per_kb')} us of CPU per KB")
            rows.append(r)
    return rows


def lossless_up_to(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Of rows in rising offered rate, the last that, with every one before it, lost under KNEE_LOSS_PCT."""
    last = None
    for r in rows:
        if r["loss_pct"] >= KNEE_LOSS_PCT:
            break
        last = r
    return last


def mark_knees(rows: list[dict[str, Any]]) -> None:
    """Per worker count: the highest offered rate that, with every lower one, lost under KNEE_LOSS_PCT."""
    for w in {r["workers"] for r in rows}:
        knee = lossless_up_to(sorted((r for r in rows if r["workers"] == w), key=lambda r: r["offered_rate"]))
        if knee is not None:
            knee["knee"] = True
            note(knee, f"KNEE (loss < {KNEE_LOSS_PCT:g} % up to here)")


def tcp_null_max(args: argparse.Namespace, frames: Sequence[bytes]) -> list[dict[str, Any]]:
    rows = []
    for w in args.workers:
        log(f"tcp-null-max: {w} worker(s), {len(frames)} frames over {args.connections} connections")
        with bench_daemon(w, tcp=True, keep_log=args.logs / f"tcp-null-max-{w}w.log") as d:
            m = Session(d).point(functools.partial(send_tcp, d.tcp_port, frames, args.connections))
        r = row("tcp-null-max", w, "max", m)
        if w == GOAL_TCP_WORKERS:
            goal(r, "mib_per_s", GOAL_TCP_MIB_S)
        rows.append(r)
    return rows


def es_ceiling(es_url: str, datagrams: list[bytes], concurrency: int, warm: bool = True) -> dict[str, Any]:
    """Elasticsearch's own rate for the daemon's documents and requests, with a warmed-up JVM (``warm``:
    warm it up first)."""
    template = index_template("ceiling-%Y")
    es_call(es_url, "PUT", "/_index_template/bench-ceiling", template)
    # The daemon's ids: a prefix drawn as it draws one at start, and the sequence.
    prefix = id_prefix(secrets.token_bytes(ID_PREFIX_BYTES))
    warm_docs = 0
    if warm:
        warm_index = f"ceiling-warmup-{time.time_ns()}"
        # A cold JVM indexes several times slower (seen here: 950 docs/s for the first 20,000, 4000 for the
        # third).
        bodies, warm_docs = encoded_bodies(datagrams[: len(datagrams) // 2], warm_index, prefix)
        log(f"es-ceiling: warming up with {warm_docs} documents in {len(bodies)} bulk requests")
        post_bulks(es_url, bodies, concurrency)
        es_call(es_url, "DELETE", f"/{warm_index}")
    index = f"ceiling-{time.time_ns()}"
    bodies, n = encoded_bodies(datagrams, index, prefix)
    log(f"es-ceiling: {n} documents in {len(bodies)} bulk requests, {concurrency} at a time")
    t0 = time.perf_counter()
    post_bulks(es_url, bodies, concurrency)
    count = es_count(es_url, index)
    seconds = time.perf_counter() - t0
    es_call(es_url, "DELETE", f"/{index}")
    size = sum(map(len, bodies))
    return {
        "scenario": "es-ceiling", "workers": None, "offered_rate": "max", "events_sent": n,
        "mib_sent": round(size / MIB, 1), "send_seconds": round(seconds, 2),
        "delivered": count, "loss": n - count, "loss_pct": round(100 * (n - count) / n, 3) if n else 0,
        "wall_seconds": round(seconds, 2), "delivered_per_s": round(count / seconds),
        "mib_per_s": round(size / MIB / seconds, 1), "bulk_requests": len(bodies), "concurrency": concurrency,
        "warmup_docs": warm_docs,
        "note": f"raw _bulk, {len(bodies)} requests, {concurrency} at a time{'' if warm else ', again'}",
    }


def es_settle(es: LocalElasticsearch, index: str) -> float:
    """A final _refresh of the index and ES_SETTLE_SECONDS of merges; Elasticsearch's CPU-seconds then."""
    es_call(es.url, "POST", f"/{index}/_refresh")
    time.sleep(ES_SETTLE_SECONDS)
    return es_cpu_seconds(es)


def into_es(es: LocalElasticsearch, scenario: str, events: Sequence[tuple[bytes, ...]], count: int, rate: float,
            log_file: Path, *, tool: str = "gelfingest", workers: int = 1,
            env: dict[str, str] | None = None) -> Measured:
    """``count`` of the events at ``rate`` over UDP to a started ``tool`` (``gelfingest`` with ``workers``
    and ``env``, or ``rsyslog``) into a fresh index, timed until it holds them all (or stops growing), with
    Elasticsearch's CPU over it; the index (and rsyslog's template) is deleted afterwards."""
    index = f"bench-{scenario}-{tool}-{time.time_ns()}"
    who = "rsyslog" if tool == "rsyslog" else f"gelfingest, {workers} worker(s)"
    log(f"{scenario}: {who}{''.join(f', {k}={v}' for k, v in (env or {}).items())}, {count} events at "
        f"{rate:.0f}/s into {index}")
    send = functools.partial(send_udp, events=events, count=count, rate=rate)
    finish = functools.partial(wait_indexed, es.url, index, count)
    try:
        if tool == "rsyslog":
            # The template gelfingest would install for the index, so both get the same mappings.
            es_call(es.url, "PUT", f"/_index_template/{index}", index_template(index))
            with Rsyslog(es.url, index, keep_log=log_file) as peer:
                wait_until_idle(peer.pid)
                return rsyslog_point(peer, es, functools.partial(send, peer.udp_port), finish, index)
        with bench_daemon(workers, udp=True, es_url=es.url, index=index, keep_log=log_file, env=env) as d:
            session = Session(d)
            # What Elasticsearch still does for the point before (merges, a deleted index) is not this one's.
            es_quiet(es)
            es0 = es_cpu_seconds(es)
            m = session.point(functools.partial(send, d.udp_port), finish)
            return dataclasses.replace(m, es_cpu_seconds=es_settle(es, index) - es0)
    finally:
        for path in (f"/{index}", f"/_index_template/{index}"):
            try:
                es_call(es.url, "DELETE", path)
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise


def rsyslog_point(peer: Rsyslog, es: LocalElasticsearch, send: Callable[[], Sent],
                  finish: Callable[[], tuple[int, float]], index: str) -> Measured:
    """What Session.point measures of gelfingest, of a started rsyslog (it has no counters of its own)."""
    es_quiet(es)
    cpu0, es0, drops0, usage = peer.cpu_seconds(), es_cpu_seconds(es), peer.kernel_drops(), Usage()
    t0 = time.perf_counter()
    sent = send()
    delivered, end = finish()
    cpu = peer.cpu_seconds() - cpu0
    others, steal = usage.others(cpu)
    drops = peer.kernel_drops() - drops0
    return Measured(sent, None, delivered, drops, cpu, end - t0, peer.peak_rss_mib(), peer.errors(), None, others,
                    steal, es_settle(es, index) - es0)


def es_udp(es: LocalElasticsearch, workers: int, events: Sequence[tuple[bytes, ...]], rate: float,
           logs: Path) -> dict[str, Any]:
    m = into_es(es, "es-udp", events, len(events), rate, logs / f"es-udp-{workers}w.log", workers=workers)
    return row("es-udp", workers, round(rate), m)


def es_burst(es: LocalElasticsearch, events: Sequence[tuple[bytes, ...]], count: int, rate: float,
             logs: Path, env: dict[str, str]) -> dict[str, Any]:
    m = into_es(es, "es-burst", events, count, rate, logs / "es-burst.log", env=env)
    r = row("es-burst", 1, round(rate), m)
    note(r, f"receive buffer {m.udp_receive_buffer} bytes" + "".join(f", {k}={v}" for k, v in env.items()))
    if r["loss"]:
        note(r, "the burst was not absorbed: goal no loss MISSED")
    return r


# -- Elasticsearch's own cost, and rsyslog beside gelfingest ----------------------------------------------

def side_by_side(es: LocalElasticsearch, scenario: str, tool: str, events: Sequence[tuple[bytes, ...]],
                 count: int, rate: float, logs: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One point of ``tool`` (``gelfingest``, one worker, with ``env``; or ``rsyslog``) into Elasticsearch
    (``into_es``), as a row with the tool and Elasticsearch's CPU per event indexed."""
    # Each point's log on its own: the scenario, the point's number in this run, the tool, the rate and
    # the daemon's environment.
    name = "-".join([scenario, str(next(POINTS)), tool, f"{rate:.0f}", *(env or {}).values()])
    m = into_es(es, scenario, events, count, rate, logs / f"{name}.log", tool=tool, env=env)
    r = row(scenario, 1 if tool == "gelfingest" else None, round(rate), m)
    r["tool"], r["env"] = tool, env or {}
    note(r, tool + "".join(f", {k}={v}" for k, v in (env or {}).items()))
    return r


def es_ids(args: argparse.Namespace, es: LocalElasticsearch,
           events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    """Elasticsearch's CPU per event with gelfingest's default ids (``create``, prefix + sequence) against
    ids it chooses itself (``--document-id auto``), the same events at the same rate, in turn."""
    # In turn, and each run in the other order than the one before, so that a drift of the machine's speed
    # does not favour either.
    order = ("sequence", "auto")
    # Its first run in a new index pattern costs Elasticsearch more even after the JVM's warm-up (seen here:
    # 204 µs an event, then 143-155 for either kind, and it still fell over the next runs): one run first,
    # not counted.
    side_by_side(es, "es-ids-warmup", "gelfingest", events, args.ids_events, args.ids_rate, args.logs)
    rows = [side_by_side(es, "es-ids", "gelfingest", events, args.ids_events, args.ids_rate, args.logs,
                         {"GELFINGEST_DOCUMENT_ID": mode})
            for run in range(args.ids_runs) for mode in (order if run % 2 == 0 else order[::-1])]
    per = {mode: [r["es_cpu_us_per_event"] for r in rows
                  if r["env"]["GELFINGEST_DOCUMENT_ID"] == mode and r["es_cpu_us_per_event"]]
           for mode in ("sequence", "auto")}
    if per["sequence"] and per["auto"]:
        over = round(100 * (statistics.median(per["sequence"]) / statistics.median(per["auto"]) - 1), 1)
        last = rows[-1]
        last["ids_over_auto_pct"] = over
        met = over <= GOAL_IDS_OVER_AUTO_PCT
        last["goal"] = {"figure": "ids_over_auto_pct", "wanted": GOAL_IDS_OVER_AUTO_PCT, "met": met}
        note(last, f"Elasticsearch's CPU per event with our ids {over:+.1f} % over auto ids (medians): goal <= "
                   f"{GOAL_IDS_OVER_AUTO_PCT:g} % {'met' if met else 'MISSED'}")
    return rows


def es_rsyslog(args: argparse.Namespace, es: LocalElasticsearch) -> list[dict[str, Any]]:
    """rsyslog and gelfingest (one worker) side by side on uncompressed, unchunked GELF over UDP into the
    same Elasticsearch: at each of ``--peer-rates`` in turn, then a burst of ``--burst-events`` at
    ``--burst-rate``; per tool the lossless rate (the highest offered rate that, with every lower one, lost
    under KNEE_LOSS_PCT) and the ratio of events per CPU-second at each rate."""
    tools = ("rsyslog", "gelfingest")
    events = udp_events(min(args.peer_events, 100_000), chunked_share=0.0, seed=3, compress=False)
    rows = []
    for k, rate in enumerate(sorted(args.peer_rates)):
        # Each rate in the other order than the one before, so that neither tool always goes first.
        pair = {tool: side_by_side(es, "es-rsyslog", tool, events, args.peer_events, rate, args.logs)
                for tool in (tools if k % 2 == 0 else tools[::-1])}
        ours, theirs = pair["gelfingest"]["events_per_cpu_s"], pair["rsyslog"]["events_per_cpu_s"]
        if ours and theirs:
            pair["gelfingest"]["ratio_to_rsyslog"] = round(ours / theirs, 2)
            note(pair["gelfingest"], f"{ours / theirs:.2f} x rsyslog's events per CPU-second")
        rows += [pair[tool] for tool in tools]
    for tool in tools:
        lossless = lossless_up_to(r for r in rows if r["tool"] == tool)
        if lossless is not None:
            lossless["lossless"] = True
            note(lossless, f"LOSSLESS up to here (loss < {KNEE_LOSS_PCT:g} %)")
    for tool in tools:
        r = side_by_side(es, "es-rsyslog-burst", tool, events, args.burst_events, args.burst_rate, args.logs)
        note(r, "burst")
        rows.append(r)
    for r in rows:
        if r["tool"] == "rsyslog":
            note(r, "rsyslog's threads: one imudp reader, two queue workers")
    return rows


# es-system: gelfingest's defaults before issue 23 (Logstash's text + .keyword mappings, refresh every second,
# counter mode), against today's.
BEFORE_ISSUE_23 = {"GELFINGEST_MAPPING": "logstash", "GELFINGEST_REFRESH_INTERVAL": "1s",
                   "GELFINGEST_SEQUENCE_MODE": "counter"}


def es_system(args: argparse.Namespace, es: LocalElasticsearch) -> list[dict[str, Any]]:
    """The whole system's CPU per event indexed, the tool's and Elasticsearch's: gelfingest (one worker)
    with the defaults before issue 23 and with today's, and rsyslog (with the template gelfingest installs
    today), on the same uncompressed, unchunked GELF over UDP at ``--system-rate``, ``--system-runs`` times
    in turn, each run in the other order than the one before; nobody searches meanwhile."""
    events = udp_events(min(args.peer_events, 100_000), chunked_share=0.0, seed=3, compress=False)
    variants: list[tuple[str, str, dict[str, str] | None]] = [
        ("gelfingest", "before", BEFORE_ISSUE_23), ("gelfingest", "now", None)]
    if rsyslog_available():
        variants.append(("rsyslog", "now", None))
    else:
        log("es-system: rsyslog is not installed (make bench installs it); gelfingest only")
    rows = []
    for run in range(args.system_runs):
        for tool, defaults, env in (variants if run % 2 == 0 else variants[::-1]):
            r = side_by_side(es, "es-system", tool, events, args.peer_events, args.system_rate, args.logs, env)
            r["defaults"] = defaults
            if r["delivered"] and r.get("es_cpu_seconds") is not None:
                r["system_us_per_event"] = round(1e6 * (r["cpu_seconds"] + r["es_cpu_seconds"]) / r["delivered"], 1)
            note(r, f"{defaults}: {r.get('system_us_per_event')} us of CPU per event, tool and Elasticsearch")
            rows.append(r)
    for tool, defaults, _ in variants:
        figures = [r["system_us_per_event"] for r in rows
                   if r["tool"] == tool and r["defaults"] == defaults and r.get("system_us_per_event")]
        if figures:
            note(rows[-1], f"median, {tool} {defaults}: {statistics.median(figures):.1f} us per event")
    return rows


# es-template: Elasticsearch's CPU per document under gelfingest's template, against Logstash's (goals).
GOAL_IDLE_OVER_LOGSTASH = 0.75
GOAL_READER_OVER_LOGSTASH = 1.0


def es_template(args: argparse.Namespace, es: LocalElasticsearch) -> list[dict[str, Any]]:
    """benchmarks/es_cost.py on the suite's Elasticsearch: its candidates in its three patterns; a row per run
    and one per candidate and pattern with the medians and the ratio to Logstash's template."""
    runs, medians = es_cost.measure(es, list(es_cost.CANDIDATES), ("idle", "reader", "max"), args.template_rounds,
                                    args.template_docs, es_cost.DEFAULT_RATE)
    rows = []
    for r in [*runs, *medians]:
        median = r in medians
        row_ = {"scenario": "es-template" + ("-median" if median else ""), "tool": r["candidate"],
                "offered_rate": "max" if r["pattern"] == "max" else es_cost.DEFAULT_RATE,
                "delivered_per_s": r["docs_per_s"], "es_cpu_us_per_event": r["es_us_per_doc"], **r}
        note(row_, f"{r['pattern']}, {r['store_mb']} MB" + "".join(
            f", {k} {r[k]}" for k in ("ratio_to_logstash", "search_ms", "stale_s") if r.get(k) is not None))
        wanted = {"idle": GOAL_IDLE_OVER_LOGSTASH, "reader": GOAL_READER_OVER_LOGSTASH}.get(r["pattern"])
        if median and r["candidate"] == "gelfingest" and wanted is not None and r["ratio_to_logstash"]:
            met = r["ratio_to_logstash"] <= wanted
            row_["goal"] = {"figure": "ratio_to_logstash", "wanted": wanted, "met": met}
            note(row_, f"goal <= {wanted:g} x Logstash's {'met' if met else 'MISSED'}")
        rows.append(row_)
    return rows


def processors_options(args: argparse.Namespace) -> argparse.Namespace:
    """benchmarks/processors.py's options from the suite's."""
    return processors.defaults(argparse.Namespace(
        quick=args.quick, parts=None, events=args.processors_events, rounds=args.processors_rounds, repeats=None,
        instruction_events=None, es_events=args.processors_es_events, es_rate=args.processors_es_rate,
        es_runs=args.processors_es_runs))


def processors_core(args: argparse.Namespace) -> list[dict[str, Any]]:
    """benchmarks/processors.py's parts in the core: the cost of each processor of a typical file, callgrind's
    instructions (unless --quick) and the hostile cases."""
    options = processors_options(args)
    options.parts = [part for part in options.parts if part != "es"]
    log(f"processors: {', '.join(options.parts)}")
    return processors.suite_rows(processors.core_parts(options))


def es_processors(args: argparse.Namespace, es: LocalElasticsearch) -> list[dict[str, Any]]:
    """benchmarks/processors.py's comparison of decode_json_fields with Elasticsearch's json processor."""
    options = processors_options(args)
    return processors.suite_rows({"es": processors.es_compare(es, options.es_events, options.es_rate,
                                                               options.es_runs, args.logs / "processors")})


def elasticsearch(args: argparse.Namespace, selected: set[str],
                  events: Sequence[tuple[bytes, ...]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    concurrency = Config().elasticsearch_concurrency
    log("starting a local Elasticsearch (heap 1g)")
    es = LocalElasticsearch(heap="1g")
    try:
        es.start()
        subset = events[: args.es_events]
        datagrams = [d for e in subset for d in e]
        if selected & {"es-ceiling", "es-udp"}:
            ceiling = es_ceiling(es.url, datagrams, concurrency)
            rows.append(ceiling)
        if "es-udp" in selected:
            rate = args.es_rate or ES_OVER_CEILING * ceiling["delivered_per_s"]
            e2e = [es_udp(es, w, subset, rate, args.logs) for w in args.es_workers]
            # The ceiling again after them: on a shared machine it moves; each ratio is to the mean of both.
            again = es_ceiling(es.url, datagrams, concurrency, warm=False)
            mean = (ceiling["delivered_per_s"] + again["delivered_per_s"]) / 2
            for r in e2e:
                r["ceiling_per_s"] = round(mean)
                r["ratio_to_ceiling"] = round(r["delivered_per_s"] / mean, 2)
                goal(r, "ratio_to_ceiling", GOAL_RATIO_TO_CEILING)
            rows += [*e2e, again]
        if "es-burst" in selected:
            rows.append(es_burst(es, events, args.burst_events, args.burst_rate, args.logs,
                                 dict(kv.split("=", 1) for kv in args.burst_env)))
        if selected & {"es-ids", "es-rsyslog", "es-system"} and not selected & {"es-ceiling", "es-udp"}:
            # A cold JVM indexes several times slower: the first tool or kind of id measured would pay for it.
            log("warming Elasticsearch up")
            es_ceiling(es.url, datagrams, concurrency)
        if "es-ids" in selected:
            rows += es_ids(args, es, events)
        if "es-system" in selected:
            rows += es_system(args, es)
        if "es-template" in selected:
            rows += es_template(args, es)
        if "es-processors" in selected:
            rows += es_processors(args, es)
        if "es-rsyslog" in selected:
            if rsyslog_available():
                rows += es_rsyslog(args, es)
            else:
                log("es-rsyslog: rsyslogd or its omelasticsearch module is not installed (make bench installs "
                    "them); left out")
    finally:
        es.cleanup()
    return rows


# -- output ----------------------------------------------------------------------------------------------

COLUMNS = (
    ("scenario", "scenario"), ("tool", "tool"), ("w", "workers"), ("offered/s", "offered_rate"),
    ("sent", "events_sent"), ("sent/s", "sent_rate"), ("dgrams", "datagrams_sent"), ("MiB", "mib_sent"),
    ("received", "received"),
    ("delivered", "delivered"), ("loss", "loss"), ("loss%", "loss_pct"), ("kdrops", "kernel_drops"),
    ("ev/CPU-s", "events_per_cpu_s"), ("ev/s", "delivered_per_s"), ("MiB/s", "mib_per_s"),
    ("RSS MiB", "peak_rss_mib"), ("ES µs/ev", "es_cpu_us_per_event"), ("others", "others_cores"),
    ("note", "note"),
)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[h for h, _ in COLUMNS]]
    cells += [["-" if r.get(k) is None else str(r[k]) for _, k in COLUMNS] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(wd) if i in (0, len(COLUMNS) - 1) else c.rjust(wd)
                       for i, (c, wd) in enumerate(zip(cs, widths, strict=True))).rstrip() for cs in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values from 0 to the first at or above ``top``."""
    raw = max(top, 1.0) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(max(top, 1.0) / step - 1e-9) + 1)]


def curve_svg(rows: list[dict[str, Any]], title: str) -> str:
    """Delivered events/s (left axis, solid) and loss % (right axis, dashed) against the rate offered (as
    the sender achieved it), one colour per worker count; the knee circled and named in the legend; the grey
    line is delivered = offered."""
    width, height, left, right, top, bottom = 760, 460, 80, 70, 50, 60
    pw, ph = width - left - right, height - top - bottom
    xs = nice_ticks(max(max(r["sent_rate"] for r in rows), max(r["delivered_per_s"] or 0 for r in rows)))
    ys, ls = xs, nice_ticks(min(100.0, max(1.0, max(r["loss_pct"] for r in rows))))

    def x(v: float) -> float:
        return left + pw * v / xs[-1]

    def y(v: float) -> float:
        return top + ph * (1 - v / ys[-1])

    def yl(v: float) -> float:
        return top + ph * (1 - v / ls[-1])

    def num(v: float) -> str:
        return f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{html.escape(title)}</text>']
    for v in xs:
        out.append(f'<line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x(v):.1f}" y="{top + ph + 16}" text-anchor="middle">{num(v)}</text>')
    for v in ys:
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{num(v)}</text>')
    for v in ls:
        out.append(f'<text x="{left + pw + 6}" y="{yl(v) + 4:.1f}">{v:g} %</text>')
    out += [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>',
            f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(min(xs[-1], ys[-1])):.1f}" y2="{y(min(xs[-1], ys[-1])):.1f}" '
            f'stroke="#bbb" stroke-dasharray="2,3"/>',
            f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">offered events/s (as sent)</text>',
            f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
            f'delivered events/s (solid)</text>',
            f'<text transform="translate({width - 12} {top + ph / 2}) rotate(90)" text-anchor="middle">'
            f'loss % (dashed)</text>']
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
    for k, w in enumerate(sorted({r["workers"] for r in rows})):
        colour = colours[k % len(colours)]
        points = sorted((r for r in rows if r["workers"] == w), key=lambda r: r["sent_rate"])
        delivered = " ".join(f"{x(r['sent_rate']):.1f},{y(r['delivered_per_s'] or 0):.1f}" for r in points)
        lost = " ".join(f"{x(r['sent_rate']):.1f},{yl(r['loss_pct']):.1f}" for r in points)
        out.append(f'<polyline points="{delivered}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<polyline points="{lost}" fill="none" stroke="{colour}" stroke-width="1.5" '
                   f'stroke-dasharray="6,4"/>')
        for r in points:
            px, py = x(r["sent_rate"]), y(r["delivered_per_s"] or 0)
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
            out.append(f'<rect x="{px - 2.5:.1f}" y="{yl(r["loss_pct"]) - 2.5:.1f}" width="5" height="5" '
                       f'fill="{colour}"/>')
            if r.get("knee"):
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="8" fill="none" stroke="{colour}" '
                           f'stroke-width="1.5"/>')
        knee = next((f", knee (circled) {num(r['offered_rate'])}/s" for r in points if r.get("knee")), ", no knee")
        ly = top + 16 + 18 * k
        out.append(f'<line x1="{left + 12}" y1="{ly - 4}" x2="{left + 36}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2"/>')
        out.append(f'<text x="{left + 42}" y="{ly}">{w} worker{"s" if w != 1 else ""}{knee}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- main ------------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small event counts: a smoke run in under 2 minutes")
    parser.add_argument("--skip-es", action="store_true", help="leave out the Elasticsearch scenarios")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="NAME",
                        help=f"run only these scenarios ({', '.join(SCENARIOS)})")
    parser.add_argument("--json", type=Path, default=RESULTS / "suite.json", help="where the figures go")
    parser.add_argument("--svg", type=Path, default=RESULTS / "curve.svg", help="where the curve's chart goes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (null scenarios)")
    parser.add_argument("--events", type=int, help="events of the max scenarios (200000; quick 20000)")
    parser.add_argument("--rates", type=int, nargs="+",
                        help="offered events/s of the curve (5000 ... 120000; quick 5000 20000 60000)")
    parser.add_argument("--point-seconds", type=float, help="seconds a curve point lasts (4; quick 1)")
    parser.add_argument("--modes-rate", type=int, default=30_000, help="events/s offered in udp-modes")
    parser.add_argument("--modes-seconds", type=float, help="seconds of each udp-modes run (6; quick 2)")
    parser.add_argument("--modes-runs", type=int, help="runs of each mode in udp-modes (3; quick 1)")
    parser.add_argument("--large-sizes", type=int, nargs="+", default=[8, 32, 128], metavar="KB",
                        help="message sizes of udp-large")
    parser.add_argument("--large-kib-rate", type=float, default=40_960,
                        help="KiB/s of decompressed message offered in udp-large (each size at this / KB events/s)")
    parser.add_argument("--burst-events", type=int, help="events of es-burst (200000; quick 50000)")
    parser.add_argument("--burst-rate", type=float, default=60_000, help="events/s offered in es-burst")
    parser.add_argument("--burst-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="the daemon's environment in es-burst, on top of the defaults")
    parser.add_argument("--connections", type=int, default=8, help="TCP connections of tcp-null-max")
    parser.add_argument("--es-events", type=int, help="events of the Elasticsearch scenarios (100000; quick 10000)")
    parser.add_argument("--es-rate", type=float, default=0,
                        help="events/s offered in es-udp (default: 1.25 x the ceiling just measured, so that "
                             "Elasticsearch is the bottleneck)")
    parser.add_argument("--es-workers", type=int, nargs="+", help="worker counts of es-udp (1 2; quick 1)")
    parser.add_argument("--ids-events", type=int, help="events of each es-ids run (200000; quick 20000)")
    parser.add_argument("--ids-rate", type=float, default=40_000, help="events/s offered in es-ids")
    parser.add_argument("--ids-runs", type=int, help="runs of each kind of id in es-ids (3; quick 1)")
    parser.add_argument("--template-docs", type=int, help="documents of each es-template run (100000; quick 20000)")
    parser.add_argument("--template-rounds", type=int, help="rounds of es-template (2; quick 1)")
    parser.add_argument("--system-rate", type=float, default=10_000.0, help="events/s offered in es-system")
    parser.add_argument("--system-runs", type=int, help="runs of each variant in es-system (2; quick 1)")
    parser.add_argument("--processors-events", type=int,
                        help="events of each variant in processors (50000; quick 10000)")
    parser.add_argument("--processors-rounds", type=int, help="rounds of processors (7; quick 3)")
    parser.add_argument("--processors-es-events", type=int,
                        help="JSON lines of each es-processors run (100000; quick 10000)")
    parser.add_argument("--processors-es-rate", type=float, default=8000.0,
                        help="events/s offered in es-processors")
    parser.add_argument("--processors-es-runs", type=int, help="runs of each variant in es-processors (3; quick 1)")
    parser.add_argument("--peer-events", type=int, help="events of each es-rsyslog point (100000; quick 10000)")
    parser.add_argument("--peer-rates", type=int, nargs="+",
                        help="offered events/s of es-rsyslog (10000 20000 40000; quick 10000)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (20_000 if quick else 200_000)
    args.rates = args.rates or ([5000, 20_000, 60_000] if quick else
                                [5000, 10_000, 20_000, 30_000, 40_000, 60_000, 80_000, 120_000])
    args.point_seconds = args.point_seconds or (1.0 if quick else 4.0)
    args.modes_seconds = args.modes_seconds or (2.0 if quick else 6.0)
    args.modes_runs = args.modes_runs or (1 if quick else 3)
    args.burst_events = args.burst_events or (50_000 if quick else 200_000)
    args.es_events = args.es_events or (10_000 if quick else 100_000)
    args.es_workers = args.es_workers or ([1] if quick else [1, 2])
    args.ids_events = args.ids_events or (20_000 if quick else 200_000)
    args.ids_runs = args.ids_runs or (1 if quick else 3)
    args.system_runs = args.system_runs or (1 if quick else 2)
    args.template_docs = args.template_docs or (20_000 if quick else 100_000)
    args.template_rounds = args.template_rounds or (1 if quick else 2)
    args.peer_events = args.peer_events or (10_000 if quick else 100_000)
    args.peer_rates = args.peer_rates or ([10_000] if quick else [10_000, 20_000, 40_000])
    # Each daemon's log, kept beside the figures.
    args.logs = args.json.parent / "suite-logs"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selected = set(args.only or SCENARIOS) - (set(ES_SCENARIOS) if args.skip_es else set())
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                              "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                              "rows": []}
    rows: list[dict[str, Any]] = result["rows"]
    try:
        udp_count = max(args.events if selected & {"udp-null-max", "udp-null-curve"} else 0,
                        args.es_events if selected & set(ES_SCENARIOS) else 0,
                        min(args.ids_events, 200_000) if "es-ids" in selected else 0,
                        args.burst_events if "es-burst" in selected else 0)
        t = time.perf_counter()
        events = udp_events(udp_count) if udp_count else []
        small = (udp_events(min(args.events, 50_000), chunked_share=0.0)
                 if selected & {"udp-modes", "udp-small-max", "udp-inflaters"} else [])
        frames = tcp_frames(args.events) if "tcp-null-max" in selected else []
        log(f"traffic encoded in {time.perf_counter() - t:.1f} s: {len(events)} UDP events, {len(frames)} TCP frames")
        if "udp-null-max" in selected:
            rows += udp_null_max(args, events[: args.events])
        if "udp-small-max" in selected:
            rows += udp_small_max(args, small)
        if "udp-null-curve" in selected:
            rows += udp_null_curve(args, events[: args.events])
        if "udp-modes" in selected:
            rows += udp_modes(args, small)
        if "udp-inflaters" in selected:
            rows += udp_inflaters(args, small, events[: args.events] or udp_events(min(args.events, 50_000)))
        if "udp-large" in selected:
            rows += udp_large(args)
        if "tcp-null-max" in selected:
            rows += tcp_null_max(args, frames)
        if "processors" in selected:
            rows += processors_core(args)
        if selected & set(ES_SCENARIOS):
            rows += elasticsearch(args, selected, events)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result["seconds"] = round(time.perf_counter() - STARTED, 1)
        result["knees"] = {str(r["workers"]): r["offered_rate"] for r in rows if r.get("knee")}
        print(table(rows))
        for r in rows:
            if r["scenario"] == "udp-null-curve" and r.get("knee"):
                print(f"knee, {r['workers']} worker(s): {r['offered_rate']} events/s offered "
                      f"({r['delivered_per_s']} delivered/s, loss {r['loss_pct']} %)")
        print(f"took {result['seconds']} s; figures in {args.json}, the daemons' logs in {args.logs}")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        curve = [r for r in rows if r["scenario"] == "udp-null-curve"]
        if curve:
            m = result["machine"]
            args.svg.parent.mkdir(parents=True, exist_ok=True)
            args.svg.write_text(curve_svg(curve, f"gelfingest UDP into null: delivered and loss vs offered "
                                                 f"({m['nproc']} cores, {result['date'][:10]})"))
            print(f"curve in {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
