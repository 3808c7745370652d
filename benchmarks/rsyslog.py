"""rsyslog as the peer of the benchmark suite: its own ``rsyslogd -n -f CONF``, never the system service.

rsyslog 8.2302 (Debian's ``rsyslog`` and ``rsyslog-elasticsearch``) has no GELF input: it cannot inflate
gzip or zlib, nor reassemble chunks, so it is compared on uncompressed, unchunked GELF JSON over UDP. It
gets the job gelfingest does with its defaults: parse the JSON, give each event a sequence, map the
fields to the same document (``message``, ``@timestamp``, ``level``, ``host``, the container's fields,
``source_host``, ``sequence``) and write it with ``create`` and an id of its own (a prefix drawn at start
and the sequence, in hex and decimal: rsyslog has no base64 of gelfingest's form), so that a resent batch
cannot duplicate.

The configuration is the one rsyslog's documentation advises for throughput, and the best of those we
measured on this machine (``../shared/FACTS.md``):

- ``imudp`` with one receiving thread (``threads="1"``: the loopback socket is one, and a second thread
  only contends for it), ``batchSize="128"`` (datagrams per ``recvmmsg``, its default is 32) and
  ``rcvbufSize`` as large as gelfingest's default receive buffer (256 MiB; root gets it with
  SO_RCVBUFFORCE), so that a burst's loss compares the tools, not their buffers.
- The input bound to a ruleset with its own in-memory queue, ``FixedArray`` of 262,144 messages (the
  documentation's choice for a fixed maximum; ``LinkedList`` cost more), ``dequeueBatchSize="5000"``
  (the documentation's advice for omelasticsearch: large batches make large bulk requests) and two
  worker threads (one per core). The actions run directly in those workers: the textbook separate
  action queue for omelasticsearch cost about 25 % more CPU and 3-5 times the memory.
- ``mmjsonparse`` with ``cookie=""`` and ``useRawMsg="on"``: the datagram is plain JSON without the
  ``@cee:`` cookie or a syslog header.
- ``mmsequence`` (``mode="instance"``) for the sequence, in ``$.seq``.
- ``omelasticsearch`` with ``bulkmode="on"`` and ``maxbytes="5m"`` (requests as large as gelfingest's),
  ``writeoperation="create"`` with ``bulkid`` and ``dynbulkid`` (the id), ``esVersion.major="8"`` (no
  ``_type`` in the action lines, as gelfingest sends them; 7.9 takes both) and an ``errorfile``.
- ``@timestamp`` is the time received (``timereported``: the datagram has no syslog header), formatted
  as RFC 3339 in the template; converting GELF's float seconds in RainerScript would only cost it more.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from gelfingest.metrics import udp_kernel_drops
from gelfingest.net import free_port
from tests.harness import cpu_seconds, rss_kib, socket_inodes

QUEUE_SIZE = 262_144
# The kernel receive buffer rsyslog asks for: the same as gelfingest's default (--udp-receive-buffer), so a
# burst's loss compares the tools and not their buffers (FACTS.md's best shape had 32 MiB: rsyslog's queue
# takes a burst; its input thread only reads).
RECEIVE_BUFFER = "256m"

# The document, field for field as gelfingest's default schema writes a Docker event.
_FIELDS = (
    ("message", "$!short_message", ""), ("level", "$!level", ' datatype="number"'), ("host", "$!host", ""),
    ("version", "$!version", ""), ("container_id", "$!_container_id", ""),
    ("container_name", "$!_container_name", ""), ("image_id", "$!_image_id", ""),
    ("image_name", "$!_image_name", ""), ("command", "$!_command", ""), ("tag", "$!_tag", ""),
    ("created", "$!_created", ""), ("source_host", "fromhost-ip", ""),
    ("sequence", "$.seq", ' datatype="number"'),
)


def rsyslogd() -> str | None:
    """rsyslogd's path: on PATH, or where Debian puts it (/usr/sbin is not on a user's PATH)."""
    return shutil.which("rsyslogd") or next((p for p in ("/usr/sbin/rsyslogd",) if os.access(p, os.X_OK)), None)


def available() -> bool:
    """Whether rsyslogd and its Elasticsearch output are installed."""
    return rsyslogd() is not None and any(Path("/usr/lib").glob("*/rsyslog/omelasticsearch.so"))


def config(work_dir: Path, port: int, es_url: str, index: str, id_prefix: str) -> str:
    """The configuration described above, listening on 127.0.0.1:``port``, writing ``index``."""
    es = urlsplit(es_url)
    fields = "\n".join(f'  property(outname="{out}" name="{name}" format="jsonf"{extra})'
                       for out, name, extra in _FIELDS)
    return f"""\
