"""``python -m gelfingest`` as a user runs it, watched from outside: the one daemon harness of the tests and
the benchmarks.

The daemon is a separate process configured by environment variables (and flags). Its log (stderr) is
read line by line and its standard output kept (``--output stdout``); the ports it listens on are read
from its start lines. From outside, without asking the daemon: its CPU time and peak RSS (/proc), the
kernel's drop counter of its UDP sockets, and its own counters (the metrics snapshots every worker writes
to the data dir each second).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from gelfingest.metrics import Snapshot, merge, udp_kernel_drops
from gelfingest.storage.snapshots import read_snapshots

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes, from /proc -----------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid: int) -> list[int]:
    """The process's children, those of any of its threads."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def process_tree(pid: int) -> list[int]:
    """The process and its children (the supervisor and its workers)."""
    return [pid, *children(pid)]


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/<pid>/status in KiB: VmRSS (now) or VmHWM (the peak)."""
    m = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m[1]) if m else 0


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


# -- the daemon's own counters -------------------------------------------------------------------------------

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
    dropped: int  # events a processor dropped (--processors)

    @classmethod
    def of(cls, snap: Snapshot) -> Counters:
        def total(name: str) -> int:
            return int(sum(snap[name][2].values())) if name in snap else 0

        chunked = snap.get("gelfingest_chunked_messages", [None, None, {}])[2]
        return cls(total("gelfingest_received"), total("gelfingest_received_bytes"),
                   total("gelfingest_messages_decoded"), total("gelfingest_documents_indexed"),
                   total("gelfingest_items_failed"), total("gelfingest_rejected"),
                   int(chunked.get("outcome=expired", 0) + chunked.get("outcome=evicted", 0)),
                   total("gelfingest_processor_dropped"))

    def __sub__(self, other: Counters) -> Counters:
        return Counters(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


def _port(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    return int(m[1]) if m else 0


class Daemon:
    """One gelfingest instance (a worker, or a supervisor and its workers), started at once.

    ``env`` is laid over this process's environment (and over defaults that keep TCP and HTTP off unless
    asked for); ``data_dir`` None: a temporary one, removed by ``close``. It waits until every worker has
    said where it listens. A context manager: ``close`` stops it (SIGTERM, then SIGKILL for every process
    of it still there after ``stop_timeout``), copies its log to ``keep_log`` and removes a temporary data
    dir, however the block ends.
    """

    def __init__(self, env: Mapping[str, str], args: Sequence[str] = (), data_dir: Path | None = None, *,
                 workers: int | None = None, start_timeout: float = 30.0, stop_timeout: float = 60.0,
                 keep_log: Path | None = None) -> None:
        self.workers = workers or int(env.get("GELFINGEST_WORKERS", "1"))
        self.stop_timeout = stop_timeout
        self.keep_log = keep_log
        self._own_data_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="gelfingest-daemon-"))
        full_env = {**os.environ, "GELFINGEST_DATA_DIR": str(self.data_dir), "GELFINGEST_TCP": "off",
                    "GELFINGEST_HTTP": "off",
                    # The gelfingest beside these tests, whatever is installed (a checkout of another commit).
                    "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "gelfingest", *args], env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.log: list[str] = []
        self.stdout: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=lambda: self.stdout.extend(iter(self.proc.stdout.readline, b"")),  # type: ignore[union-attr]
                         daemon=True).start()
        try:
            first = self._wait_for_start(start_timeout)
        except BaseException:
            self.close()
            raise
        self.udp_port = _port(r"listening on udp=\S+:(\d+)", first)
        self.tcp_port = _port(r"(?<![\w-])tcp=\S+:(\d+)", first)
        self.http_port = _port(r"(?<![\w-])http=\S+:(\d+)", first)
        self.json_tcp_port = _port(r"json-tcp=\S+:(\d+)", first)
        self.json_udp_port = _port(r"json-udp=\S+:(\d+)", first)
        self.otlp_port = _port(r"otlp=\S+:(\d+)", first)
        self.metrics_port = _port(r"metrics=\S+:(\d+)", first)
        buffer = re.search(r"receive buffer (\d+) bytes", first)
        self.receive_buffer = int(buffer[1]) if buffer else None
        self.pids = process_tree(self.proc.pid)
        self.inodes = socket_inodes(self.pids)

    def _read(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):  # type: ignore[union-attr]
            self.log.append(line.decode(errors="replace").rstrip())

    def _wait_for_start(self, timeout: float) -> str:
        """The first worker's start line, once every worker has written one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [line for line in list(self.log) if " listening on " in line]
            if len(lines) >= self.workers:
                return lines[0]
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"gelfingest exited with {self.proc.returncode}:\n" + "\n".join(self.log))
            time.sleep(0.05)
        raise RuntimeError(f"gelfingest did not start within {timeout:g} s:\n" + "\n".join(self.log))

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what it says ------------------------------------------------------------------------------------

    def text(self) -> str:
        return "\n".join(self.log)

    def errors(self) -> list[str]:
        """The lines of its log at ERROR or above, and tracebacks."""
        return [line for line in list(self.log) if re.search(r" (ERROR|CRITICAL) |^Traceback", line)]

    def delivered(self) -> int:
        """Events delivered, summed over the workers' closing lines."""
        return sum(int(m[1]) for line in self.log if (m := re.search(r"(\d+) delivered to", line)))

    # -- what /proc says ---------------------------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        return [self.proc.pid] if self.workers == 1 else children(self.proc.pid)

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def peak_rss_mib(self) -> float:
        """The largest VmHWM of the workers."""
        return max(rss_kib(p, "VmHWM") for p in self.worker_pids()) / 1024

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped before the daemon's UDP sockets (while they are open)."""
        return udp_kernel_drops(self.inodes)

    # -- what its metrics snapshots say ------------------------------------------------------------------

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
            done = counters.indexed + counters.failed + counters.dropped >= counters.decoded
            if (fresh and done) or time.monotonic() > deadline:
                return counters
            time.sleep(0.1)

    # -- stopping ----------------------------------------------------------------------------------------

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> int:
        """Send ``sig`` and wait for the exit code. Past ``timeout`` (default ``stop_timeout``) every process
        of it still there is killed and TimeoutExpired raised."""
        pids = process_tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill(pids)
            raise
        self._reader.join(5)
        return code

    def kill(self, pids: Iterable[int] | None = None) -> None:
        """SIGKILL for the daemon and its workers, as a crash would."""
        for pid in pids if pids is not None else process_tree(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        """Stop it if it runs (killed if it does not stop in time), keep its log, remove a temporary data dir."""
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop()
        self._reader.join(5)
        if self.keep_log is not None:
            self.keep_log.parent.mkdir(parents=True, exist_ok=True)
            self.keep_log.write_text(self.text() + "\n")
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
