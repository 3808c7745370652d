"""The processors stage's cost (issue 24): each processor of a typical file on small Docker messages, the
hostile cases, and decode_json_fields against Elasticsearch's own ``json`` ingest processor.

    .venv/bin/python -m benchmarks.processors [--quick] [--parts core instructions hostile es]
                                              [--events N] [--rounds N] [--es-events N] [--es-rate R]
                                              [--es-runs N] [--json PATH]

The suite runs the same as its ``processors`` (parts 1 to 3) and ``es-processors`` (part 4) scenarios
(``make bench``). The whole run takes about 10 minutes on two shared cores; ``--quick`` (smaller counts, no
instruction counts unless ``--parts`` names them) about 2. Figures go to stdout, and with the machine and the
options to ``--json`` (benchmarks/results/processors.json); the daemons' logs to processors-logs/ beside it.

The traffic: Docker's gelf driver's small messages (benchmarks/traffic.py's fields, gzipped at level 1),
whose lines are 10 % health probes (``10.1.0.1 - - "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"``;
half of them from kube-probe, found by ``contains``, half from another agent, found by the ``regexp``),
30 % JSON objects a service printed (11 to 14 keys, some with a nested object, a ``token`` or an e-mail
address), 3 % text holding a card number, 3 % a bearer token, the rest ordinary text lines. The typical
file (TYPICAL) drops the probes (``drop_event`` with ``when: or: [contains, regexp]``), decodes the JSON
(``decode_json_fields`` into ``json``), redacts ``message`` and ``json`` (``keys`` and the built-in
detectors) and adds a field (``add_fields``), with the daemon's defaults for every bound.

1. Core cost (``core``): the pure core (``Ingest.take_many``: decompress, decode, processors, sequence,
   encode, batch), fed as benchmarks/instructions.py feeds it (reads of 64 datagrams, each with its own
   receive stamp), with the daemon's default settings. CPU microseconds (``time.process_time``) per event
   received -- a dropped event counts, and costs what came before its drop -- with processors off, with an
   empty file (the stage's own cost), then with the typical file one processor more at a time: each row's
   ``marginal`` is what its processor adds per event, and ``total`` is the whole file's over processors off
   (a dropped probe saves its encoding, so drop_event's own figure can be below zero). Every variant runs
   once a round over the same ``--events`` (50,000), the order reversed every other round; medians of
   ``--rounds`` (7). The noise of a shared machine is about +-1 us: compare figures of one run.
2. Instructions (``instructions``, when valgrind is installed): per event with processors off and with the
   typical file, counted by callgrind as benchmarks/instructions.py counts them (its child feeds the core;
   here it gets the pipeline), deterministic where timings are not.
3. Hostile cases (``hostile``): one event through a one-processor file, in the core, milliseconds of CPU per
   event (median of a few), and what became of it: a JSON object of about 1 MB with 100,000 keys through
   decode_json_fields (refused by --max-fields; and with --max-fields raised so that it is parsed whole),
   10,000 levels of nesting, ``a`` * 50,000 + ``!`` (and 1 MiB of it) against ``(a+)+$`` and ``(a+)+b``
   through a ``regexp`` condition and through ``replace`` (RE2: linear; it reads the first from the end,
   where it is anchored, the second from the start), Python's ``re`` on ``(a+)+$`` for 20 to 25 characters
   for contrast (exponential: twice the time for each more character; 50,000 would never end), and redact
   over a line just under --max-message-size (8 MiB by default) of log words with a few e-mails, of e-mails
   and numbers every 60 bytes (more secrets than MAX_REPLACEMENTS), of digits, and of random digits, dashes,
   spaces and ``@``.
4. decode_json_fields against Elasticsearch's ``json`` processor (``es``), in one run against a local
   Elasticsearch (started here, heap 1g; in the suite, the suite's): ``--es-events`` (100,000) small Docker
   messages, every one a JSON line, over UDP at ``--es-rate`` (8,000/s) to one worker into a fresh index
   each time (gelfingest's template): ``gelfingest``, the daemon with ``--processors`` holding
   decode_json_fields (target ``json``); ``elasticsearch``, the daemon without processors and with
   ``--pipeline`` naming an ingest pipeline whose only processor is ``{"json": {"field": "message",
   "target_field": "json"}}``; and ``neither``, no parsing at all, the baseline of both. Each once uncounted
   (the JVM compiles each path the first time), then ``--es-runs`` (3) times in turn, the order reversed every
   other round. Per event indexed: gelfingest's CPU (supervisor and worker, from the first datagram until it
   is idle with every document indexed) and Elasticsearch's (its JVM from the first datagram through a final
   refresh and SETTLE_SECONDS of merges), their sum (the whole system's cost), medians; the ratio of the
   sums says which is cheaper for the whole system (and whether every run says so, or only the medians);
   each way's cost over ``neither`` on each side; and Elasticsearch's idle CPU (measured once, as
   benchmarks/es_cost.py does), with the share of it in each figure. Equivalence: every document of each run
   has ``json.event_id``, and in the first counted round SAMPLE documents picked by id have the same
   ``json`` under both.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import gc
import gzip
import json
import os
import pickle
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks import es_cost, instructions
from benchmarks.measure import (
    RESULTS,
    bench_daemon,
    es_call,
    es_cpu_seconds,
    es_quiet,
    machine,
    wait_indexed,
    wait_until_idle,
)
from benchmarks.traffic import _keep_freed_memory, docker_event, line_text, send_udp
from gelfingest.config import Config
from gelfingest.core.ingest import Ingest
from gelfingest.core.processors import Context, Pipeline, build
from gelfingest.core.processors.redact import UNSCANNED
from gelfingest.local_es import LocalElasticsearch
from gelfingest.processing import context

STARTED = time.perf_counter()

# -- the traffic ------------------------------------------------------------------------------------------

PROBE_SHARE = 0.10
JSON_SHARE = 0.30
CARD_SHARE = 0.03
TOKEN_SHARE = 0.03
# Probe requests: the first two are kube-probe's (``contains``), the others another agent's (the ``regexp``).
PROBES = ('"GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"', '"GET /readyz HTTP/1.1" 200 2 "-" "kube-probe/1.29"',
          '"HEAD /ping HTTP/1.1" 204 0 "-" "Go-http-client/1.1"',
          '"GET /livez?verbose HTTP/1.1" 200 9 "-" "Go-http-client/1.1"')
LEVELS = ("info", "info", "info", "debug", "warn", "error")
MESSAGES = ("request completed", "order placed", "cache miss", "retrying upstream call", "user logged in",
            "slow query", "payment authorised", "session expired")
PATHS = ("/api/v1/orders/{n}", "/api/v1/users/{n}/cart", "/api/v1/search", "/api/v1/payments/{n}")
SOURCE = "172.17.0.1"


def luhn_card(rng: random.Random) -> str:
    """A 16-digit Visa-like number that passes the Luhn check, in groups of four."""
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = sum((d * 2 - 9 if d * 2 > 9 else d * 2) if k % 2 == 0 else d for k, d in enumerate(reversed(digits)))
    digits.append(-total % 10)
    text = "".join(map(str, digits))
    return " ".join(text[k : k + 4] for k in range(0, 16, 4))


def json_line(rng: random.Random, i: int) -> str:
    """A service's JSON log line (each key always of one type, so no index sees a mapping conflict)."""
    n = rng.randrange(1_000_000)
    obj: dict[str, Any] = {
        "ts": f"2026-11-23T08:00:00.{i % 1000:03d}Z", "level": rng.choice(LEVELS), "logger": "http",
        "msg": rng.choice(MESSAGES), "event_id": i, "method": rng.choice(("GET", "GET", "POST", "PUT")),
        "path": rng.choice(PATHS).format(n=n), "status": rng.choice((200, 200, 200, 201, 404, 500)),
        "duration_ms": round(rng.uniform(0.5, 900.0), 2), "user_id": n, "trace_id": rng.randbytes(8).hex()}
    if rng.random() < 0.2:
        obj["http"] = {"client_ip": f"10.1.{n % 256}.{n // 256 % 256}", "user_agent": "curl/8.5.0",
                       "bytes": rng.randrange(100_000)}
    if rng.random() < 0.1:
        obj["token"] = base64.urlsafe_b64encode(rng.randbytes(18)).decode()
    if rng.random() < 0.1:
        obj["user"] = f"user{n}@example.com"
    return orjson.dumps(obj).decode()


