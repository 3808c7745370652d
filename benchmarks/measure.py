"""Watching gelfingest from outside while it works, and talking to Elasticsearch without a client library.

- CPU: utime+stime of the supervisor and every worker from /proc/<pid>/stat, so events per CPU-second hold
  on a shared machine; and what the whole machine spent (/proc/stat), so that work of other processes
  during a measurement shows, and what the hypervisor took (steal). Peak RSS: each worker's VmHWM.
- Done: nothing left unread in the daemon's sockets (/proc/net/udp and tcp) and its CPU idle.
- The daemon itself, its counters (its metrics snapshots) and its processes: tests/harness.py, the harness
  the tests use too; ``bench_daemon`` starts one as the benchmarks want it.
- Elasticsearch: bulk bodies encoded by the pure core exactly as the daemon encodes them, posted over
  keep-alive connections with http.client; _refresh, _count, templates and deletes with urllib.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import resource
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gelfingest.core.bulk import BULK_FILTER_PATH
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.local_es import LocalElasticsearch
from tests.harness import Daemon, process_tree, socket_inodes, tree_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NDJSON = {"content-type": "application/x-ndjson", "accept": "application/json"}


# -- processes ---------------------------------------------------------------------------------------------

def machine_cpu_seconds() -> tuple[float, float]:
    """CPU-seconds all cores of the machine have spent busy since boot (user, nice, system, irq, softirq),
    and those the hypervisor gave to other machines while ours wanted them (steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[1:9])
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def own_cpu_seconds() -> float:
    """CPU-seconds of this process and of its children that have been waited for (the senders)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def unread_input(pids: Iterable[int]) -> int:
    """What waits in these processes' sockets: bytes (datagrams' and streams'), and connections not yet
    accepted (a listening socket's receive queue) -- the rx_queue column of /proc/net/{udp,tcp}{,6}."""
    inodes = socket_inodes(pids)
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6", "/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(name).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9].isdigit() and int(fields[9]) in inodes:
                    total += int(fields[4].split(":")[1], 16)
    return total


def wait_until_idle(pid: int, interval: float = 0.05, quiet: float = 0.015) -> tuple[float, float]:
    """Wait until gelfingest (supervisor and workers) is done with its input: nothing unread in its sockets,
    and an ``interval`` in which it used less than ``quiet`` CPU-seconds. (The sockets matter on a busy
    machine: a daemon that gets no CPU for a while looks idle.)

    Returns their CPU seconds then, and the perf_counter time at which they were last seen busy: the end of
    the work to within ``interval``, or the time of the call when they were idle already.
    """
    last, last_busy = tree_cpu_seconds(pid), time.perf_counter()
    while True:
        time.sleep(interval)
        cpu = tree_cpu_seconds(pid)
        if cpu - last < quiet and not unread_input(process_tree(pid)):
            return cpu, last_busy
        last, last_busy = cpu, time.perf_counter()


# -- the daemon ----------------------------------------------------------------------------------------------

