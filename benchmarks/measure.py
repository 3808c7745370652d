"""Watching gelfingest from outside while it works, and talking to Elasticsearch without a client library.

- CPU: utime+stime of the supervisor and every worker from /proc/<pid>/stat, so events per CPU-second hold
  on a shared machine; and what the whole machine spent (/proc/stat), so that work of other processes
  during a measurement shows, and what the hypervisor took (steal). Peak RSS: each worker's VmHWM.
- Done: nothing left unread in the daemon's sockets (/proc/net/udp and tcp) and its CPU idle.
- Counts: the daemon's own metrics snapshots (``metrics.<worker>.json`` in its data dir, written every
  second by each worker; see gelfingest/metrics.py), summed over the workers, and the kernel's drop counter
  of the daemon's own UDP sockets (/proc/net/udp, found by the sockets' inodes).
- Elasticsearch: bulk bodies encoded by the pure core exactly as the daemon encodes them, posted over
  keep-alive connections with http.client; _refresh, _count, templates and deletes with urllib.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from gelfingest.core.bulk import BULK_FILTER_PATH
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.metrics import Snapshot, merge, read_snapshots, udp_kernel_drops

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NDJSON = {"content-type": "application/x-ndjson", "accept": "application/json"}


# -- processes ---------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_tree(pid: int) -> list[int]:
    """The process and its children (the supervisor and its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(c) for c in children)]


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def peak_rss_mib(pid: int) -> float:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m[1]) / 1024 if m else 0.0


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


def socket_inodes(pids: Iterable[int]) -> set[int]:
    """The inodes of the sockets these processes hold (their rows in /proc/net/udp)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if m := re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd.path)):
                        inodes.add(int(m[1]))
    return inodes


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

@dataclass(frozen=True, slots=True)
class Counters:
    """The daemon's own counters, summed over its workers."""

    received: int  # datagrams (UDP) or frames (TCP) read off the input
    received_bytes: int
    decoded: int
    indexed: int  # documents the output acknowledged
    failed: int
    rejected: int
    chunks_incomplete: int  # chunked messages expired or evicted before they were whole

    @classmethod
    def of(cls, snap: Snapshot) -> Counters:
        def total(name: str) -> int:
            return int(sum(snap[name][2].values())) if name in snap else 0

        chunked = snap.get("gelfingest_chunked_messages", [None, None, {}])[2]
        return cls(total("gelfingest_received"), total("gelfingest_received_bytes"),
                   total("gelfingest_messages_decoded"), total("gelfingest_documents_indexed"),
                   total("gelfingest_items_failed"), total("gelfingest_rejected"),
                   int(chunked.get("outcome=expired", 0) + chunked.get("outcome=evicted", 0)))

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