def line(rng: random.Random, i: int) -> str:
    """One line of the mix (see the module's docstring)."""
    r = rng.random()
    if r < PROBE_SHARE:
        return f"10.1.{i % 7}.{i % 250 + 1} - - {PROBES[i % len(PROBES)]}"
    r -= PROBE_SHARE
    if r < JSON_SHARE:
        return json_line(rng, i)
    r -= JSON_SHARE
    if r < CARD_SHARE:
        return f"{i} payment accepted for order {rng.randrange(10**6)}: card {luhn_card(rng)} amount 12.50 EUR"
    r -= CARD_SHARE
    if r < TOKEN_SHARE:
        token = base64.urlsafe_b64encode(rng.randbytes(24)).decode()
        return f'{i} calling payments: POST /v1/charges "Authorization: Bearer {token}" took {rng.randrange(900)} ms'
    return line_text(rng, i)


def encoded(texts: Sequence[str], now: float) -> list[tuple[bytes, ...]]:
    """Each line as Docker's gelf driver sends it: one gzip datagram (small messages are never chunked)."""
    _keep_freed_memory()
    return [(gzip.compress(orjson.dumps(docker_event(i, text, now)), 1),) for i, text in enumerate(texts)]


def mixed_lines(count: int, seed: int = 24) -> list[str]:
    rng = random.Random(seed)
    return [line(rng, i) for i in range(count)]


