"""What the durable answer adds to the latency of an HTTP request: ``--http-ack durable`` against
``--http-ack received``, side by side, with Elasticsearch up and with it down (the spool).

    .venv/bin/python -m benchmarks.ack_latency [--seconds 15] [--rounds 2] [--rates 1 10 100]
                                               [--inputs otlp [gelf]] [--states up down] [--warmup 2]
                                               [--json PATH]

One local Elasticsearch (started here) for the whole run. For each state two daemons (one worker each, OTLP
and GELF HTTP on loopback, each into its own index) run at once: one with ``--http-ack durable``, one with
``--http-ack received``. ``up``: both into that Elasticsearch. ``down``: both pointed at a port nothing
listens on, with ``--spool-after 1``. Each is first fed for STATE_WARMUP seconds (up: ES_WARMUP) at
STATE_WARMUP_RATE, not counted: Elasticsearch's JVM compiles its bulk path meanwhile, and down, the daemon is
spooling before anything is measured (the requests of the first ``--spool-after`` seconds of an outage wait for
it, and are not what is measured here).

A cell is one input at one rate against one side: ``POST /v1/logs`` with protobuf requests (benchmarks/otlp.py's
records: RECORDS log records of 10 attributes each, under one resource) or, with ``--inputs gelf``, ``POST
/gelf`` with one GELF message. Requests go over keep-alive connections (http.client), one a sender thread,
each thread pacing its share of the rate (1 thread up to PER_THREAD requests a second, more above): open
loop, except that a request due while its thread still waits for an answer goes when the answer came (counted
as ``late``); latency is timed from the request's send to its answer read, on the client. Each cell is
preceded by ``--warmup`` seconds at its rate that are not counted, then measured for ``--seconds``. Every
round measures every cell of both sides, the side that goes first alternating from cell to cell and round to
round, so that the noise of a shared machine falls on both alike: compare only figures of one run.

Per cell, over all rounds: requests answered, the rate achieved, median, p90, p99 and max latency in ms,
answers other than 2xx (and connection errors), late sends, the medians of each round; from the daemon's
metrics snapshots over the cell, with Elasticsearch up its bulk requests per HTTP request (group commit:
below 1 when requests share a bulk), and for the durable side its ``gelfingest_http_acks`` by outcome
(durable / spooled / refused) and the mean of its ``gelfingest_http_ack_wait_seconds``. The ``added`` row is
durable's figure less received's. The median fsync of a 10 KB append where the spools are (the temporary
folder) is printed with them: the spool's cost is mostly that, and a virtual disk with a write-back cache
makes it far cheaper than a real one. The table goes to stdout; the figures with the machine and the options
to ``--json`` (benchmarks/results/ack_latency.json); the daemons' logs to ack_latency-logs/ beside it.

With Elasticsearch up, also what each side costs Elasticsearch: its CPU-µs per document indexed (the JVM's
process tree, utime + stime of /proc/<pid>/stat). Both daemons run at once but only one is sent to at a time,
so Elasticsearch's CPU during a cell is that side's, once nothing is left over from before: after a cell's
warm-up, and again after its measured seconds, the benchmark waits for the daemon's last batch (its
--batch-max-age, then until its documents-indexed counter holds every document answered), refreshes the side's
indices and waits until Elasticsearch is quiet (its CPU over QUIET_INTERVAL back to its idle rate); the CPU is
read at both of those points and the documents are the daemon's documents-indexed counter between them. The
refresh makes each cell pay for writing its own documents' segments: unsearched (search-idle) indices are
otherwise refreshed only when the indexing buffer fills, in whichever cell that happens. Elasticsearch's idle rate
(both daemons connected, nothing sent) is measured over IDLE_SECONDS before the first round and after the last,
and their mean times the cell's span is taken off. The daemons' template (--refresh-interval auto) makes
their indices search-idle 1 s after a search, and nothing searches them: no scheduled refresh, for either side,
only the one at the end of each cell (the refreshes, flushes and merges Elasticsearch counts on the side's
indices over a cell are in the JSON). A merge lands in the cell whose refresh set it off: the right side's (each
side has its own indices) but perhaps another cell's documents, so that one round of a small cell can be far
above the others (the figures by round show it).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.measure import RESULTS, bench_daemon, es_call, machine
from benchmarks.otlp import make_request
from gelfingest.core.batch import DEFAULT_BATCH_MAX_AGE
from gelfingest.local_es import LocalElasticsearch
from gelfingest.metrics import merge
from gelfingest.net import free_port
from gelfingest.storage.snapshots import read_snapshots
from tests.harness import Daemon, children, cpu_seconds

STARTED = time.perf_counter()
SIDES = ("durable", "received")
STATES = ("up", "down")
INPUTS = ("otlp", "gelf")
# OTLP log records a request (each with 10 attributes).
RECORDS = 10
# Distinct request bodies, sent in turn.
DISTINCT = 200
# Requests a second one sender thread paces at most.
PER_THREAD = 25
# ``down``: --spool-after. How long each daemon is fed before its first cell, and how fast (requests a second):
# Elasticsearch's JVM compiles its bulk path meanwhile (the first cell after its start was ~4 x slower without),
# and a daemon whose Elasticsearch is down spools by then.
SPOOL_AFTER = 1.0
STATE_WARMUP = 5.0
STATE_WARMUP_RATE = 100
# ``up``: how long each daemon is fed instead. After 5 s, Elasticsearch's CPU per document over the first
# round was still up to several times that of the next two, on both sides (its JIT compiling); after 30 s the
# first round is still somewhat higher, mostly on the durable side: compare the rounds.
ES_WARMUP = 30.0
# Client-side timeout of one request (the daemon answers within --http-ack-timeout, 3 s).
REQUEST_TIMEOUT = 30.0
PROTOBUF = {"content-type": "application/x-protobuf"}
GELF_JSON = {"content-type": "application/json"}
# Elasticsearch's CPU per document (state ``up``): the seconds its idle CPU is measured over (before the first
# round and after the last); the interval its CPU is read at while waiting for it to be quiet, the CPU-seconds
# above its idle rate an interval may take and still count as quiet, and how long it is waited for at most;
# how long after a cell the daemon's last batch is waited for at least (its --batch-max-age, and a margin).
IDLE_SECONDS = 10.0
QUIET_INTERVAL = 0.5
QUIET_SLACK = 0.02
QUIET_TIMEOUT = 20.0
FLUSH_WAIT = DEFAULT_BATCH_MAX_AGE + 0.3


def log(msg: str) -> None:
    print(f"[ack_latency {time.perf_counter() - STARTED:5.0f} s] {msg}", file=sys.stderr, flush=True)


# -- the requests -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Requests:
    path: str
    headers: dict[str, str]
    bodies: list[bytes]


def otlp_requests() -> Requests:
    return Requests("/v1/logs", PROTOBUF, [make_request(RECORDS, seed).SerializeToString() for seed in range(DISTINCT)])


def gelf_requests() -> Requests:
    bodies = [orjson.dumps({"version": "1.1", "host": "node-7", "short_message": f"order {i:05d} paid by card, 3 "
                            f"items shipped", "level": 6, "_service": "checkout", "_order_id": i,
                            "_http_route": "/api/orders", "_http_status_code": 200, "_duration_ms": 12.5})
              for i in range(DISTINCT)]
    return Requests("/gelf", GELF_JSON, bodies)


# -- the senders ----------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Sent:
    latencies: list[float] = field(default_factory=list)  # seconds, of the requests answered
    statuses: Counter[int] = field(default_factory=Counter)  # -1: no answer (connection error, timeout)
    late: int = 0  # sent more than a thread's interval after they were due (the answer before came late)
    seconds: float = 0.0

    def add(self, other: Sent) -> None:
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.late += other.late
        self.seconds += other.seconds


def send_paced(port: int, requests: Requests, rate: float, seconds: float) -> Sent:
    """``rate`` requests a second for ``seconds``, each sender thread over its keep-alive connection."""
    threads = max(1, math.ceil(rate / PER_THREAD))
    total = max(1, round(rate * seconds))
    interval = threads / rate  # between two sends of one thread
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT) for _ in range(threads)]
    for conn in conns:
        conn.connect()
    results = [Sent() for _ in range(threads)]
    t0 = time.perf_counter() + 0.02

    def sender(k: int) -> None:
        conn, out = conns[k], results[k]
        for j in range(k, total, threads):
            due = t0 + j / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            elif now - due > interval:
                out.late += 1
            body = requests.bodies[j % len(requests.bodies)]
            start = time.perf_counter()
            try:
                conn.request("POST", requests.path, body, requests.headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                out.statuses[-1] += 1
                conn.close()  # http.client connects again at the next request
                continue
            out.latencies.append(time.perf_counter() - start)
            out.statuses[response.status] += 1

    workers = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = max(time.perf_counter() - t0, total / rate)  # the last one is due 1/rate before the end
    for conn in conns:
        conn.close()
    sent = Sent(seconds=elapsed)
    for r in results:
        sent.add(r)
    return sent


# -- the daemons ----------------------------------------------------------------------------------------------

def start_daemon(side: str, state: str, es_url: str, logs: Path, index: str) -> Daemon:
    env = {"GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_OTLP": "127.0.0.1:0", "GELFINGEST_HTTP_ACK": side,
           "GELFINGEST_SPOOL_AFTER": f"{SPOOL_AFTER:g}"}
    return bench_daemon(1, es_url=es_url, index=index, keep_log=logs / f"{state}-{side}.log", env=env)


def port_of(d: Daemon, inp: str) -> int:
    return d.otlp_port if inp == "otlp" else d.http_port


def daemon_counters(d: Daemon, since: float, timeout: float = 5.0) -> tuple[Counter[str], bool]:
    """From a metrics snapshot of the daemon written after ``since`` (time.time(); one is written every
    second): its durable answers by outcome (``durable``, ``spooled``, ``refused``), the µs they waited
    (``wait_sum_us``, ``wait_count``: its gelfingest_http_ack_wait_seconds), its bulk requests (``bulks``) and
    their µs (``bulk_sum_us``, ``bulk_count``: gelfingest_bulk_request_duration_seconds), so far; and whether
    it spools new batches."""
    deadline = time.monotonic() + timeout
    path = d.data_dir / "metrics.0.json"
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime > since:
                break
        time.sleep(0.05)
    snap = merge(read_snapshots(d.data_dir))

    def values(name: str) -> dict[str, float]:
        return dict(snap.get(name, ["", "", {}])[2])

    out = Counter({key.split("=", 1)[1]: int(v) for key, v in values("gelfingest_http_acks").items()})
    wait = values("gelfingest_http_ack_wait_seconds")
    out["wait_sum_us"] = round(1e6 * wait.get("sum", 0.0))
    out["wait_count"] = int(wait.get("le=+Inf", 0))
    out["bulks"] = int(sum(values("gelfingest_bulk_requests").values()))
    out["bulk_sum_us"] = round(1e6 * values("gelfingest_bulk_request_duration_seconds").get("sum", 0.0))
    out["bulk_count"] = int(values("gelfingest_bulk_request_duration_seconds").get("le=+Inf", 0))
    out["indexed"] = int(sum(values("gelfingest_documents_indexed").values()))
    return out, bool(sum(values("gelfingest_spooling").values()))


def fsync_ms(directory: Path, count: int = 100) -> float:
    """Median ms of an fsync after appending 10 KB to a file in ``directory`` (what a spool write costs
    there: a virtual disk with a write-back cache makes it far cheaper than a real one)."""
    path = directory / f"ack-latency-fsync-{time.time_ns()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 10_000)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return 1e3 * statistics.median(times)


def spooling(d: Daemon) -> bool:
    return any("spooling to" in line for line in list(d.log))


# -- Elasticsearch's CPU --------------------------------------------------------------------------------------

def es_cpu(es: LocalElasticsearch) -> float:
    """CPU-seconds of Elasticsearch's whole process tree (runuser, the JVM, its ML controller) so far."""
    assert es.process is not None
    pids, total = [es.process.pid], 0.0
    while pids:
        pid = pids.pop()
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
        pids += children(pid)
    return total


