"""Several worker processes under one supervisor (after uvicorn's supervisors).

Each worker is ``gelfingest`` itself, started with ``--worker-index K``; it binds the listeners with
SO_REUSEPORT so the kernel spreads datagrams over the workers. The supervisor restarts a worker that dies,
forwards SIGINT/SIGTERM (a second one too: workers then stop at once), and exits only once every worker
has flushed and exited.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Final

from gelfingest.config import Config
from gelfingest.core.sequence import Progression
from gelfingest.net import free_ports, resolve_port
from gelfingest.storage.snapshots import clear_snapshots

logger = logging.getLogger(__name__)

# A worker that keeps dying is restarted at most this often.
RESTART_BACKOFF: Final = 1.0
_PR_SET_PDEATHSIG: Final = 1


def _child_setup() -> None:
    # Our own session: Ctrl-C reaches the supervisor only, which forwards it once. And if the supervisor
    # is killed outright, the kernel sends the worker SIGTERM so it flushes and exits.
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, config: Config, argv: list[str]) -> None:
        self.config = config
        self.argv = argv
        self.udp = resolve_port(config.udp) if config.udp else None
        self.tcp = resolve_port(config.tcp, socket.SOCK_STREAM) if config.tcp else None
        self.http = resolve_port(config.http, socket.SOCK_STREAM) if config.http else None
        self.json_tcp = resolve_port(config.json_tcp, socket.SOCK_STREAM) if config.json_tcp else None
        self.json_udp = resolve_port(config.json_udp) if config.json_udp else None
        self.otlp = resolve_port(config.otlp, socket.SOCK_STREAM) if config.otlp else None
        self.metrics = resolve_port(config.metrics, socket.SOCK_STREAM) if config.metrics else None
        self.worker_ports = list(config.worker_ports) or free_ports(config.workers, socket.SOCK_DGRAM)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts = 0
        self.signals = 0

    def _spawn(self, k: int) -> None:
        args = [*self.argv, "--worker-index", str(k), "--worker-ports", ",".join(map(str, self.worker_ports))]
        # Every worker binds the very ports resolved here (port 0 picked once, for all).
        for flag, address in (("--udp", self.udp), ("--tcp", self.tcp), ("--http", self.http),
                              ("--json-tcp", self.json_tcp), ("--json-udp", self.json_udp), ("--otlp", self.otlp),
                              ("--metrics", self.metrics)):
            if address is not None:
                args += [flag, str(address)]
        self.workers[k] = subprocess.Popen([sys.executable, "-m", "gelfingest", *args], preexec_fn=_child_setup)

    def _on_signal(self, sig: int, _frame: object) -> None:
        if sig != signal.SIGHUP:  # a reload is passed on; it stops nothing
            self.signals += 1
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(sig)

    def describe(self) -> str:
        c = self.config
        instance = Progression(c.sequence_seed, c.sequence_iterator)
        owned = "; ".join(
            f"worker {k}: {Progression.for_worker(c.sequence_seed, c.sequence_iterator, k, c.workers).describe()}"
            for k in range(c.workers))
        return (f"gelfingest supervisor: {c.workers} workers on udp={self.udp or 'off'} tcp={self.tcp or 'off'}; "
                f"this instance owns "
                f"{instance.describe()} ({c.sequence_mode}); {owned}")

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        logger.info("%s", self.describe())
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        clear_snapshots(self.config.data_dir)
        for k in range(self.config.workers):
            self._spawn(k)
        last_restart: dict[int, float] = {}
        while True:
            alive = False
            for k, proc in list(self.workers.items()):
                code = proc.poll()
                if code is None:
                    alive = True
                    continue
                if self.signals:
                    continue
                # A worker died on its own: start it again (it continues its sequence above its reservation).
                wait = RESTART_BACKOFF - (time.monotonic() - last_restart.get(k, 0.0))
                if wait > 0:
                    alive = True
                    continue
                logger.error("worker %d (pid %d) exited with %s; restarting it", k, proc.pid, code)
                last_restart[k] = time.monotonic()
                self.restarts += 1
                self._spawn(k)
                alive = True
            if not alive:
                break
            time.sleep(0.1)
        codes = [proc.returncode for proc in self.workers.values()]
        logger.info("gelfingest supervisor: all %d workers stopped (exit codes %s, %d restarts)",
                    len(codes), codes, self.restarts)
        return 0 if all(c == 0 for c in codes) else 1