def json_lines(count: int, seed: int = 25) -> list[str]:
    rng = random.Random(seed)
    return [json_line(rng, i) for i in range(count)]


# -- the typical file ----------------------------------------------------------------------------------------

TYPICAL: tuple[tuple[str, str], ...] = (
    ("drop_event", """\
  - drop_event:
      when:
        or:
          - contains:
              message: "kube-probe/"
          - regexp:
              message: '"(GET|HEAD) /(healthz|readyz|livez|ping)[ ?"]'
"""),
    ("decode_json_fields", """\
  - decode_json_fields:
      fields: ["message"]
      target: "json"
"""),
    ("redact", """\
  - redact:
      fields: ["message", "json"]
      keys: '(?i)passw(or)?d|secret|token|api[_-]?key|authorization|cookie'
"""),
    ("add_fields", """\
  - add_fields:
      target: project
      fields:
        name: shop
        id: "574734885120952459"
"""),
)
DECODE_JSON = 'processors:\n  - decode_json_fields:\n      fields: ["message"]\n      target: "json"\n'


def file_of(steps: Sequence[tuple[str, str]]) -> str:
    return "processors:\n" + "".join(text for _, text in steps) if steps else "processors: []\n"


def daemon_context(**limits: int) -> Context:
    """The Context the daemon builds with its defaults (``limits`` overriding --max-json-depth and so on)."""
    ctx = context(Config(), Path.cwd())
    return dataclasses.replace(ctx, limits=dataclasses.replace(ctx.limits, **limits)) if limits else ctx


def log(msg: str) -> None:
    print(f"[processors {time.perf_counter() - STARTED:5.0f} s] {msg}", file=sys.stderr, flush=True)


# -- 1. the core's cost per processor ---------------------------------------------------------------------

Burst = tuple[list[bytes], list[str], float, list[float]]


def bursts(events: Sequence[tuple[bytes, ...]], now: float) -> list[Burst]:
    """The datagrams as benchmarks/instructions.py feeds them: reads of READ, each datagram stamped
    STAMP_STEP after the one before; made once, outside the timing."""
    datagrams = [d for e in events for d in e]
    out = []
    for k in range(0, len(datagrams), instructions.READ):
        burst = datagrams[k : k + instructions.READ]
        stamps = [now + j * instructions.STAMP_STEP for j in range(len(burst))]
        now += len(burst) * instructions.STAMP_STEP
        out.append((burst, [SOURCE] * len(burst), now, stamps))
    return out


def feed(work: Sequence[Burst], events: int, pipeline: Pipeline | None) -> float:
    """CPU-seconds a fresh core with the daemon's defaults (and ``pipeline``) takes for the work."""
    ingest = Ingest(Config().ingest_settings("AAAAAAAA"), processors=pipeline)
    gc.collect()
    t0 = time.process_time()
    for burst, sources, now, stamps in work:
        ingest.take_many(burst, sources, now, stamps=stamps)
    ingest.flush()
    seconds = time.process_time() - t0
    assert ingest.decoded == events, (ingest.decoded, events)
    return seconds


def core_cost(events: int, rounds: int) -> list[dict[str, Any]]:
    """µs per event of each variant (median of ``rounds``), its marginal cost over the row before, what
    was dropped and any failures."""
    variants: list[tuple[str, str | None]] = [("off", None), ("empty file", file_of(()))]
    variants += [(f"+ {name}", file_of(TYPICAL[: k + 1])) for k, (name, _) in enumerate(TYPICAL)]
    t = time.perf_counter()
    now = time.time()
    work = bursts(encoded(mixed_lines(events), now), now)
    log(f"core: {events} events encoded in {time.perf_counter() - t:.1f} s; {len(variants)} variants, {rounds} "
        f"rounds")
    ctx = daemon_context()
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    seen: dict[str, dict[str, Any]] = {}
    for r in range(rounds):
        for label, text in (variants if r % 2 == 0 else variants[::-1]):
            pipeline = build(text, ctx) if text is not None else None
            times[label].append(1e6 * feed(work, events, pipeline) / events)
            if pipeline is not None:
                redact = next((s.processor for s in pipeline.steps if s.processor and s.processor.name == "redact"),
                              None)
                seen[label] = {"dropped": sum(pipeline.dropped.values()),
                               "failures": {f"{name}:{reason}": n for (name, reason), n in pipeline.failures.items()},
                               "redacted": getattr(redact, "redacted", None)}
        log(f"core: round {r + 1} of {rounds}: " + ", ".join(f"{label} {times[label][-1]:.1f}" for label, _ in
                                                              variants) + " us")
    rows = []
    off = statistics.median(times["off"])
    before = off
    for label, _ in variants:
        us = statistics.median(times[label])
        rows.append({"variant": label, "us_per_event": round(us, 2), "marginal_us": round(us - before, 2),
                     "runs_us": [round(v, 2) for v in times[label]], "events": events, **seen.get(label, {})})
        before = us
    rows.append({"variant": "total (typical file)", "us_per_event": rows[-1]["us_per_event"],
                 "marginal_us": round(rows[-1]["us_per_event"] - off, 2), "events": events})
    return rows