def es_quiet(es: LocalElasticsearch, idle: float) -> float:
    """Wait until Elasticsearch takes at most ``idle`` cores (its idle rate) and QUIET_SLACK CPU-seconds in a
    QUIET_INTERVAL (or QUIET_TIMEOUT); the seconds waited."""
    t0 = time.monotonic()
    last = es_cpu(es)
    while time.monotonic() - t0 < QUIET_TIMEOUT:
        time.sleep(QUIET_INTERVAL)
        now = es_cpu(es)
        if now - last <= idle * QUIET_INTERVAL + QUIET_SLACK:
            break
        last = now
    else:
        log(f"Elasticsearch not quiet after {QUIET_TIMEOUT:g} s")
    return time.monotonic() - t0


def es_idle_rate(es: LocalElasticsearch, seconds: float = IDLE_SECONDS) -> float:
    """The cores Elasticsearch keeps busy with nothing sent to it (once quiet), over ``seconds``."""
    es_quiet(es, 0.05)
    cpu0, t0 = es_cpu(es), time.perf_counter()
    time.sleep(seconds)
    return (es_cpu(es) - cpu0) / (time.perf_counter() - t0)


def es_index_stats(es: LocalElasticsearch, index: str) -> Counter[str]:
    """Refreshes, flushes and merges Elasticsearch counts on the indices ``index*`` so far (its primaries)."""
    try:
        stats = es_call(es.url, "GET", f"/{index}*/_stats/refresh,flush,merge")["_all"]["primaries"]
    except (OSError, KeyError, ValueError):
        return Counter()
    return Counter({"refreshes": stats["refresh"]["total"], "flushes": stats["flush"]["total"],
                    "merges": stats["merges"]["total"]})