class Daemon:
    """``python -m gelfingest`` configured by environment variables, with a data dir of its own.

    A context manager: it is stopped (SIGTERM, then SIGKILL for every process of it still there after
    ``stop_timeout``) and its data dir removed however the block ends.
    """

    def __init__(self, workers: int, *, udp: bool = False, tcp: bool = False, es_url: str | None = None,
                 index: str = "bench", keep_log: Path | None = None, start_timeout: float = 60.0,
                 stop_timeout: float = 60.0) -> None:
        """``keep_log``: where its log (stderr of the supervisor and the workers) is copied when it stops."""
        self.workers = workers
        self.keep_log = keep_log
        self.stop_timeout = stop_timeout
        self.data_dir = Path(tempfile.mkdtemp(prefix="gelfingest-bench-"))
        self.log_path = self.data_dir / "gelfingest.log"
        env = {**os.environ, "GELFINGEST_UDP": "127.0.0.1:0" if udp else "off",
               "GELFINGEST_TCP": "127.0.0.1:0" if tcp else "off", "GELFINGEST_HTTP": "off",
               "GELFINGEST_OUTPUT": "elasticsearch" if es_url else "null", "GELFINGEST_INDEX": index,
               "GELFINGEST_WORKERS": str(workers), "GELFINGEST_DATA_DIR": str(self.data_dir),
               # The gelfingest beside these benchmarks, whatever is installed (a checkout of another commit).
               "PYTHONPATH": str(ROOT)}
        if es_url:
            env["ELASTICSEARCH_HOSTS"] = es_url
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "gelfingest"], env=env, stdout=log, stderr=log,
                                         start_new_session=True)
        try:
            self.udp_port, self.tcp_port, self.receive_buffer = self._wait_listening(start_timeout)
            self.pids = [self.proc.pid] if workers == 1 else process_tree(self.proc.pid)
            self.inodes = socket_inodes(self.pids)
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def errors(self) -> list[str]:
        """The lines of its log at ERROR or above, and tracebacks."""
        return [line for line in self.log().splitlines() if re.search(r" (ERROR|CRITICAL) |^Traceback", line)]

    def _wait_listening(self, timeout: float) -> tuple[int, int, int | None]:
        """The UDP and TCP ports (0: off) and the UDP receive buffer the first worker got."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [line for line in self.log().splitlines() if "listening on" in line]
            if len(lines) >= self.workers:
                udp = re.search(r"listening on udp=\S+:(\d+)", lines[0])
                tcp = re.search(r"(?<![\w-])tcp=\S+:(\d+)", lines[0])
                buffer = re.search(r"receive buffer (\d+) bytes", lines[0])
                return int(udp[1]) if udp else 0, int(tcp[1]) if tcp else 0, int(buffer[1]) if buffer else None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gelfingest exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"gelfingest did not start within {timeout:g} s:\n{self.log()[-3000:]}")

    @property
    def worker_pids(self) -> list[int]:
        return self.pids if self.workers == 1 else self.pids[1:]

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def peak_rss_mib(self) -> float:
        """The largest VmHWM of the workers."""
        return max(peak_rss_mib(p) for p in self.worker_pids)

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped before the daemon's UDP sockets (while they are open)."""
        return udp_kernel_drops(self.inodes)

    def counters(self) -> Counters:
        return Counters.of(merge(read_snapshots(self.data_dir)))

    def settled(self, since: float, timeout: float = 10.0) -> Counters:
        """The counters once every worker has written a snapshot after ``since`` (time.time()) and the output
        has acknowledged (or refused) everything decoded, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            paths = [self.data_dir / f"metrics.{k}.json" for k in range(self.workers)]
            fresh = all(p.exists() and p.stat().st_mtime > since for p in paths)
            counters = self.counters()
            if (fresh and counters.indexed + counters.failed >= counters.decoded) or time.monotonic() > deadline:
                return counters
            time.sleep(0.1)

    def stop(self) -> None:
        pids = process_tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait()
        if self.keep_log is not None:
            self.keep_log.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self.keep_log)
        shutil.rmtree(self.data_dir, ignore_errors=True)


# -- Elasticsearch --------------------------------------------------------------------------------------------

def es_call(es_url: str, method: str, path: str, body: Any = None) -> Any:
    """One JSON request; the parsed answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(es_url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


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
    ingest = Ingest(IngestSettings(index_pattern=index, document_id_prefix=id_prefix))
    bodies = [b.body() for d in datagrams if (b := ingest.datagram(d, "127.0.0.1", time.time()))]
    if (tail := ingest.flush()) is not None:
        bodies.append(tail.body())
    return bodies, ingest.decoded


def post_bulks(es_url: str, bodies: Sequence[bytes], concurrency: int, allow_409: bool = False,
               headers: Mapping[str, str] = NDJSON) -> float:
    """Post the bodies to _bulk as the daemon does, ``concurrency`` at a time over keep-alive connections;
    return the seconds it took. Every item must be created (or, with ``allow_409``, be there already).
    ``headers``: e.g. a content-encoding for bodies compressed beforehand."""
    url = urllib.parse.urlsplit(es_url)
    path = f"/_bulk?filter_path={BULK_FILTER_PATH}"
    lock = threading.Lock()
    queue: Iterator[bytes] = iter(bodies)

    def poster() -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=300)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                conn.request("POST", path, body, dict(headers))
                response = conn.getresponse()
                answer = json.loads(response.read())
                assert response.status == 200, answer
                if answer["errors"]:
                    statuses = {next(iter(i.values()))["status"] for i in answer["items"]}
                    assert allow_409 and statuses <= {201, 409}, str(answer)[:500]
        finally:
            conn.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(poster) for _ in range(concurrency)]:
            done.result()
    return time.perf_counter() - t0


# -- reporting -------------------------------------------------------------------------------------------------

def report(results: list[dict[str, Any]], path: Path) -> None:
    """Print the figures as a table, one column a run, and write them as JSON."""
    keys = list(dict.fromkeys(k for r in results for k in r))
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{r.get(k, '-')!s:>16}" for r in results))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