# -- 2. instructions per event ------------------------------------------------------------------------------

def child(path: Path, processors_file: str, count: int) -> None:
    """benchmarks/instructions.py's child, whose core gets the pipeline of ``processors_file`` (or none)."""
    from gelfingest.core import ingest as core

    pipeline = None if processors_file == "off" else build(Path(processors_file).read_text(), daemon_context())
    # instructions.child makes its core by this name when it runs; the module is this process's alone.
    core.Ingest = functools.partial(core.Ingest, processors=pipeline)  # type: ignore[misc]
    instructions.child(path, Config().sequence_mode, "isal", count)


def counted(path: Path, processors_file: str, count: int) -> int:
    """Instructions callgrind counts for a child over ``count`` events (PYTHONHASHSEED=0, as
    benchmarks/instructions.py counts them)."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
         "benchmarks.processors", "--child", str(path), processors_file, str(count)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    m = re.search(r"Collected : (\d+)", out.stderr)
    assert m, out.stderr[-2000:]
    return int(m[1])


def instruction_counts(events: int) -> list[dict[str, Any]]:
    """Instructions per event with processors off and with the typical file: the difference of callgrind's
    totals over 2N and N events (after the same warm-up), over N."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.pickle"
        now = time.time()
        path.write_bytes(pickle.dumps(encoded(mixed_lines(instructions.WARM_UP + 2 * events), now)))
        typical = Path(tmp) / "typical.yml"
        typical.write_text(file_of(TYPICAL))
        for label, file in (("off", "off"), ("typical file", str(typical))):
            n = (counted(path, file, 2 * events) - counted(path, file, events)) / events
            rows.append({"variant": label, "instructions_per_event": round(n)})
            log(f"instructions: {label}: {n:,.0f} per event")
    rows.append({"variant": "typical file over off",
                 "instructions_per_event": rows[1]["instructions_per_event"] - rows[0]["instructions_per_event"]})
    return rows


# -- 3. hostile cases ---------------------------------------------------------------------------------------

# Python's re backtracks on both (twice the time for each more ``a``); RE2 reads ``(a+)+$`` from the end
# (it is anchored there) and ``(a+)+b`` from the start, once.
BACKTRACK = "(a+)+$"
BACKTRACKS = (BACKTRACK, "(a+)+b")


def regexp_file(pattern: str) -> str:
    return f"processors:\n  - drop_event:\n      when:\n        regexp:\n          message: '{pattern}'\n"


def replace_file(pattern: str) -> str:
    return ("processors:\n  - replace:\n      fields:\n        - field: message\n"
            f"          pattern: '{pattern}'\n          replacement: 'x'\n")


REDACT_FILE = "processors:\n  - redact:\n      fields: [\"message\"]\n"
# The GELF envelope around a message: a message this much under --max-message-size still fits in one.
ENVELOPE = 1024