def settle(d: Daemon, es: LocalElasticsearch, idle: float, sent: Sent, records: int, since: Counter[str],
           index: str) -> tuple[Counter[str], int]:
    """After ``sent`` (``records`` documents a request): wait for the daemon's last batch (FLUSH_WAIT, then
    until its indexed counter is past ``since``'s by the documents answered 2xx, at most 10 s more), refresh
    its indices (``index*``: the documents' segments written now, by this side) and wait for Elasticsearch to
    be quiet; the daemon's counters, and the documents answered."""
    docs = records * sum(n for status, n in sent.statuses.items() if 200 <= status < 300)
    time.sleep(FLUSH_WAIT)
    deadline = time.monotonic() + 10.0
    while True:
        counters, _ = daemon_counters(d, time.time())
        if counters["indexed"] - since["indexed"] >= docs or time.monotonic() > deadline:
            break
    es_call(es.url, "POST", f"/{index}*/_refresh")
    es_quiet(es, idle)
    return counters, docs


# -- the figures ----------------------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))]


@dataclass(slots=True)
class Cell:
    sent: Sent = field(default_factory=Sent)
    round_medians: list[float] = field(default_factory=list)
    daemon: Counter[str] = field(default_factory=Counter)  # daemon_counters over the cell
    not_spooling: int = 0  # ``down``: measurements after which the daemon did not say it spools
    es_cpu: float = 0.0  # ``up``: Elasticsearch's CPU-seconds over the cell's spans, its idle rate's not taken off
    es_span: float = 0.0  # the seconds of those spans
    es_docs: int = 0  # the documents the daemon indexed over them
    docs_answered: int = 0  # the documents of the requests answered 2xx
    es_stats: Counter[str] = field(default_factory=Counter)  # es_index_stats over the spans
    es_rounds: list[tuple[float, float, int]] = field(default_factory=list)  # (es_cpu, es_span, es_docs) a round

    def es_us_per_doc(self, idle: float) -> float:
        return 1e6 * (self.es_cpu - idle * self.es_span) / self.es_docs if self.es_docs else math.nan

    def figures(self, rate: float, idle: float | None) -> dict[str, Any]:
        lat = sorted(self.sent.latencies)
        non_2xx = sum(n for status, n in self.sent.statuses.items() if not 200 <= status < 300)
        return {"requests": len(lat), "rate": round(len(lat) / self.sent.seconds, 1) if self.sent.seconds else 0.0,
                "median_ms": 1e3 * percentile(lat, 50), "p90_ms": 1e3 * percentile(lat, 90),
                "p99_ms": 1e3 * percentile(lat, 99), "max_ms": 1e3 * (lat[-1] if lat else math.nan),
                "non_2xx": non_2xx, "statuses": {str(k): v for k, v in sorted(self.sent.statuses.items())},
                "late": self.sent.late, "round_medians_ms": [round(1e3 * m, 2) for m in self.round_medians],
                "acks": {k: self.daemon[k] for k in ("durable", "spooled", "refused")},
                "daemon_wait_mean_ms": (self.daemon["wait_sum_us"] / 1e3 / self.daemon["wait_count"]
                                        if self.daemon["wait_count"] else math.nan),
                "bulks": self.daemon["bulks"],
                "bulk_mean_ms": (self.daemon["bulk_sum_us"] / 1e3 / self.daemon["bulk_count"]
                                 if self.daemon["bulk_count"] else math.nan),
                "not_spooling": self.not_spooling, "target_rate": rate,
                **({} if idle is None else {
                    "es_us_per_doc": self.es_us_per_doc(idle),
                    "es_us_per_doc_by_round": [round(1e6 * (c - idle * s) / n, 1) if n else math.nan
                                               for c, s, n in self.es_rounds],
                    "es_us_per_doc_idle_not_subtracted": 1e6 * self.es_cpu / self.es_docs if self.es_docs else math.nan,
                    "es_cpu_s": round(self.es_cpu, 3), "es_idle_subtracted_s": round(idle * self.es_span, 3),
                    "es_span_s": round(self.es_span, 1), "es_docs": self.es_docs,
                    "docs_answered": self.docs_answered, "es_index": dict(self.es_stats)})}


