"""One worker: wire the inputs, the pure core, the hand-over and the output together, and run them.

The data path: an input (inputs/) receives bytes and hands them to this server; a chunk another worker or
instance owns is forwarded to it (fleet/forwarding.py); the core (core/ingest.py) reassembles, decompresses,
decodes, sequences and encodes them into batches; the hand-over (handover.py) queues each batch for the
output (outputs/), spools it (storage/spool.py), or pauses the inputs.

The lifecycle (after uvicorn): ``startup`` opens the output, the spool and the inputs; the main loop runs
the timers every ``TICK_INTERVAL``; signal handlers only set flags: the first SIGINT/SIGTERM asks for a
clean stop (stop listening, flush what is in memory to the output within ``shutdown_timeout``, spool the
rest), a second one spools what is in memory at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time
from typing import Final

from gelfingest.acks import Acks
from gelfingest.config import Config
from gelfingest.core.batch import Batch, Mark
from gelfingest.core.bulk import ID_PREFIX_BYTES, id_prefix
from gelfingest.core.decompress import CHUNK_MAGIC
from gelfingest.core.errors import GelfError, Reason, RecordsRefused, RequestRefused
from gelfingest.core.event import Event
from gelfingest.core.ingest import Ingest
from gelfingest.core.rejects import RejectLog
from gelfingest.core.sequence import Sequencer
from gelfingest.fleet.forwarding import LEAVE_TIMEOUT, ChunkForwarder
from gelfingest.handover import Handover, record_bound
from gelfingest.inputs import Format, Inputs, Transport
from gelfingest.metrics import merge, render, worker_snapshot
from gelfingest.net import MAX_UDP_PAYLOAD
from gelfingest.outputs import Output, make_output
from gelfingest.processing import Processors
from gelfingest.storage.deadletters import DeadLetters
from gelfingest.storage.reservations import SequenceReservations, highest_reservation
from gelfingest.storage.snapshots import clear_snapshots, read_snapshots, write_snapshot
from gelfingest.storage.spool import Spool, orphan_spools
from gelfingest.summary import log_totals

logger = logging.getLogger(__name__)

# How often timers run: batch age, chunk expiry, the rejection summary.
TICK_INTERVAL: Final = 0.1
# How often a worker writes its metrics snapshot for the others' /metrics.
SNAPSHOT_INTERVAL: Final = 1.0


class Server:
    def __init__(self, config: Config, output: Output | None = None) -> None:
        """``output``: one of our own instead of the one ``--output`` names (tests)."""
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if config.workers == 1:
            clear_snapshots(config.data_dir)
        reservations = SequenceReservations(config.data_dir, config.worker_index)
        sequencer = Sequencer(config.sequence_seed, config.sequence_iterator, worker=config.worker_index,
                              workers=config.workers, mode=config.sequence_mode,
                              start_above=highest_reservation(config.data_dir), now=time.time(),
                              reserve=reservations)
        # Document ids are this prefix and the sequence; a new prefix at each start means that even a lost
        # data dir, or two instances sharing a progression, cannot give two events one id.
        prefix = id_prefix(secrets.token_bytes(ID_PREFIX_BYTES))
        self.processors = Processors.from_config(config)
        self.ingest = Ingest(config.ingest_settings(document_id_prefix=prefix), sequencer,
                             processors=self.processors.pipeline)
        self.rejects = RejectLog()
        dead_letters = DeadLetters(config.data_dir / "dlq", f"worker-{config.worker_index}")
        self.output = output or make_output(config, dead_letters)
        self.inputs = Inputs(config)
        spool = Spool(config.data_dir / "spool" / str(config.worker_index), config.spool_max_bytes)
        self.handover = Handover(self.output, spool, queue_batches=config.queue_batches,
                                 queue_max_bytes=config.queue_max_bytes,
                                 concurrency=config.elasticsearch_concurrency, spool_after=config.spool_after,
                                 pause=self.inputs.pause, resume=self.inputs.resume)
        # The HTTP inputs' durable answers (acks.py); None when they answer once decoded (--http-ack received).
        self.acks = Acks(self.handover, self.ingest, config.http_ack_timeout, self._release_held,
                         config.http_ack_delay) \
            if config.http_ack == "durable" and (config.http is not None or config.otlp is not None) else None
        # While an HTTP request is being taken (begin_request), where the batch being filled stood and the
        # batches filled since: handed over only once the request is admitted.
        self._request: tuple[Mark, list[Batch]] | None = None
        self.forwarder: ChunkForwarder | None = None
        if config.workers > 1 or config.peers or config.chunk_forward is not None:
            self.forwarder = ChunkForwarder(config, self.on_forwarded, self.on_forwarded_events)
            if self.ingest.streams is not None and self.forwarder.routes_streams:
                self.ingest.owns = self.forwarder.owns_stream
        self._last_snapshot = 0.0
        self._outbox_due = False
        self.should_exit = False
        self.force_exit = False
        self.should_reload = False

    # -- the data path: what the inputs receive ---------------------------------------------------

    def take(self, fmt: Format, transport: Transport, payloads: list[bytes], sources: list[str], now: float,
             stamps: list[float] | None = None) -> list[tuple[GelfError, str]]:
        """What an input received, in its format, from these senders; the one entry point of every input.
        GELF datagrams over --max-datagram are refused, and a chunk another worker or instance owns goes to
        it (a datagram's, or a TCP frame's); the rest is decoded here. ``stamps``: each datagram's kernel
        receive time (clock mode). Rejections are counted, logged (rate-limited) and returned."""
        if fmt == "json":
            ready, rejected = self.ingest.json_lines(payloads, sources, now)
        elif fmt == "otlp-protobuf" or fmt == "otlp-json":
            ready, rejected = self._otlp(fmt, payloads[0], sources[0], now)
        else:
            if transport == "datagram":
                limit = self.config.max_datagram
                if self.forwarder is not None or limit < MAX_UDP_PAYLOAD:
                    payloads, sources, stamps = self._ours(payloads, sources, now, limit, stamps=stamps)
            elif transport == "frame" and self.forwarder is not None:
                payloads, sources, _ = self._ours(payloads, sources, now, None)
            elif transport == "message" and payloads[0][:2] == CHUNK_MAGIC:
                # Chunking is for datagrams: a chunk in an HTTP body would wait in the reassembler, taken by no
                # answer.
                return self._taken([], [(GelfError(Reason.CHUNK_OVER_HTTP, "a GELF chunk in an HTTP body (chunks "
                                                   "are for UDP)"), sources[0])], now)
            ready, rejected = self.ingest.take_many(payloads, sources, now, False, stamps)
        return self._taken(ready, rejected, now)

    def _taken(self, ready: list[Batch], rejected: list[tuple[GelfError, str]],
               now: float) -> list[tuple[GelfError, str]]:
        """What the core made of a read: rejections counted and logged (rate-limited), batches handed over,
        other owners' stream events sent on; the rejections."""
        for err, source in rejected:
            self.on_rejected(err, source, now)
        self._hand_over(ready)
        self._send_streams(now)
        return rejected

    def _otlp(self, fmt: Format, body: bytes, source: str,
              now: float) -> tuple[list[Batch], list[tuple[GelfError, str]]]:
        """One OTLP logs request: the whole refused (RequestRefused), or its records taken, those refused one
        by one said by reason (RecordsRefused, with their count)."""
        try:
            ready, result = self.ingest.otlp(body, "protobuf" if fmt == "otlp-protobuf" else "json", source, now)
        except GelfError as err:
            return [], [(RequestRefused(err.reason, err.detail), source)]
        return ready, [(RecordsRefused(reason, result.details.get(reason, ""), n), source)
                       for reason, n in result.rejected.items()]

    def on_forwarded(self, data: bytes, source: str, now: float) -> None:
        """A chunk another worker or peer passed on to us, its owner (within --max-datagram too)."""
        datagrams, sources, _ = self._ours([data], [source], now, self.config.max_datagram, route=False)
        self._taken(*self.ingest.take_many(datagrams, sources, now, forwarded=True), now)

    def on_forwarded_events(self, events: list[tuple[str, Event]], now: float) -> None:
        """Events of streams this worker owns, decoded and sequenced where they were received."""
        self._hand_over(self.ingest.take_events(events, now, received_here=False))

    def _send_streams(self, now: float) -> None:
        """The events of streams other workers or instances own go to them once the input's read is done
        (many to a frame: a TCP connection or a forwarded chunk hands over one message at a time)."""
        if not self.ingest.outbox or self._outbox_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the daemon's loop (a test): at once
            self._flush_outbox(now)
            return
        self._outbox_due = True
        loop.call_soon(self._flush_outbox, now)

    def _flush_outbox(self, now: float) -> None:
        """Send the outbox to the streams' owners; what cannot go is processed here."""
        self._outbox_due = False
        outbox = self.ingest.outbox
        if outbox and self.forwarder is not None:
            self.ingest.outbox = []
            kept = self.forwarder.forward_events(outbox)
            if kept:
                self._hand_over(self.ingest.take_events(kept, now))

    def _hand_over(self, batches: list[Batch]) -> None:
        if self._request is not None:
            self._request[1].extend(batches)
            return
        for batch in batches:
            self.handover.hand_over(batch)

    def begin_request(self) -> None:
        """An HTTP request's messages are taken from now on, until ``end_request``, with nothing await-ed
        between: the batches they fill wait here."""
        self._request = (self.ingest.batcher.mark(), [])

    def end_request(self) -> bool:
        """Whether the request is admitted: with durable answers, when the spool could take everything in
        memory that is not durable yet, this request's events too; else every event it added is taken back
        (the answer is 503, and nothing of it is indexed later). The batches it filled are handed over."""
        assert self._request is not None
        mark, ready = self._request
        self._request = None
        if self.acks is not None:
            size = sum(record_bound(b.size) for b in ready) + record_bound(self.ingest.batcher.filling_bytes)
            if not self.handover.room_for(size):
                self.ingest.batcher.undo(mark)
                return False
        self._hand_over(ready)
        return True

    def _release_held(self) -> None:
        """At shutdown, for the answers still waiting on them: what the streams and the outbox hold goes on
        now, as it stands (as it would a moment later, at the stop)."""
        now = time.time()
        self._flush_outbox(now)
        last = self.ingest.flush()
        if last is not None:
            self.handover.hand_over(last)

    def on_rejected(self, err: GelfError, source: str, now: float) -> None:
        """Count and log (rate-limited) a message, datagram, frame or connection that was refused."""
        line = self.rejects.record(err, source, now)
        if line:
            logger.warning("%s", line)

    def _ours(self, datagrams: list[bytes], sources: list[str], now: float, limit: int | None,
              route: bool = True, stamps: list[float] | None = None,
              ) -> tuple[list[bytes], list[str], list[float] | None]:
        """The datagrams to take here (with their stamps): one over ``limit`` is rejected, a chunk another
        owns is forwarded (unless ``route`` is False: it was forwarded to us)."""
        forward = self.forwarder.route if self.forwarder is not None and route else None
        kept: list[bytes] = []
        kept_sources: list[str] = []
        kept_stamps: list[float] | None = [] if stamps is not None else None
        stamp = now
        for i, (data, source) in enumerate(zip(datagrams, sources, strict=True)):
            if stamps is not None:
                stamp = stamps[i]
            if limit is not None and len(data) > limit:
                self.on_rejected(GelfError(Reason.DATAGRAM_TOO_LARGE, f"{len(data)} bytes, more than {limit} "
                                           f"(--max-datagram)"), source, stamp)
            elif not (forward is not None and data[:2] == CHUNK_MAGIC and len(data) >= 12
                      and forward(data, source, stamp)):
                kept.append(data)
                kept_sources.append(source)
                if kept_stamps is not None:
                    kept_stamps.append(stamp)
        return kept, kept_sources, kept_stamps

    # -- what the HTTP listeners ask ----------------------------------------------------------------

    def is_full(self) -> bool:
        return self.handover.is_full()

    def admits(self, size: int) -> bool:
        """Whether an HTTP request of ``size`` bytes (decompressed) may be taken now: with durable answers,
        its events could be spooled; else whether the hand-over takes batches."""
        return self.acks.room_for(size) if self.acks is not None else not self.handover.is_full()

    def durable(self, taken: float, streams: bool) -> asyncio.Future[bool] | None:
        """With durable answers, a future that is True once everything taken up to ``taken`` is durable (False:
        it cannot be, answer 503); None when answers are given once decoded (--http-ack received).
        ``streams``: the request's events went through the streams (GELF), which may hold them a moment."""
        return self.acks.durable(taken, streams) if self.acks is not None else None

    def is_ready(self) -> bool:
        return self.output.ready()

    def readiness(self) -> str:
        return self.output.status()

    def render_metrics(self) -> bytes:
        others = read_snapshots(self.config.data_dir, skip_worker=self.config.worker_index)
        return render(merge([worker_snapshot(self), *others]))

    # -- lifecycle ---------------------------------------------------------------------------------

    def describe(self) -> str:
        c = self.config
        output = self.output.describe()
        worker = f"worker {c.worker_index}/{c.workers} " if c.workers > 1 else ""
        seq = self.ingest.sequencer
        routing = f"; {self.forwarder.describe()}" if self.forwarder is not None else ""
        processors = self.processors.pipeline
        steps = f"; {processors.count} processors from {c.processors}" if processors is not None else ""
        return (f"gelfingest {worker}listening on {self.inputs.describe()}; output {output}; index {c.index} "
                f"({c.schema} schema){steps}; sequence {seq.describe()} from {seq.next_value}{routing}")

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit)
        loop.add_signal_handler(signal.SIGHUP, self.handle_reload)
        try:
            await self.startup()
        except BaseException:
            # A port taken, an address we cannot bind: what is open is closed; cli.py says why.
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
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)

    def handle_reload(self) -> None:
        """SIGHUP: read the processors file again at the next tick, between two batches."""
        self.should_reload = True

    def reload(self) -> None:
        """A valid file replaces the running processors; an invalid one is logged and they stay."""
        self.should_reload = False
        pipeline, line = self.processors.reload(self.config)
        if pipeline is not None:
            self.ingest.processors = pipeline
            logger.info("%s", line)
        else:
            logger.error("%s", line)

    def handle_exit(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    async def startup(self) -> None:
        """Start the output, the spool and its replay, then (once the clock is past what this worker
        reserved before a restart) the forwarder and the inputs."""
        c = self.config
        await self.output.start()
        self.handover.start(orphan_spools(c.data_dir / "spool", c.workers) if c.worker_index == 0 else ())
        lead = self.ingest.sequencer.clock_lead(time.time())
        if lead > 0:
            # Restarted within its reservation: let the clock catch up before taking input, so this
            # worker's lines do not sort after those the rest of the fleet receives meanwhile.
            logger.info("waiting %.2f s for the clock to pass the sequences reserved before the restart", lead)
            await asyncio.sleep(lead)
        if self.forwarder is not None:
            self.forwarder.start(asyncio.get_running_loop())
        await self.inputs.start(self)
        logger.info("%s", self.describe())
        if c.otlp is not None:
            from gelfingest.core.otlp import protobuf_runtime

            if (runtime := protobuf_runtime()) == "python":
                logger.warning("OTLP: protobuf runs as pure Python here (%s), several times slower than upb: "
                               "install a protobuf wheel for this platform", runtime)

    def tick(self, now: float) -> None:
        if self.should_reload:
            self.reload()
        self.output.tick()
        mono = time.monotonic()
        self.handover.tick(mono)
        if now - self._last_snapshot >= SNAPSHOT_INTERVAL:
            self._last_snapshot = now
            write_snapshot(self.config.data_dir, self.config.worker_index, worker_snapshot(self))
        if self.forwarder is not None:
            self.forwarder.tick(now)
        self.inputs.sweep()
        self._hand_over(self.ingest.tick(now, self.inputs.behind))
        if self.acks is not None:
            self.acks.tick(mono)
        line = self.rejects.maybe_summary(now)
        if line:
            logger.warning("%s", line)
        for note in self.ingest.field_notes():
            logger.warning("%s", note)
        if self.ingest.processors is not None:
            for note in self.ingest.processors.notes():
                logger.warning("%s", note)
            if failed := self.processors.summary(now):
                logger.warning("%s", failed)
        if self.ingest.streams is not None and (limited := self.ingest.streams.rate_note(now)):
            logger.warning("%s", limited)

    async def shutdown(self) -> None:
        """Stop reading, flush to the output within the deadline, spool what is left in memory.

        A second signal cuts the wait short: what is in memory is spooled at once. Batches read from the
        spool are not waited for: they stay on disk until the output is done with them.
        """
        self.handover.hold_inputs()
        if self.acks is not None:
            self.acks.close()  # the answers go on coming as their events are indexed (or spooled)
        await self.inputs.close(force=self.force_exit)
        if self.acks is not None:
            await self.acks.stop()
        if self.forwarder is not None:
            self._flush_outbox(time.time())
            # Peers and the other workers stop sending us chunks and events, and say so; what they sent
            # before is read, then the sockets close. What comes out of it for other owners stays here.
            self.forwarder.leave()
            deadline = time.monotonic() + LEAVE_TIMEOUT
            while not self.forwarder.settled and not self.force_exit and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if not self.forwarder.settled and not self.force_exit:
                logger.warning("stopping: no answer to our goodbye within %.1f s from %s; what they still "
                               "send here is lost", LEAVE_TIMEOUT, self.forwarder.unsettled())
            self.forwarder.drain()
            self.forwarder.close()
            self._flush_outbox(time.time())
        last = self.ingest.flush()
        if last is not None:
            self.handover.hand_over(last)
        await self.handover.drain(self.config.shutdown_timeout, lambda: self.force_exit)
        await self.output.close()
        write_snapshot(self.config.data_dir, self.config.worker_index, worker_snapshot(self))
        log_totals(self)