def many_keys(keys: int) -> str:
    """A JSON object of ``keys`` keys of 4 characters and values of up to 2 digits: about 10 bytes a key."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"

    def name(k: int) -> str:
        return "".join(digits[k // 36**p % 36] for p in range(4))
    return "{" + ",".join(f'"{name(k)}":{k % 100}' for k in range(keys)) + "}"


def spread(size: int, piece: Callable[[int], str]) -> str:
    """Pieces ``piece(0)``, ``piece(1)``, ... joined by spaces up to ``size`` characters."""
    parts, total, k = [], 0, 0
    while total < size:
        parts.append(piece(k))
        total += len(parts[-1]) + 1
        k += 1
    return " ".join(parts)[:size]


def noise(size: int, alphabet: str, seed: int) -> str:
    table = bytes(ord(alphabet[b % len(alphabet)]) for b in range(256))
    return random.Random(seed).randbytes(size).translate(table).decode()


def hostile_cases(max_size: int) -> list[tuple[str, str, str, dict[str, int]]]:
    """(case, processors file, message, limits over the defaults)."""
    rng = random.Random(9)
    big = max_size - ENVELOPE
    mib = 1 << 20
    words = " ".join(rng.choice(("GET", "POST", "upstream", "took", "ms", "user", "session", "200", "404"))
                     for _ in range(2000))
    keys = many_keys(100_000)
    mails = spread(big, lambda k: f"user{k}@example.com" if k % 200 == 199 else words[:200])
    return [
        (f"decode_json_fields: {len(keys):,} bytes of JSON, 100,000 keys", DECODE_JSON, keys, {}),
        ("  the same with --max-fields 200000 (parsed whole)", DECODE_JSON, keys, {"max_fields": 200_000}),
        ("decode_json_fields: 10,000 levels of nesting", DECODE_JSON, '{"a":' * 10_000 + "1" + "}" * 10_000, {}),
        *[(f"{kind} {pattern}: 'a' * {label} + '!'", make(pattern), "a" * size + "!", {})
          for pattern in BACKTRACKS for kind, make in (("regexp condition", regexp_file), ("replace", replace_file))
          for label, size in (("50,000", 50_000), ("1 MiB", mib))],
        (f"redact: {big / mib:.0f} MiB of log words, {mails.count('@'):,} e-mails in it", REDACT_FILE, mails, {}),
        (f"redact: {big / mib:.0f} MiB, an e-mail and a 16-digit number every 60 bytes", REDACT_FILE,
         spread(big, lambda k: f"u{k}@example.com paid 4{k:015d} ok"), {}),
        (f"redact: {big / mib:.0f} MiB of digits", REDACT_FILE, noise(big, "0123456789", 1), {}),
        (f"redact: {big / mib:.0f} MiB of random digits, dashes, spaces and @", REDACT_FILE,
         noise(big, "0123456789- @", 2), {}),
    ]


def outcome(pipeline: Pipeline, before: str, after: dict[str, Any] | None) -> str:
    """What the file did to the event, in a few words."""
    if after is None:
        return "dropped"
    if pipeline.failures:
        (name, reason), = pipeline.failures
        return f"{name} failed ({reason}): kept as it was, tagged"
    message = after.get("message")
    if message == UNSCANNED:
        return "redacted whole (unscanned)"
    if type(message) is str and (marks := message.count("[REDACTED:")):
        return f"{marks} secrets redacted"
    if "json" in after:
        return f"decoded, {len(after['json'])} keys"
    return "unchanged" if message == before else f"changed ({len(message) if message else 0} characters)"


def hostile(repeats: int, python_lengths: Sequence[int]) -> list[dict[str, Any]]:
    """Each hostile case through its file ``repeats`` times, ms of CPU per event (median); then Python's
    ``re`` on (a+)+$ once for each of ``python_lengths``."""
    base = {"@timestamp": "2026-11-23T08:00:00.000Z", "host": "docker-host", "source_host": SOURCE, "level": 6,
            "container_name": "web-1", "image_name": "nginx:1.25", "tag": "3f4e5d6c7b8a"}
    max_size = daemon_context().max_message_size
    rows = []
    for case, text, message, limits in hostile_cases(max_size):
        pipeline = build(text, daemon_context(**limits))
        ms, result = [], ""
        for _ in range(repeats):
            pipeline.failures.clear()
            doc = {**base, "message": message}
            gc.collect()
            t0 = time.process_time()
            after = pipeline.run(doc)
            ms.append(1e3 * (time.process_time() - t0))
            result = outcome(pipeline, message, after)
        rows.append({"case": case, "ms_per_event": round(statistics.median(ms), 2), "outcome": result,
                     "message_chars": len(message)})
        log(f"hostile: {case.strip()}: {rows[-1]['ms_per_event']} ms, {result}")
    for n in python_lengths:
        pattern = re.compile(BACKTRACK)
        t0 = time.process_time()
        pattern.search("a" * n + "!")
        ms = 1e3 * (time.process_time() - t0)
        rows.append({"case": f"for contrast: Python's re, (a+)+$ on 'a' * {n} + '!'", "ms_per_event": round(ms, 2),
                     "outcome": "no match (backtracking: twice the time per character more)",
                     "message_chars": n + 1})
        log(f"hostile: Python re, {n} characters: {ms:.1f} ms")
    return rows


# -- 4. decode_json_fields against Elasticsearch's json processor ------------------------------------------

PIPELINE_NAME = "bench-processors-json"
ES_JSON_PIPELINE = {"description": "benchmarks/processors.py: the JSON line in message, parsed into json",
                    "processors": [{"json": {"field": "message", "target_field": "json"}}]}
ES_VARIANTS = ("gelfingest", "elasticsearch", "neither")
# Seconds of merges counted after the final refresh (the suite's ES_SETTLE_SECONDS).
SETTLE_SECONDS = 5.0
# The index must stop growing for this long before a run counts as over short of what was sent.
# Documents compared between the two ways of parsing.
SAMPLE = 200


def es_run(es: LocalElasticsearch, variant: str, events: Sequence[tuple[bytes, ...]], rate: float, logs: Path,
           ids: Sequence[int], settle: float = SETTLE_SECONDS) -> dict[str, Any]:
    """One run of ``variant`` into a fresh index: the CPU of each side per event indexed, whether every
    document has json, and the ``json`` of the documents whose event_id is in ``ids``."""
    index = f"bench-processors-{variant}-{time.time_ns()}"
    env = {"gelfingest": {"GELFINGEST_PROCESSORS": str(logs / "decode_json_fields.yml")},
           "elasticsearch": {"GELFINGEST_PIPELINE": PIPELINE_NAME}, "neither": {}}[variant]
    log(f"es: {variant}, {len(events)} JSON lines at {rate:.0f}/s into {index}")
    try:
        with bench_daemon(1, udp=True, es_url=es.url, index=index, keep_log=logs / f"{index}.log", env=env) as d:
            wait_until_idle(d.proc.pid)
            es_quiet(es)
            cpu0, es0, t0 = d.cpu_seconds(), es_cpu_seconds(es), time.perf_counter()
            sent = send_udp(d.udp_port, events, len(events), rate)
            indexed, _ = wait_indexed(es.url, index, len(events))
            cpu1, _ = wait_until_idle(d.proc.pid)
            wall = time.perf_counter() - t0
            es_call(es.url, "POST", f"/{index}/_refresh")
            time.sleep(settle)
            es1, es_wall = es_cpu_seconds(es), time.perf_counter() - t0
            errors = d.errors()
        with_json = es_call(es.url, "POST", f"/{index}/_count",
                            {"query": {"exists": {"field": "json.event_id"}}})["count"]
        hits = es_call(es.url, "POST", f"/{index}/_search", {
            "size": len(ids), "_source": ["json"], "query": {"terms": {"json.event_id": list(ids)}}})["hits"]["hits"]
    finally:
        try:
            es_call(es.url, "DELETE", f"/{index}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
    per = 1e6 / indexed if indexed else float("nan")
    return {"variant": variant, "sent": sent.events, "sent_rate": round(sent.rate), "indexed": indexed,
            "wall_seconds": round(wall, 1), "gelfingest_us": round((cpu1 - cpu0) * per, 1),
            "es_us": round((es1 - es0) * per, 1), "system_us": round((cpu1 - cpu0 + es1 - es0) * per, 1),
            "es_seconds": round(es_wall, 1),
            "with_json": with_json, "daemon_errors": len(errors), "daemon_error_sample": [e[:300] for e in errors[:3]],
            "sample": {h["_source"]["json"]["event_id"]: h["_source"]["json"] for h in hits
                       if "json" in h["_source"]}}


def es_compare(es: LocalElasticsearch, count: int, rate: float, runs: int, logs: Path,
               variants: Sequence[str] = ES_VARIANTS) -> dict[str, Any]:
    """Every variant once uncounted, then ``runs`` times in turn; the runs, the medians, the ratio and the
    equivalence check."""
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "decode_json_fields.yml").write_text(DECODE_JSON)
    es_call(es.url, "PUT", f"/_ingest/pipeline/{PIPELINE_NAME}", ES_JSON_PIPELINE)
    t = time.perf_counter()
    events = encoded(json_lines(count), time.time())
    log(f"es: {count} JSON lines encoded in {time.perf_counter() - t:.1f} s")
    ids = sorted(random.Random(5).sample(range(count), min(SAMPLE, count)))
    # A fifth of the events was not enough here: the first counted round still cost Elasticsearch half as much
    # again as the next two (67 against 41-52 us an event, with either way of parsing).
    for variant in variants:
        es_run(es, variant, events, rate, logs, [], settle=0.0)
    # What Elasticsearch spends doing nothing is in every run's figure, in proportion to the run's length.
    idle = es_cost.idle_cores(es)
    log(f"es: Elasticsearch idle: {idle} cores")
    runs_: list[dict[str, Any]] = []
    for r in range(runs):
        for variant in (variants if r % 2 == 0 else variants[::-1]):
            row = es_run(es, variant, events, rate, logs, ids)
            row["round"] = r + 1
            row["es_idle_us"] = round(1e6 * idle * row["es_seconds"] / row["indexed"], 1) if row["indexed"] else None
            runs_.append(row)
            log("es: " + json.dumps({k: v for k, v in row.items() if k != "sample"}))
    medians = {}
    for variant in variants:
        mine = [r for r in runs_ if r["variant"] == variant and r["indexed"]]
        medians[variant] = {k: round(statistics.median(r[k] for r in mine), 1) if mine else None
                            for k in ("gelfingest_us", "es_us", "system_us", "es_idle_us")}
    first = {r["variant"]: r["sample"] for r in runs_ if r["round"] == 1}
    ours, theirs = first.get("gelfingest", {}), first.get("elasticsearch", {})
    equal = sum(1 for k in ids if k in ours and ours.get(k) == theirs.get(k))
    complete = all(r["with_json"] == r["indexed"] == r["sent"] for r in runs_ if r["variant"] != "neither")
    result: dict[str, Any] = {
        "events": count, "rate": rate, "runs": runs,
        "runs_detail": [{k: v for k, v in r.items() if k != "sample"} for r in runs_], "medians": medians,
        "sample": len(ids), "sample_equal": equal, "every_document_has_json": complete, "es_idle_cores": idle}
    g, e = medians.get("gelfingest", {}).get("system_us"), medians.get("elasticsearch", {}).get("system_us")
    if g and e:
        result["elasticsearch_over_gelfingest"] = round(e / g, 2)
        result["cheaper"] = cheaper(runs_, g, e)
    return result


def cheaper(runs: Sequence[dict[str, Any]], ours: float, theirs: float) -> str:
    """Which way of parsing costs the whole system less, by the medians; and whether every run says so."""
    if ours == theirs:
        return "neither (equal medians)"
    names = {"gelfingest": "gelfingest (decode_json_fields)", "elasticsearch": "Elasticsearch (json processor)"}
    low, high = ("gelfingest", "elasticsearch") if ours < theirs else ("elasticsearch", "gelfingest")
    clear = (max(r["system_us"] for r in runs if r["variant"] == low)
             < min(r["system_us"] for r in runs if r["variant"] == high))
    return names[low] + ("" if clear else " by the medians only (the runs overlap)")


# -- the report ---------------------------------------------------------------------------------------------

def report(result: dict[str, Any]) -> str:
    out: list[str] = []
    if core := result.get("core"):
        out += [f"1. Core cost per event, {core[0]['events']:,} small Docker messages (10 % probes, 30 % JSON, "
                f"3 % cards, 3 % tokens), CPU us per event received, median of {result['options']['rounds']}",
                f"   {'processors':<26} {'us/event':>9} {'marginal':>9} {'dropped':>8}  failures / redacted"]
        for r in core:
            extra = ""
            if "failures" in r:
                extra = f"{r['failures'] or 'none'}" + (f" / {r['redacted']}" if r.get("redacted") is not None else "")
            dropped = "" if r.get("dropped") is None else str(r["dropped"])
            out.append(f"   {r['variant']:<26} {r['us_per_event']:>9.2f} {r['marginal_us']:>+9.2f} {dropped:>8}  "
                       f"{extra}")
    if counts := result.get("instructions"):
        out += ["", "2. Instructions per event (callgrind, PYTHONHASHSEED=0)"]
        out += [f"   {r['variant']:<26} {r['instructions_per_event']:>12,}" for r in counts]
    if cases := result.get("hostile"):
        width = max(len(r["case"]) for r in cases)
        out += ["", f"3. Hostile cases, one event each, ms of CPU per event (median of {result['options']['repeats']})"]
        out += [f"   {r['case']:<{width}} {r['ms_per_event']:>10.2f}  {r['outcome']}" for r in cases]
    if es := result.get("es"):
        out += ["", f"4. JSON parsed by gelfingest or by Elasticsearch: {es['events']:,} JSON lines at "
                    f"{es['rate']:,.0f}/s, one worker, CPU us per event indexed, medians of {es['runs']}",
                f"   {'where':<45} {'gelfingest':>10} {'Elasticsearch':>13} {'sum':>7}"]
        names = {"gelfingest": "gelfingest: --processors decode_json_fields",
                 "elasticsearch": "Elasticsearch: --pipeline with a json processor", "neither": "neither (no parsing)"}
        med = es["medians"]
        for variant, m in med.items():
            out.append(f"   {names[variant]:<45} {m['gelfingest_us']!s:>10} {m['es_us']!s:>13} {m['system_us']!s:>7}")
        if "cheaper" in es:
            out.append(f"   whole system, Elasticsearch's json over gelfingest's decode_json_fields: "
                       f"{es['elasticsearch_over_gelfingest']} x; cheaper: {es['cheaper']}")
        if "neither" in med:
            base = med["neither"]
            for variant in ("gelfingest", "elasticsearch"):
                if (m := med.get(variant)) and m["system_us"] and base["system_us"]:
                    out.append(f"   parsed by {variant}, over no parsing: gelfingest "
                               f"{m['gelfingest_us'] - base['gelfingest_us']:+.1f}, Elasticsearch "
                               f"{m['es_us'] - base['es_us']:+.1f}, whole system "
                               f"{m['system_us'] - base['system_us']:+.1f} us per event")
        out.append(f"   Elasticsearch idle: {es['es_idle_cores']} cores, in each figure above as about "
                   f"{med[next(iter(med))]['es_idle_us']} us per event")
        out.append(f"   equivalence: json equal in {es['sample_equal']} of {es['sample']} sampled documents; every "
                   f"document has json.event_id: {es['every_document_has_json']}")
        bad = [r for r in es["runs_detail"] if r["indexed"] != r["sent"] or r["daemon_errors"]]
        for r in bad:
            out.append(f"   NOTE: {r['variant']} round {r['round']}: {r['indexed']} of {r['sent']} indexed, "
                       f"{r['daemon_errors']} errors logged {r['daemon_error_sample'][:1]}")
    return "\n".join(out)


def suite_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures as rows of the suite's table (benchmarks/suite.py): ``events_per_cpu_s`` and a note."""
    rows: list[dict[str, Any]] = []
    for r in result.get("core", []):
        rows.append({"scenario": "processors", "tool": "gelfingest", "offered_rate": "core",
                     "events_sent": r["events"], "events_per_cpu_s": round(1e6 / r["us_per_event"]), **r,
                     "note": f"{r['variant']}: {r['us_per_event']} us/event ({r['marginal_us']:+} us)"})
    for r in result.get("instructions", []):
        rows.append({"scenario": "processors", "tool": "gelfingest", "offered_rate": "core", **r,
                     "note": f"{r['variant']}: {r['instructions_per_event']:,} instructions/event (callgrind)"})
    for r in result.get("hostile", []):
        rows.append({"scenario": "processors-hostile", "tool": "gelfingest", "offered_rate": "core", **r,
                     "note": f"{r['case'].strip()}: {r['ms_per_event']} ms/event, {r['outcome']}"})
    if es := result.get("es"):
        for r in es["runs_detail"]:
            rows.append({"scenario": "es-processors", "tool": r["variant"], "workers": 1,
                         "offered_rate": round(es["rate"]), "events_sent": r["sent"], "sent_rate": r["sent_rate"],
                         "delivered": r["indexed"], "loss": r["sent"] - r["indexed"],
                         "events_per_cpu_s": round(1e6 / r["gelfingest_us"]) if r["gelfingest_us"] else None,
                         "es_cpu_us_per_event": r["es_us"], **r,
                         "note": f"{r['variant']}, round {r['round']}: {r['system_us']} us/event whole system"})
        for variant, m in es["medians"].items():
            row = {"scenario": "es-processors-median", "tool": variant, "es_cpu_us_per_event": m["es_us"], **m,
                   "events_per_cpu_s": round(1e6 / m["gelfingest_us"]) if m["gelfingest_us"] else None,
                   "note": f"{variant}: {m['gelfingest_us']} + {m['es_us']} = {m['system_us']} us/event"}
            rows.append(row)
        if "cheaper" in es:
            rows[-1]["note"] += (f"; Elasticsearch's json / decode_json_fields, whole system: "
                                 f"{es['elasticsearch_over_gelfingest']} x, cheaper: {es['cheaper']}; json equal in "
                                 f"{es['sample_equal']} of {es['sample']}")
    return rows