global(workDirectory="{work_dir}" maxMessageSize="64k")
module(load="imudp" threads="1" batchSize="128")
module(load="mmjsonparse")
module(load="mmsequence")
module(load="omelasticsearch")

template(name="doc" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
{fields}
}}
template(name="docid" type="string" string="{id_prefix}%$.seq%")

ruleset(name="gelf" queue.type="FixedArray" queue.size="{QUEUE_SIZE}" queue.dequeueBatchSize="5000"
        queue.workerThreads="2") {{
  action(type="mmjsonparse" cookie="" useRawMsg="on")
  action(type="mmsequence" mode="instance" from="1" to="2000000000" var="$.seq")
  action(type="omelasticsearch" server="{es.hostname}" serverport="{es.port}" searchIndex="{index}" esVersion.major="8"
         template="doc" bulkmode="on" maxbytes="5m" writeoperation="create" bulkid="docid" dynbulkid="on"
         errorfile="{work_dir}/es-errors.json")
}}

input(type="imudp" address="127.0.0.1" port="{port}" ruleset="gelf" rcvbufSize="{RECEIVE_BUFFER}")
"""


class Rsyslog:
    """A running rsyslogd with the configuration above, in a temporary directory."""

    def __init__(self, es_url: str, index: str, keep_log: Path | None = None) -> None:
        """``keep_log``: where its log and error file are copied when it stops."""
        self.keep_log = keep_log
        self.dir = Path(tempfile.mkdtemp(prefix="bench-rsyslog-"))
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(config(self.dir, self.udp_port, es_url, index, secrets.token_hex(4) + "-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.inodes: set[int] = set()

    def __enter__(self) -> Self:
        command = rsyslogd()
        if command is None:
            raise RuntimeError("rsyslogd is not installed (make bench installs it)")
        # -n: in the foreground; -i: its own pid file, not the system's; -f: this configuration only.
        with open(self.dir / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen([command, "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while not self._listening():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rsyslogd did not start:\n{self.log()}")
                time.sleep(0.05)
            # Once it listens: the inodes of its sockets, the UDP one among them.
            self.inodes = socket_inodes([self.proc.pid])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _listening(self) -> bool:
        hex_port = f":{self.udp_port:04X} "
        return any(hex_port in line for line in Path("/proc/net/udp").read_text().splitlines()[1:])

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.keep_log is not None:
            self.keep_log.parent.mkdir(parents=True, exist_ok=True)
            self.keep_log.write_text(self.log() + "".join(f"es-errors.json: {line}\n" for line in self.errors()))
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """utime + stime of rsyslogd, all its threads."""
        return cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        return rss_kib(self.pid, "VmHWM") / 1024

    def kernel_drops(self) -> int:
        return udp_kernel_drops(self.inodes)

    def errors(self) -> list[str]:
        """The lines of its error file: one for each bulk request Elasticsearch refused part of."""
        path = self.dir / "es-errors.json"
        return path.read_text().splitlines() if path.exists() else []

    def log(self) -> str:
        path = self.dir / "stdout.log"
        return path.read_text(errors="replace") if path.exists() else ""