def table(results: dict[str, Any]) -> str:
    head = (f"{'state':<5} {'input':<5} {'req/s':>5} {'side':<8} {'n':>5} {'got/s':>6} {'median':>7} {'p90':>7} "
            f"{'p99':>7} {'max':>7} {'non2xx':>6} {'late':>4} {'bulks/req':>9} {'bulk':>5} {'ES µs/doc':>9} "
            f"{'acks dur/spool/refused':<22} {'ack wait':>8}  medians by round; ES µs/doc by round")
    lines = [head, "-" * len(head)]
    for state, by_input in results["cells"].items():
        for inp, by_rate in by_input.items():
            for rate, sides in by_rate.items():
                for side in SIDES:
                    f = sides[side]
                    acks = f["acks"]
                    durable = side == "durable"
                    acks_text = f"{acks['durable']}/{acks['spooled']}/{acks['refused']}" if durable else "-"
                    wait = f"{f['daemon_wait_mean_ms']:8.2f}" if durable else f"{'-':>8}"
                    up = state == "up" and f["requests"]
                    bulks = (f"{f['bulks'] / f['requests']:9.2f}" if up else f"{'-':>9}") + (
                        f" {f['bulk_mean_ms']:5.1f}" if up and f["bulks"] else f" {'-':>5}")
                    es = f"{f['es_us_per_doc']:9.1f}" if "es_us_per_doc" in f else f"{'-':>9}"
                    by_round = ("; " + " ".join(f"{c:.0f}" for c in f["es_us_per_doc_by_round"])
                                if "es_us_per_doc" in f else "")
                    lines.append(f"{state:<5} {inp:<5} {rate:>5} {side:<8} {f['requests']:>5} {f['rate']:>6.1f} "
                                 f"{f['median_ms']:>7.2f} {f['p90_ms']:>7.2f} {f['p99_ms']:>7.2f} "
                                 f"{f['max_ms']:>7.1f} {f['non_2xx']:>6} {f['late']:>4} {bulks} {es} "
                                 f"{acks_text:<22} {wait}  " + " ".join(f"{m:.2f}" for m in f["round_medians_ms"])
                                 + by_round
                                 + (f"  (not spooling after {n} round(s))" if (n := f["not_spooling"]) else ""))
                d, r = sides["durable"], sides["received"]
                es_added = ""
                if "es_us_per_doc" in d:
                    ratio = d["es_us_per_doc"] / r["es_us_per_doc"] if r["es_us_per_doc"] > 0 else math.nan
                    es_added = (f" {'':>6} {'':>4} {'':>9} {'':>5} {d['es_us_per_doc'] - r['es_us_per_doc']:>+9.1f}"
                                f" x{ratio:.2f}")
                lines.append(f"{'':<5} {'':<5} {'':>5} {'added':<8} {'':>5} {'':>6} "
                             + " ".join(f"{d[k] - r[k]:>+7.2f}" for k in ("median_ms", "p90_ms", "p99_ms"))
                             + f" {d['max_ms'] - r['max_ms']:>+7.1f}" + es_added)
    return "\n".join(lines)


