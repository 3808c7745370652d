"""The daemon's lifecycle: start the output and the inputs, run, and shut down in order.

Signal handlers only set flags (after uvicorn): the first SIGINT/SIGTERM asks for a clean stop (stop
listening, flush what is in memory to the output within ``shutdown_timeout``, spool the rest), a second one
spools what is in memory at once and exits.

Between the inputs and the output: a bounded queue in memory, and the spool on disk (spool.py). While the
output keeps up, batches go straight to the queue. When it has been unavailable, or slower than the input,
for ``spool_after`` seconds, new batches go to the spool (and what the output holds in memory gets a copy
there) until everything spooled has been sent on. When neither can take a batch, the inputs pause.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import ssl
import time
from typing import Any, Final

from gelfingest.config import Config, mask_url
from gelfingest.core.batch import Batch
from gelfingest.core.decompress import CHUNK_MAGIC
from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.ingest import Ingest
from gelfingest.core.rejects import RejectLog
from gelfingest.core.sequence import Sequencer
from gelfingest.fleet.forwarding import ChunkForwarder
from gelfingest.inputs.http import HttpInput
from gelfingest.inputs.tcp import TcpInput
from gelfingest.inputs.tls import server_context
from gelfingest.inputs.udp import UdpInput
from gelfingest.metrics import (
    Snapshot,
    SnapshotBuilder,
    clear_snapshots,
    merge,
    read_snapshots,
    render,
    udp_kernel_drops,
    write_snapshot,
)
from gelfingest.net import MAX_UDP_PAYLOAD
from gelfingest.outputs import ElasticsearchOutput, Shipper, make_output
from gelfingest.storage.deadletters import DeadLetters
from gelfingest.storage.reservations import SequenceReservations, highest_reservation
from gelfingest.storage.spool import Spool

logger = logging.getLogger(__name__)

# How often timers run: batch age, chunk expiry, the rejection summary.
TICK_INTERVAL: Final = 0.1
# At shutdown, TCP connections are read on while they are busy, at most this long, so what senders have
# already written is taken rather than cut.
TCP_SHUTDOWN_GRACE: Final = 1.0
# How often a worker writes its metrics snapshot for the others' /metrics.
SNAPSHOT_INTERVAL: Final = 1.0


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if config.workers == 1:
            clear_snapshots(config.data_dir)
        self.reservations = SequenceReservations(config.data_dir, config.worker_index)
        start_above = highest_reservation(config.data_dir)
        sequencer = Sequencer(config.sequence_seed, config.sequence_iterator, worker=config.worker_index,
                              workers=config.workers, mode=config.sequence_mode, start_above=start_above,
                              now=time.time(), reserve=self.reservations)
        # Document ids are this prefix and the sequence; a new prefix at each start means that even a lost
        # data dir, or two instances sharing a progression, cannot give two events one id.
        self.ingest = Ingest(config.ingest_settings(document_id_prefix=secrets.token_hex(4) + "-"), sequencer)
        self.rejects = RejectLog()
        self.output = make_output(config)
        if isinstance(self.output, ElasticsearchOutput):
            self.output.dead_letters = DeadLetters(config.data_dir / "dlq", f"worker-{config.worker_index}")
        self.spool = Spool(config.data_dir / "spool" / str(config.worker_index), config.spool_max_bytes)
        self.shipper = Shipper(self.output, config.queue_batches, config.elasticsearch_concurrency,
                               on_done=self._done, max_bytes=config.queue_max_bytes)
        # While spooling, every new batch goes to the spool, behind what is there, until it is all sent.
        self.spooling = False
        self._spooling_since = 0.0
        self._spooled_before = 0
        self._blocked_since: float | None = None
        self._paused = False
        self._spool_full_since: float | None = None
        self._replay_task: asyncio.Task[None] | None = None
        # A batch read back from the spool that the queue could not take yet.
        self._replaying: Batch | None = None
        self.spooled_at_shutdown = 0
        self._cut_short = ""
        self.lost_at_shutdown = 0
        self.udp: UdpInput | None = None
        self.tcp: TcpInput | None = None
        self.http: HttpInput | None = None
        self.ops: HttpInput | None = None
        self._last_snapshot = 0.0
        self.json_tcp: TcpInput | None = None
        self.json_udp: UdpInput | None = None
        self.forwarder: ChunkForwarder | None = None
        if config.workers > 1 or config.peers or config.chunk_forward is not None:
            self.forwarder = ChunkForwarder(config, self.on_forwarded)
        self.should_exit = False
        self.force_exit = False
        # Batches neither the output's queue nor the spool could take yet: the inputs are paused meanwhile.
        self._blocked: list[Batch] = []

    # -- the data path -----------------------------------------------------------------------------

    def on_udp(self, datagrams: list[bytes], sources: list[str], now: float) -> None:
        """A burst from the UDP input: datagrams within --max-datagram, chunks to their owner, the rest here."""
        limit = self.config.max_datagram
        if self.forwarder is not None or limit < MAX_UDP_PAYLOAD:
            datagrams, sources = self._ours(datagrams, sources, now, limit)
        self._take_many(datagrams, sources, now)

    def on_frames(self, frames: list[bytes], peer: str, now: float) -> None:
        """Frames from a GELF TCP connection (a chunk among them goes to its owner, as a datagram would)."""
        sources = [peer] * len(frames)
        if self.forwarder is not None:
            frames, sources = self._ours(frames, sources, now, None)
        self._take_many(frames, sources, now)

    def on_forwarded(self, data: bytes, source: str, now: float) -> None:
        """A chunk another worker or peer passed on to us, its owner (within --max-datagram too)."""
        datagrams, sources = self._ours([data], [source], now, self.config.max_datagram, route=False)
        self._take_many(datagrams, sources, now, forwarded=True)

    def _ours(self, datagrams: list[bytes], sources: list[str], now: float, limit: int | None,
              route: bool = True) -> tuple[list[bytes], list[str]]:
        """The datagrams to take here: one over ``limit`` is rejected, a chunk another owns is forwarded
        (unless ``route`` is False: it was forwarded to us)."""
        forward = self.forwarder.route if self.forwarder is not None and route else None
        kept: list[bytes] = []
        kept_sources: list[str] = []
        for data, source in zip(datagrams, sources, strict=True):
            if limit is not None and len(data) > limit:
                self._rejected(GelfError(Reason.DATAGRAM_TOO_LARGE, f"{len(data)} bytes, more than {limit} "
                                         f"(--max-datagram)"), source, now)
            elif not (forward is not None and data[:2] == CHUNK_MAGIC and len(data) >= 12
                      and forward(data, source, now)):
                kept.append(data)
                kept_sources.append(source)
        return kept, kept_sources

    def take(self, data: bytes, source: str, now: float) -> GelfError | None:
        """Ingest one message; a rejection is counted, logged (rate-limited) and returned."""
        rejected = self._take_many([data], [source], now)
        return rejected[0][0] if rejected else None

    def _take_many(self, datagrams: list[bytes], sources: list[str], now: float,
                   forwarded: bool = False) -> list[tuple[GelfError, str]]:
        """Ingest messages (or chunks); rejections are counted, logged (rate-limited) and returned."""
        ready, rejected = self.ingest.take_many(datagrams, sources, now, forwarded)
        for err, source in rejected:
            self._rejected(err, source, now)
        for batch in ready:
            self._hand_over(batch)
        return rejected

    def take_json(self, data: bytes, source: str, now: float) -> None:
        """One logspout JSON line (either transport), counted and handed over like GELF."""
        try:
            batch = self.ingest.json_line(data, source, now)
        except GelfError as err:
            self._rejected(err, source, now)
            return
        if batch is not None:
            self._hand_over(batch)

    def on_json_datagrams(self, datagrams: list[bytes], sources: list[str], now: float) -> None:
        for data, source in zip(datagrams, sources, strict=True):
            self.take_json(data, source, now)

    def on_json_frames(self, frames: list[bytes], peer: str, now: float) -> None:
        for frame in frames:
            self.take_json(frame, peer, now)

    def _rejected(self, err: GelfError, source: str, now: float) -> None:
        line = self.rejects.record(err, source, now)
        if line:
            logger.warning("%s", line)

    def is_full(self) -> bool:
        return bool(self._blocked)

    def is_ready(self) -> bool:
        output = self.output
        if isinstance(output, ElasticsearchOutput):
            return output.template_installed and output.outage_since is None
        return True

    def _hand_over(self, batch: Batch) -> None:
        """Queue a batch for the output, or spool it; when neither can take it, stop reading until one can."""
        if not self._blocked and self._place(batch):
            return
        self._blocked.append(batch)
        if self._blocked_since is None:
            self._blocked_since = time.monotonic()
        if not self.should_exit and not self._paused:
            self._paused = True
            for source in self._inputs():
                source.pause()

    def _place(self, batch: Batch) -> bool:
        if not self.spooling:
            return self.shipper.try_submit(batch)
        if self.spool.append(batch):
            if self._spool_full_since is not None:
                logger.warning("the spool has room again after %.1f s; reading the inputs again",
                               time.monotonic() - self._spool_full_since)
                self._spool_full_since = None
            return True
        if self._spool_full_since is None:
            self._spool_full_since = time.monotonic()
            logger.error("the spool is full (%d of %d bytes, %d events): inputs paused until Elasticsearch takes "
                         "some; TCP and HTTP senders wait, UDP datagrams now drop in the kernel (counted in "
                         "gelfingest_udp_kernel_drops)", self.spool.bytes, self.spool.max_bytes,
                         self.spool.held_events)
        return False

    def _unblock(self) -> None:
        """Move blocked batches on while there is room; read the inputs again once none is left."""
        while self._blocked and self._place(self._blocked[0]):
            self._blocked.pop(0)
        if not self._blocked:
            self._blocked_since = None
            if self._paused and not self.should_exit:
                self._paused = False
                for source in self._inputs():
                    source.resume()

    def _done(self, batch: Batch) -> None:
        """The output is finished with a batch: its spooled copy goes, and there is room for another."""
        self.spool.ack(batch)
        self._unblock()

    def _check_spooling(self, mono: float) -> None:
        """Start spooling when Elasticsearch has been unavailable or slower than the input for too long;
        stop once everything spooled is sent on."""
        output = self.output
        down = (isinstance(output, ElasticsearchOutput) and output.outage_since is not None
                and mono - output.outage_since >= self.config.spool_after)
        if not self.spooling:
            slow = self._blocked_since is not None and mono - self._blocked_since >= self.config.spool_after
            if not (down or slow):
                return
            self._start_spooling(mono)
            logger.warning("output %s %s for %g s: spooling to %s (%d events held in memory)", output.name,
                           "unavailable" if down else "slower than the input", self.config.spool_after,
                           self.spool.directory, self.shipper.waiting_events + sum(map(len, self._blocked)))
        # What the output holds in memory gets a copy on disk (it keeps sending it), so a crash loses nothing.
        for batch in self.shipper.in_flight() + self.shipper.queued():
            if batch.segment < 0 and not self.spool.append(batch, claimed=True):
                break
        self._unblock()
        if (self.spool.unread_batches == 0 and self._replaying is None and not self._blocked and not down
                and (not isinstance(output, ElasticsearchOutput) or output.outage_since is None)):
            self.spooling = False
            logger.warning("spool drained: %d events went through the spool in %.1f s and were sent on",
                           self.spool.written_events - self._spooled_before, mono - self._spooling_since)

    def _start_spooling(self, mono: float) -> None:
        self.spooling = True
        self._spooling_since = mono
        self._spooled_before = self.spool.written_events

    async def _replay(self) -> None:
        """Feed spooled batches to the output, oldest first, as its queue has room. A batch is read before
        its size is known: one the queue cannot take yet waits here (it stays unacknowledged in the spool
        meanwhile, so a stop leaves it there for the next start)."""
        while True:
            if self._replaying is None and self.spool.unread_batches and not self.shipper.queue.full():
                self._replaying = self.spool.read()
            if self._replaying is not None and self.shipper.try_submit(self._replaying):
                self._replaying = None
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.05)

    def _inputs(self) -> list[UdpInput | TcpInput]:
        return [i for i in (self.udp, self.tcp, self.json_tcp, self.json_udp) if i is not None]

    # -- lifecycle ---------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._handle_exit, sig)

    def _handle_exit(self, sig: int) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    def describe(self) -> str:
        c = self.config
        inputs = f"udp={self.udp.bound}" if self.udp else "udp=off"
        if self.udp:
            inputs += f" (receive buffer {self.udp.effective_buffer} bytes)"
        if self.tcp:
            inputs += f", tcp={self.tcp.bound} ({c.tcp_framing} framing{' TLS' if self.tcp.ssl_context else ''})"
        else:
            inputs += ", tcp=off"
        inputs += f", http={self.http.bound}{' (TLS)' if self.http.ssl_context else ''}" if self.http else ", http=off"
        if self.ops:
            inputs += f", metrics={self.ops.bound}"
        if self.json_tcp:
            inputs += f", json-tcp={self.json_tcp.bound}"
        if self.json_udp:
            inputs += f", json-udp={self.json_udp.bound}"
        output = c.output if c.output != "elasticsearch" else \
            f"elasticsearch={','.join(mask_url(u) for u in c.elasticsearch)}"
        worker = f"worker {c.worker_index}/{c.workers} " if c.workers > 1 else ""
        seq = self.ingest.sequencer
        routing = f"; {self.forwarder.describe()}" if self.forwarder is not None else ""
        return (f"gelfingest {worker}listening on {inputs}; output {output}; index {c.index} ({c.schema} schema); "
                f"sequence {seq.describe()} from {seq.next_value}{routing}")

    async def serve(self) -> None:
        self._install_signal_handlers()
        await self.output.start()
        try:
            await self._start()
        except BaseException:
            # A port taken, an address we cannot bind: close what is open, then say why (cli.py).
            for source in self._inputs():
                if isinstance(source, TcpInput):
                    await source.close()
                else:
                    source.close()
            await self.output.close()
            raise
        try:
            while not self.should_exit:
                await asyncio.sleep(TICK_INTERVAL)
                self.tick(time.time())
        finally:
            await self.shutdown()
            # Done: a signal from now on (a second Ctrl-C while the process exits) must not kill it with
            # 143. Taken back from the loop first, or closing the loop would restore the default action.
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)

    def _open_spool(self) -> None:
        c = self.config
        if c.worker_index == 0:
            # A worker that no longer exists (fewer --workers than last time) left a spool: worker 0 sends it.
            root = c.data_dir / "spool"
            for other in sorted(root.iterdir()) if root.is_dir() else []:
                if other.name.isdigit() and int(other.name) >= c.workers:
                    moved = self.spool.adopt(other)
                    logger.info("spool: took %d segments left by worker %s", moved, other.name)
        for torn in self.spool.open():
            logger.error("spool: %s is torn at byte %d (%s): %d bytes after it are skipped, the rest is sent",
                         torn.path, torn.offset, torn.why, torn.skipped)
        if self.spool.unread_batches:
            logger.warning("spool: %d events in %d batches (%d bytes) left by an earlier run are sent first",
                           self.spool.unread_events, self.spool.unread_batches, self.spool.bytes)
            self._start_spooling(time.monotonic())

    async def _start(self) -> None:
        self._open_spool()
        self.shipper.start()
        self._replay_task = asyncio.get_running_loop().create_task(self._replay(), name="spool-replay")
        lead = self.ingest.sequencer.clock_lead(time.time())
        if lead > 0:
            # Restarted within its reservation: let the clock catch up before taking input, so this
            # worker's lines do not sort after those the rest of the fleet receives meanwhile.
            logger.info("waiting %.2f s for the clock to pass the sequences reserved before the restart", lead)
            await asyncio.sleep(lead)
        if self.forwarder is not None:
            self.forwarder.start(asyncio.get_running_loop())
        if self.config.udp is not None:
            self.udp = UdpInput(self.config.udp, self.config.udp_receive_buffer, self.on_udp,
                                reuse_port=self.config.workers > 1,
                                kernel_timestamps=self.config.sequence_mode == "clock")
            self.udp.start(asyncio.get_running_loop())
        c = self.config
        tls = self._tls_context()
        tcp_bounds: dict[str, Any] = dict(max_frame=c.tcp_max_frame, idle_timeout=c.tcp_idle_timeout,
                                          max_connections=c.tcp_max_connections, reuse_port=c.workers > 1,
                                          frame_timeout=c.tcp_frame_timeout, on_reject=self._rejected)
        if c.tcp is not None:
            self.tcp = TcpInput(c.tcp, self.on_frames, framing=c.tcp_framing, name="tcp",
                                ssl_context=tls if "tcp" in c.tls_inputs else None, **tcp_bounds)
            await self.tcp.start(asyncio.get_running_loop())
        if c.json_tcp is not None:
            self.json_tcp = TcpInput(c.json_tcp, self.on_json_frames, framing="newline", name="json-tcp",
                                     ssl_context=tls if "json-tcp" in c.tls_inputs else None, **tcp_bounds)
            await self.json_tcp.start(asyncio.get_running_loop())
        if c.json_udp is not None:
            self.json_udp = UdpInput(c.json_udp, c.udp_receive_buffer, self.on_json_datagrams, reuse_port=c.workers > 1)
            self.json_udp.start(asyncio.get_running_loop())
        if c.http is not None:
            self.http = HttpInput(c.http, self.take, max_body=c.http_max_body, token=c.http_token,
                                  is_full=self.is_full, is_ready=self.is_ready, metrics=self.render_metrics,
                                  reuse_port=c.workers > 1, max_connections=c.http_max_connections,
                                  read_timeout=c.http_read_timeout, idle_timeout=c.http_idle_timeout,
                                  on_reject=self._rejected, ssl_context=tls if "http" in c.tls_inputs else None,
                                  serve_metrics=c.metrics is None)
            await self.http.start()
        if c.metrics is not None:
            # The operator's listener: plain HTTP, for Prometheus and the orchestrator's probes.
            self.ops = HttpInput(c.metrics, None, max_body=1024, token="", is_full=self.is_full,
                                 is_ready=self.is_ready, metrics=self.render_metrics, reuse_port=c.workers > 1,
                                 max_connections=256, idle_timeout=c.http_idle_timeout)
            await self.ops.start()
        logger.info("%s", self.describe())

    def _tls_context(self) -> ssl.SSLContext | None:
        c = self.config
        if not c.tls_cert:
            return None
        try:
            return server_context(c.tls_cert, c.tls_key, password=c.tls_key_password, client_ca=c.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            # cli.py reports an OSError as "cannot start: ..." and exits 1.
            raise OSError(f"--tls-cert {c.tls_cert} / --tls-key {c.tls_key or '(in the certificate)'}"
                          f"{' / --tls-client-ca ' + c.tls_client_ca if c.tls_client_ca else ''}: {exc}") from None

    def tick(self, now: float) -> None:
        if isinstance(self.output, ElasticsearchOutput):
            self.output.check_recovered()
        self._check_spooling(time.monotonic())
        if now - self._last_snapshot >= SNAPSHOT_INTERVAL:
            self._last_snapshot = now
            write_snapshot(self.config.data_dir, self.config.worker_index, self.snapshot())
        if self.forwarder is not None:
            self.forwarder.tick(now)
        for tcp in (self.tcp, self.json_tcp):
            if tcp is not None:
                tcp.sweep()
        batch = self.ingest.tick(now)
        if batch is not None:
            self._hand_over(batch)
        line = self.rejects.maybe_summary(now)
        if line:
            logger.warning("%s", line)

    async def shutdown(self) -> None:
        """Stop reading, flush to the output within the deadline, spool what is left in memory.

        A second signal cuts the wait short: what is in memory is spooled at once. Batches read from the
        spool are not waited for: they stay on disk until the output is done with them.
        """
        self._paused = True  # never read again
        if self.udp is not None:
            if not self.force_exit:
                self.udp.drain()
            self.udp.close()
        grace = 0.0 if self.force_exit else TCP_SHUTDOWN_GRACE
        if self.tcp is not None:
            await self.tcp.close(grace)
        if self.http is not None:
            await self.http.close()
        if self.ops is not None:
            await self.ops.close()
        if self.json_tcp is not None:
            await self.json_tcp.close(grace)
        if self.json_udp is not None:
            if not self.force_exit:
                self.json_udp.drain()
            self.json_udp.close()
        if self.forwarder is not None:
            self.forwarder.close()
        if self._replay_task is not None:
            self._replay_task.cancel()
            await asyncio.gather(self._replay_task, return_exceptions=True)
        last = self.ingest.flush()
        if last is not None:
            self._hand_over(last)
        start = time.monotonic()
        self._cut_short = f"within the {self.config.shutdown_timeout:g} s shutdown deadline"
        while time.monotonic() - start < self.config.shutdown_timeout:
            if self.force_exit:
                self._cut_short = "before a second signal"
                break
            self._unblock()
            if not self._volatile():
                break
            output = self.output
            if (isinstance(output, ElasticsearchOutput) and output.outage_since is not None
                    and time.monotonic() - output.outage_since >= self.config.spool_after):
                self._cut_short = "at shutdown: Elasticsearch is unavailable"
                break  # no use waiting, the spool keeps it
            await asyncio.sleep(0.05)
        left = await self.shipper.stop() + self._blocked
        self._blocked = []
        for batch in left:
            if batch.segment >= 0:
                continue  # on disk already, sent at the next start
            if self.spool.append(batch):
                self.spooled_at_shutdown += len(batch)
            else:
                self.lost_at_shutdown += len(batch)
        self.spool.close()
        if isinstance(self.output, ElasticsearchOutput):
            self.output.check_recovered(final=True)
        await self.output.close()
        write_snapshot(self.config.data_dir, self.config.worker_index, self.snapshot())
        self.log_totals()

    def _volatile(self) -> int:
        """Events in memory only (not on disk) that the output has not finished with."""
        return sum(len(b) for b in self.shipper.in_flight() + self.shipper.queued() + self._blocked
                   if b.segment < 0)

    def _tcp_totals(self) -> str:
        if self.tcp is None:
            return ""
        t = self.tcp.stats
        return (f"; tcp: {t.connections} connections ({t.refused_connections} refused, {t.idle_closed} closed idle, "
                f"{t.frame_timeouts} closed mid-frame), "
                f"{t.frames} frames, {t.bytes} bytes, {t.oversize_frames} oversize frames skipped, "
                f"{t.cut_at_shutdown} partial frames cut at shutdown")

    def snapshot(self) -> Snapshot:
        """This worker's counters, for /metrics (summed over the workers there)."""
        b = SnapshotBuilder()
        received, received_bytes = "gelfingest_received", "gelfingest_received_bytes"
        for name, udp in (("udp", self.udp), ("json_udp", self.json_udp)):
            if udp is not None:
                b.counter(received, "Datagrams, frames or HTTP messages received, by input", udp.datagrams,
                          input=name)
                b.counter(received_bytes, "Bytes received, by input", udp.bytes, input=name)
        for name, tcp in (("tcp", self.tcp), ("json_tcp", self.json_tcp)):
            if tcp is not None:
                t = tcp.stats
                b.counter(received, "Datagrams, frames or HTTP messages received, by input", t.frames, input=name)
                b.counter(received_bytes, "Bytes received, by input", t.bytes, input=name)
                b.counter("gelfingest_tcp_connections", "TCP connections accepted", t.connections, input=name)
                b.counter("gelfingest_tcp_connections_refused", "TCP connections over the limit",
                          t.refused_connections, input=name)
                b.counter("gelfingest_tcp_oversize_frames", "TCP frames over the cap, skipped", t.oversize_frames,
                          input=name)
        if self.http is not None:
            h = self.http
            b.counter(received, "Datagrams, frames or HTTP messages received, by input", h.messages, input="http")
            b.counter(received_bytes, "Bytes received, by input", h.bytes, input="http")
            for code, n in h.statuses.items():
                b.counter("gelfingest_http_responses", "HTTP answers to POST /gelf, by status", n, code=str(code))
        i = self.ingest
        b.counter("gelfingest_messages_decoded", "Messages decoded into documents", i.decoded)
        b.counter("gelfingest_index_time_replaced", "Events indexed by their receive time: their own was outside "
                  "--index-max-age / --index-max-ahead", i.index_time_replaced)
        for reason, n in self.rejects.total.items():
            b.counter("gelfingest_rejected", "Messages or datagrams rejected, by reason", n, reason=reason)
        for reason, n in list(i.decoder.dropped_fields.items()) + list(i.logspout.dropped_fields.items()):
            b.counter("gelfingest_dropped_fields", "Fields dropped from messages that were kept, by reason", n,
                      reason=reason)
        r, cs = i.reassembler, i.reassembler.stats
        b.gauge("gelfingest_chunks_pending_messages", "Chunked messages waiting for chunks", r.pending_messages)
        b.gauge("gelfingest_chunks_pending_bytes", "Bytes held for incomplete chunked messages", r.pending_bytes)
        for what, n in (("completed", cs.completed), ("completed_after_forwarding", cs.completed_forwarded),
                        ("expired", cs.expired), ("evicted", cs.evicted)):
            b.counter("gelfingest_chunked_messages", "Chunked messages, by outcome", n, outcome=what)
        b.counter("gelfingest_duplicate_chunks", "Duplicate chunks ignored", cs.duplicates)
        if self.forwarder is not None:
            f = self.forwarder.stats
            b.counter("gelfingest_chunks_forwarded", "Chunks sent on to their owner", f.to_peers, to="peer")
            b.counter("gelfingest_chunks_forwarded", "Chunks sent on to their owner", f.to_workers, to="worker")
            b.counter("gelfingest_chunks_forward_failed", "Chunks kept here because forwarding failed", f.failed)
            b.counter("gelfingest_chunks_kept_for_down_peers", "Chunks kept here: their owner peer is down",
                      f.kept_for_down_peers)
            b.counter("gelfingest_chunks_received_forwarded", "Chunks received from other workers or peers",
                      f.received)
            b.counter("gelfingest_chunk_forward_invalid", "Datagrams on the chunk-forwarding ports that are not "
                      "forwarded chunks (dropped)", f.invalid)
        b.gauge("gelfingest_queue_batches", "Batches waiting for the output", self.shipper.queue.qsize()
                + len(self._blocked))
        b.gauge("gelfingest_queue_events", "Events waiting for the output (queued and in flight)",
                self.shipper.waiting_events + sum(len(x) for x in self._blocked))
        o = self.output
        b.counter("gelfingest_documents_indexed", "Documents the output acknowledged", o.indexed)
        sp = self.spool
        b.gauge("gelfingest_spooling", "1 while new batches go to the spool", int(self.spooling))
        b.gauge("gelfingest_spool_bytes", "Bytes in the spool's segment files", sp.bytes)
        b.gauge("gelfingest_spool_events", "Events in the spool not yet acknowledged by the output", sp.held_events)
        b.counter("gelfingest_spool_written_events", "Events written to the spool", sp.written_events)
        b.counter("gelfingest_spool_read_events", "Events read back from the spool and sent on", sp.read_events)
        b.counter("gelfingest_spool_refused_events", "Events the spool could not take (full or failing disk)",
                  sp.refused_events)
        b.counter("gelfingest_spool_torn_records", "Spool records found torn (cut short or corrupt) and skipped",
                  sp.torn_records)
        b.counter("gelfingest_spool_torn_bytes", "Spool bytes skipped after a torn record", sp.torn_bytes)
        b.counter("gelfingest_shutdown_spooled_events", "Events spooled at shutdown", self.spooled_at_shutdown)
        b.counter("gelfingest_items_failed", "Documents lost: refused for good and not written to the "
                  "dead-letter queue, or dropped by an output error", o.failed)
        if isinstance(o, ElasticsearchOutput):
            b.counter("gelfingest_bulk_requests", "Bulk requests sent", o.requests)
            b.counter("gelfingest_items_retried", "Bulk items sent again after 429/5xx", o.retried)
            b.counter("gelfingest_documents_already_there", "Items answered 409 on create", o.duplicates)
            b.counter("gelfingest_dead_lettered", "Documents Elasticsearch refused for good, in the dead-letter queue",
                      o.dead_lettered)
            b.counter("gelfingest_elasticsearch_incidents", "Times Elasticsearch became unavailable or answered "
                      "429/5xx", o.incidents)
            b.gauge("gelfingest_elasticsearch_available", "0 while Elasticsearch is unavailable",
                    int(o.outage_since is None))
            b.histogram("gelfingest_bulk_request_duration_seconds", "Bulk request latency", o.latency)
        inodes = {u.inode for u in (self.udp, self.json_udp) if u is not None and u.inode}
        if inodes:
            b.counter("gelfingest_udp_kernel_drops", "Datagrams the kernel dropped before our UDP sockets "
                      "(/proc/net/udp drops)", udp_kernel_drops(inodes))
        return b.data

    def render_metrics(self) -> bytes:
        others = read_snapshots(self.config.data_dir, skip_worker=self.config.worker_index)
        return render(merge([self.snapshot(), *others]))

    def _http_totals(self) -> str:
        if self.http is None:
            return ""
        h = self.http
        statuses = ", ".join(f"{code}={n}" for code, n in sorted(h.statuses.items())) or "none"
        return f"; http: {h.requests} requests ({statuses}), {h.messages} messages"

    def _forward_totals(self) -> str:
        if self.forwarder is None:
            return ""
        f = self.forwarder.stats
        return (f"; chunks forwarded: {f.to_peers} to peers, {f.to_workers} to workers, {f.failed} kept here "
                f"because forwarding failed, {f.kept_for_down_peers} kept here for peers that did not answer, "
                f"{f.received} received, {f.invalid} invalid datagrams dropped")

    def log_totals(self) -> None:
        i, chunks = self.ingest, self.ingest.reassembler.stats
        rejected = ", ".join(f"{r}={n}" for r, n in self.rejects.total.most_common()) or "none"
        dropped_fields = i.decoder.dropped_fields + i.logspout.dropped_fields
        dropped = ", ".join(f"{r}={n}" for r, n in dropped_fields.most_common()) or "none"
        received = ", ".join(f"{name}: {u.datagrams} datagrams ({u.bytes} bytes)"
                             for name, u in (("udp", self.udp), ("json-udp", self.json_udp)) if u is not None)
        received = received or "udp off"
        extra = ""
        if isinstance(self.output, ElasticsearchOutput):
            o = self.output
            extra = (f", {o.dead_lettered} to the dead-letter queue, {o.duplicates} already there, {o.retried} "
                     f"items retried, {o.requests} bulk requests, {o.incidents} incidents")
        logger.info(
            "stopped: %s, %d events decoded, %d delivered to %s, %d failed%s; "
            "rejected: %s; dropped fields: %s; chunked messages: %d completed (%d after forwarding), %d expired, "
            "%d evicted, %d duplicate chunks%s", received, i.decoded, self.output.indexed,
            self.output.name, self.output.failed, extra, rejected, dropped, chunks.completed,
            chunks.completed_forwarded, chunks.expired, chunks.evicted, chunks.duplicates,
            self._forward_totals() + self._tcp_totals() + self._http_totals())
        if i.reassembler.pending_messages:
            logger.warning("%d chunked messages were still incomplete at shutdown (%d bytes) and are dropped",
                           i.reassembler.pending_messages, i.reassembler.pending_bytes)
        sp = self.spool
        if sp.written_events or sp.read_events or sp.held_events:
            logger.info("spool: %d events written (%d bytes), %d read back and sent, %d left on disk for the next "
                        "start (%d bytes), %d refused because it was full", sp.written_events, sp.written_bytes,
                        sp.read_events, sp.held_events, sp.bytes, sp.refused_events)
        if self.spooled_at_shutdown:
            logger.warning("%d events not delivered %s are in the spool; they are sent at the next start",
                           self.spooled_at_shutdown, self._cut_short)
        if self.lost_at_shutdown:
            logger.error("%d events were LOST: not delivered %s, and the spool could not take them (full or "
                         "failing disk)", self.lost_at_shutdown, self._cut_short)