def bench_daemon(workers: int, *, udp: bool = False, tcp: bool = False, es_url: str | None = None,
                 index: str = "bench", keep_log: Path | None = None, start_timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> Daemon:
    """gelfingest as the benchmarks run it: UDP and/or TCP on loopback, into Elasticsearch (``es_url``) or
    the null output, with a temporary data dir, and ``env`` on top; its log is copied to ``keep_log`` when
    it stops."""
    env = {"GELFINGEST_UDP": "127.0.0.1:0" if udp else "off", "GELFINGEST_TCP": "127.0.0.1:0" if tcp else "off",
           "GELFINGEST_HTTP": "off", "GELFINGEST_OUTPUT": "elasticsearch" if es_url else "null",
           "GELFINGEST_INDEX": index, "GELFINGEST_WORKERS": str(workers), **(env or {})}
    if es_url:
        env["ELASTICSEARCH_HOSTS"] = es_url
    return Daemon(env, workers=workers, keep_log=keep_log, start_timeout=start_timeout)


# -- Elasticsearch --------------------------------------------------------------------------------------------

def es_call(es_url: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request; the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(es_url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def es_cpu_seconds(es: LocalElasticsearch) -> float:
    """CPU-seconds Elasticsearch's process tree has used."""
    assert es.process is not None
    return tree_cpu_seconds(es.process.pid)


def es_quiet(es: LocalElasticsearch, interval: float = 0.5, busy: float = 0.05, timeout: float = 20.0) -> None:
    """Wait until Elasticsearch used under ``busy`` CPU-seconds in an ``interval`` (or ``timeout``)."""
    deadline, last = time.monotonic() + timeout, es_cpu_seconds(es)
    while time.monotonic() < deadline:
        time.sleep(interval)
        now = es_cpu_seconds(es)
        if now - last < busy:
            return
        last = now


def es_count(es_url: str, index: str) -> int:
    """Documents in the index once refreshed (0 while it does not exist)."""
    try:
        es_call(es_url, "POST", f"/{index}/_refresh")
        return int(es_call(es_url, "GET", f"/{index}/_count")["count"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 0
        raise


def encoded_bodies(datagrams: Iterable[bytes], index: str, id_prefix: str | None = None) -> tuple[list[bytes], int]:
    """Bulk bodies for these datagrams, encoded and cut into batches by the pure core with the daemon's
    defaults (with ids from the sequence and op_type create when ``id_prefix`` is given); and the number of
    documents."""
    ingest = Ingest(IngestSettings(index=index, document_id_prefix=id_prefix))
    bodies = []
    for d in datagrams:
        ready, rejected = ingest.take_many([d], ["127.0.0.1"], time.time())
        assert not rejected, rejected
        bodies += [b.body() for b in ready]
    if (tail := ingest.flush()) is not None:
        bodies.append(tail.body())
    return bodies, ingest.decoded


def post_bulks(es_url: str, bodies: Sequence[bytes], concurrency: int, allow_409: bool = False,
               headers: Mapping[str, str] = NDJSON, acked: list[tuple[float, int]] | None = None,
               rate: float = 0.0) -> float:
    """Post the bodies to _bulk as the daemon does, ``concurrency`` at a time over keep-alive connections;
    return the seconds it took. Every item must be created (or, with ``allow_409``, be there already).
    ``headers``: e.g. a content-encoding for bodies compressed beforehand.
    ``acked``: (perf_counter time, documents acknowledged so far) is appended to it after each answer;
    ``rate``: documents a second (0: as fast as they are taken), each body sent when the documents before it
    are due (both count the documents of uncompressed bodies)."""
    url = urllib.parse.urlsplit(es_url)
    path = f"/_bulk?filter_path={BULK_FILTER_PATH}"
    lock = threading.Lock()
    queue: Iterator[bytes] = iter(bodies)
    scheduled = 0

    def poster() -> None:
        nonlocal scheduled
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                    due = t0 + scheduled / rate if rate else 0.0
                    if body is not None and rate:
                        scheduled += body.count(b"\n") // 2
                if body is None:
                    return
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                conn.request("POST", path, body, dict(headers))
                response = conn.getresponse()
                answer = json.loads(response.read())
                assert response.status == 200, answer
                if answer["errors"]:
                    statuses = {next(iter(i.values()))["status"] for i in answer["items"]}
                    assert allow_409 and statuses <= {201, 409}, str(answer)[:500]
                if acked is not None:
                    with lock:
                        acked.append((time.perf_counter(), (acked[-1][1] if acked else 0) + body.count(b"\n") // 2))
        finally:
            conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(poster) for _ in range(concurrency)]:
            done.result()
    return time.perf_counter() - t0


# -- reporting -------------------------------------------------------------------------------------------------

def python_build() -> dict[str, Any]:
    """The interpreter the figures were taken with: a PGO/LTO build (the python:3.11-slim image, Debian's
    python3) runs the Python-heavy path about 20 % faster than an unoptimised one such as pyenv's default
    (shared/FACTS.md), so figures of different builds are not comparable. What configure was told says it
    for builds made with configure's own switches; a distribution that optimises by its own rules (Debian)
    shows neither."""
    args = sysconfig.get_config_var("CONFIG_ARGS") or ""
    return {"executable": sys.executable, "version": platform.python_version(),
            "implementation": platform.python_implementation(), "compiler": platform.python_compiler(),
            "built": " ".join(platform.python_build()[1:]), "configure_pgo": "--enable-optimizations" in args,
            "configure_lto": "--with-lto" in args}


def machine() -> dict[str, Any]:
    """The host CPU, the interpreter and the machine's state, for the results' JSON: compare only figures
    taken on the same CPU model with the same build."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor())
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "python_build": python_build(), "kernel": platform.release(),
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
            "net_core_rmem_max": int(Path("/proc/sys/net/core/rmem_max").read_text())}


def report(results: list[dict[str, Any]], path: Path) -> None:
    """Print the figures as a table, one column a run, and write them as JSON."""
    keys = list(dict.fromkeys(k for r in results for k in r))
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{r.get(k, '-')!s:>16}" for r in results))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


# Into Elasticsearch: the index must stop growing for this long before a run counts as over short of what was
# sent; and how often it is counted.
ES_STALL_SECONDS = 5.0
ES_POLL_SECONDS = 0.5


def es_indexed(es_url: str, index: str) -> int:
    """Documents indexed into the index so far (its primaries' index_total), refreshed or not: asking
    neither refreshes it nor searches it, which would make Elasticsearch refresh an index that nobody
    searches (0 while it does not exist)."""
    try:
        stats = es_call(es_url, "GET", f"/{index}/_stats/indexing")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 0
        raise
    return int(stats["_all"]["primaries"]["indexing"]["index_total"])


def wait_indexed(es_url: str, index: str, wanted: int) -> tuple[int, float]:
    """Poll the index until ``wanted`` documents are indexed or it stops growing; the count and the
    perf_counter time it was first seen."""
    count, seen = 0, time.perf_counter()
    while count < wanted and time.perf_counter() - seen < ES_STALL_SECONDS:
        time.sleep(ES_POLL_SECONDS)
        now = es_indexed(es_url, index)
        if now > count:
            count, seen = now, time.perf_counter()
    return count, seen