# -- the run --------------------------------------------------------------------------------------------------

def run_state(state: str, es: LocalElasticsearch, args: argparse.Namespace, requests: dict[str, Requests],
              logs: Path) -> dict[str, Any]:
    """The cells of ``state``; and, ``up``, Elasticsearch's idle rate (cores) before and after them."""
    up = state == "up"
    es_url = es.url if up else f"http://127.0.0.1:{free_port()}"
    daemons: dict[str, Daemon] = {}
    indices = {side: f"bench-ack-{state}-{side}-{time.time_ns()}" for side in SIDES}
    cells = {inp: {rate: {side: Cell() for side in SIDES} for rate in args.rates} for inp in args.inputs}
    idle: dict[str, float] = {}
    try:
        for side in SIDES:
            daemons[side] = start_daemon(side, state, es_url, logs, indices[side])
        feed = ES_WARMUP if up else STATE_WARMUP
        log(f"{state}: daemons started ({es_url}); feeding each for {feed:g} s at {STATE_WARMUP_RATE}/s")
        for side in SIDES:
            for inp in args.inputs:
                send_paced(port_of(daemons[side], inp), requests[inp], STATE_WARMUP_RATE, feed / len(args.inputs))
            if state == "down" and not spooling(daemons[side]):
                log(f"{state}: the {side} daemon has not logged that it spools yet")
        if up:
            time.sleep(FLUSH_WAIT)
            idle["before"] = es_idle_rate(es)
            log(f"{state}: Elasticsearch idle: {idle['before']:.4f} cores over {IDLE_SECONDS:g} s")
        idle_now = idle.get("before", 0.0)
        turn = 0
        for r in range(args.rounds):
            for rate in args.rates:
                for inp in args.inputs:
                    order = SIDES if turn % 2 == 0 else SIDES[::-1]
                    turn += 1
                    for side in order:
                        d, cell = daemons[side], cells[inp][rate][side]
                        port = port_of(d, inp)
                        records = RECORDS if inp == "otlp" else 1
                        if up:
                            pre, _ = daemon_counters(d, time.time())
                        warm = send_paced(port, requests[inp], rate, args.warmup)
                        if up:  # the warm-up's batches indexed and refreshed, and Elasticsearch quiet
                            before, _ = settle(d, es, idle_now, warm, records, pre, indices[side])
                            stats0 = es_index_stats(es, indices[side])
                        else:
                            before, _ = daemon_counters(d, time.time())  # the warm-up's answers counted
                        cpu0, t0 = es_cpu(es), time.perf_counter()
                        sent = send_paced(port, requests[inp], rate, args.seconds)
                        if up:
                            after, docs = settle(d, es, idle_now, sent, records, before, indices[side])
                            cpu, span = es_cpu(es) - cpu0, time.perf_counter() - t0
                            stats1 = es_index_stats(es, indices[side])
                            cell.es_stats.update({k: stats1[k] - stats0[k] for k in stats1})
                            indexed = after["indexed"] - before["indexed"]
                            cell.es_cpu += cpu
                            cell.es_span += span
                            cell.es_docs += indexed
                            cell.docs_answered += docs
                            cell.es_rounds.append((cpu, span, indexed))
                            if indexed != docs:
                                log(f"{state} {inp} {rate:g}/s {side}: {indexed} documents indexed, {docs} answered")
                        else:
                            after, spools = daemon_counters(d, time.time())
                            cell.not_spooling += not spools
                        cell.daemon.update(after - before)
                        cell.sent.add(sent)
                        med = percentile(sorted(sent.latencies), 50)
                        cell.round_medians.append(med)
                        bad = sum(n for s, n in sent.statuses.items() if not 200 <= s < 300)
                        es_text = (f", ES {1e6 * (cpu - idle_now * span) / indexed:.0f} µs/doc"
                                   if up and indexed else "")
                        log(f"{state} round {r + 1}/{args.rounds} {inp} {rate:g}/s {side}: {len(sent.latencies)} "
                            f"answers, median {1e3 * med:.2f} ms, max {1e3 * max(sent.latencies, default=0):.1f} "
                            f"ms, {bad} not 2xx, {sent.late} late{es_text}")
        if up:
            time.sleep(FLUSH_WAIT)
            idle["after"] = es_idle_rate(es)
            log(f"{state}: Elasticsearch idle: {idle['after']:.4f} cores over {IDLE_SECONDS:g} s")
        for side, d in daemons.items():
            errors = d.errors()
            if errors:
                log(f"{state}: the {side} daemon logged {len(errors)} errors, e.g. {errors[0]}")
    finally:
        for d in daemons.values():
            d.close()
    idle_rate = statistics.fmean(idle.values()) if idle else None
    out: dict[str, Any] = {inp: {str(rate): {side: cells[inp][rate][side].figures(rate, idle_rate) for side in SIDES}
                                 for rate in args.rates} for inp in args.inputs}
    return {"cells": out, "es_idle_cores": {k: round(v, 4) for k, v in idle.items()}}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds of each cell and round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--rates", type=float, nargs="+", default=[1.0, 10.0, 100.0], help="requests a second")
    p.add_argument("--inputs", nargs="+", choices=INPUTS, default=["otlp"])
    p.add_argument("--states", nargs="+", choices=STATES, default=list(STATES))
    p.add_argument("--warmup", type=float, default=2.0, help="seconds at a cell's rate before it is measured")
    p.add_argument("--json", type=Path, default=RESULTS / "ack_latency.json")
    args = p.parse_args(argv)
    args.rates = [int(r) if r == int(r) else r for r in args.rates]
    logs = args.json.parent / "ack_latency-logs"
    requests = {"otlp": otlp_requests(), "gelf": gelf_requests()}
    result: dict[str, Any] = {"machine": machine(),
                              "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                              "cells": {}}
    # Where the daemons' data dirs (and spools) are made (tests/harness.py's temporary ones).
    result["fsync_ms"] = round(fsync_ms(Path(tempfile.gettempdir())), 3)
    es = LocalElasticsearch()
    log("starting a local Elasticsearch")
    es.start()
    try:
        for state in args.states:
            ran = run_state(state, es, args, requests, logs)
            result["cells"][state] = ran["cells"]
            if ran["es_idle_cores"]:
                result["es_idle_cores"] = ran["es_idle_cores"]
    finally:
        es.cleanup()
    result["seconds"] = round(time.perf_counter() - STARTED, 1)
    print(f"Latency of one HTTP request (client side, send to answer read), ms; {args.rounds} rounds of "
          f"{args.seconds:g} s a cell after {args.warmup:g} s of warm-up, sides alternating; OTLP: protobuf, "
          f"{RECORDS} records of 10 attributes a request; GELF: one message a request.")
    print(f"'down': Elasticsearch unreachable, --spool-after {SPOOL_AFTER:g}; measured once the daemon spools "
          f"(each fed {STATE_WARMUP:g} s first: the requests of an outage's first --spool-after seconds wait "
          f"longer and are not in these figures). 'late': sends more than a thread's interval behind schedule.")
    print(f"bulks/req: the daemon's bulk requests per HTTP request ('up'), bulk: their mean duration, ms; "
          f"acks: its gelfingest_http_acks by outcome; ack wait: its mean wait of a durable answer "
          f"(gelfingest_http_ack_wait_seconds), ms. An fsync of the spool's file system ({tempfile.gettempdir()}) "
          f"takes {result['fsync_ms']} ms (median).")
    if idle := result.get("es_idle_cores"):
        print(f"ES µs/doc ('up', each daemon fed {ES_WARMUP:g} s first): Elasticsearch's CPU-µs (its process tree) "
              f"per document the daemon indexed, from after the cell's warm-up to its last batch indexed, its "
              f"indices refreshed and Elasticsearch quiet again, less its idle rate over that span: "
              f"{idle.get('before', math.nan):.4f} cores before the rounds, {idle.get('after', math.nan):.4f} "
              f"after (mean taken off). 'added': durable less received, "
              f"and durable / received.")
    print(table(result))
    print(f"took {result['seconds']} s; figures in {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