# -- main ---------------------------------------------------------------------------------------------------

PARTS = ("core", "instructions", "hostile", "es")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.processors", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run in about 2 minutes")
    p.add_argument("--parts", nargs="+", choices=PARTS,
                   help="the parts to run (all; with --quick all but the instruction counts)")
    p.add_argument("--events", type=int, help="events of the core's cost (50000; quick 10000)")
    p.add_argument("--rounds", type=int, help="rounds of the core's cost (7; quick 3)")
    p.add_argument("--repeats", type=int, help="runs of each hostile case (5; quick 3)")
    p.add_argument("--instruction-events", type=int, help="N of callgrind's N and 2N events (1000; quick 200)")
    p.add_argument("--es-events", type=int, help="JSON lines of each run against Elasticsearch (100000; quick 10000)")
    p.add_argument("--es-rate", type=float, default=8000.0, help="events/s offered against Elasticsearch")
    p.add_argument("--es-runs", type=int, help="counted runs of each variant against Elasticsearch (3; quick 1)")
    p.add_argument("--json", type=Path, default=RESULTS / "processors.json", help="where the figures go")
    args = p.parse_args(argv)
    return defaults(args)


def defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The counts left unset, full or ``quick``."""
    quick = args.quick
    args.parts = args.parts or [part for part in PARTS if not (quick and part == "instructions")]
    args.events = args.events or (10_000 if quick else 50_000)
    args.rounds = args.rounds or (3 if quick else 7)
    args.repeats = args.repeats or (3 if quick else 5)
    args.instruction_events = args.instruction_events or (200 if quick else 1000)
    args.es_events = args.es_events or (10_000 if quick else 100_000)
    args.es_runs = args.es_runs or (1 if quick else 3)
    args.python_lengths = [16, 20] if quick else [20, 22, 24, 25]
    return args


def core_parts(args: argparse.Namespace) -> dict[str, Any]:
    """Parts 1 to 3 (those of ``args.parts``), in this process (and callgrind's)."""
    result: dict[str, Any] = {}
    if "core" in args.parts:
        result["core"] = core_cost(args.events, args.rounds)
    if "instructions" in args.parts:
        if shutil.which("valgrind"):
            result["instructions"] = instruction_counts(args.instruction_events)
        else:
            log("instructions: valgrind is not installed; left out")
    if "hostile" in args.parts:
        result["hostile"] = hostile(args.repeats, args.python_lengths)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), argv[2], int(argv[3]))
        return 0
    args = parse_args(argv)
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result: dict[str, Any] = {"machine": machine(), "options": options, **core_parts(args)}
    if "es" in args.parts:
        es = LocalElasticsearch(heap="1g")
        log("starting a local Elasticsearch (heap 1g)")
        es.start()
        try:
            result["es"] = es_compare(es, args.es_events, args.es_rate, args.es_runs,
                                      args.json.parent / "processors-logs")
        finally:
            es.cleanup()
    result["seconds"] = round(time.perf_counter() - STARTED, 1)
    print(report(result))
    print(f"took {result['seconds']} s; figures in {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
