"""What an operator needs to see, summed over all workers, in the Prometheus text format.

Each worker takes a snapshot of its counters (``worker_snapshot``) and writes it to the data dir every
second (storage/snapshots.py);
``/metrics`` on any worker adds up the snapshots of all workers (its own taken live) and renders them with
prometheus_client. A snapshot is ``{metric: [kind, help, {label-string: value}]}``: counters and gauges
add up across workers as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest

if TYPE_CHECKING:
    from gelfingest.server import Server

Snapshot = dict[str, list[Any]]
# Bulk request latency buckets (seconds).
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SnapshotBuilder:
    def __init__(self) -> None:
        self.data: Snapshot = {}

    def add(self, kind: str, name: str, help_text: str, value: float, **labels: str) -> None:
        entry = self.data.setdefault(name, [kind, help_text, {}])
        key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        entry[2][key] = entry[2].get(key, 0) + value

    def counter(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self.add("counter", name, help_text, value, **labels)

    def gauge(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self.add("gauge", name, help_text, value, **labels)

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        entry = self.data.setdefault(name, ["histogram", help_text, {}])
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), histogram.counts, strict=True):
            cumulative += count
            key = "le=+Inf" if bound == float("inf") else f"le={bound}"
            entry[2][key] = entry[2].get(key, 0) + cumulative
        entry[2]["sum"] = entry[2].get("sum", 0) + histogram.sum


class Histogram:
    """Bulk request latencies in LATENCY_BUCKETS (the last count is above every bucket)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1


def merge(snapshots: Iterable[Snapshot]) -> Snapshot:
    total: Snapshot = {}
    for snap in snapshots:
        for name, (kind, help_text, values) in snap.items():
            entry = total.setdefault(name, [kind, help_text, {}])
            for key, value in values.items():
                entry[2][key] = entry[2].get(key, 0) + value
    return total


class _Collector:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        for name, (kind, help_text, values) in sorted(self.snapshot.items()):
            if kind == "histogram":
                buckets = sorted(((k[3:], v) for k, v in values.items() if k.startswith("le=")),
                                 key=lambda b: float(b[0]))
                yield HistogramMetricFamily(name, help_text, buckets=buckets, sum_value=values.get("sum", 0))
                continue
            label_names = sorted({part.split("=", 1)[0] for key in values for part in key.split(",") if part})
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_type(name, help_text, labels=label_names)
            for key, value in sorted(values.items()):
                labels = dict(part.split("=", 1) for part in key.split(",") if part)
                family.add_metric([labels.get(n, "") for n in label_names], value)
            yield family


def render(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snapshot))
    return generate_latest(registry)


def udp_kernel_drops(inodes: set[int] | None) -> int:
    """The ``drops`` column of /proc/net/udp and /proc/net/udp6 for the sockets with these inodes (None: all)."""
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9].isdigit() and (inodes is None or int(fields[9]) in inodes):
                total += int(fields[-1])
    return total


def worker_snapshot(server: Server) -> Snapshot:
    """This worker's counters, for /metrics (summed over the workers there)."""
    b = SnapshotBuilder()
    for item in server.inputs.items:
        item.report(b)
    if server.acks is not None:
        server.acks.report(b)
    i = server.ingest
    b.counter("gelfingest_messages_decoded", "Messages decoded into documents", i.decoded)
    for reason, n in i.index_fallbacks.items():
        b.counter("gelfingest_index_fallback", "Events sent to the fallback index, by reason (field references in "
                  "--index)", n, reason=reason)
    b.counter("gelfingest_index_target_overflow", "Events sent to the fallback index because the worker already "
              "wrote to --max-index-targets indices that day", i.index_fallbacks["too_many_targets"])
    b.counter("gelfingest_index_time_replaced", "Events indexed by their receive time: their own was outside "
              "--index-max-age / --index-max-ahead", i.index_time_replaced)
    for reason, n in server.rejects.total.items():
        b.counter("gelfingest_rejected", "Messages or datagrams rejected, by reason", n, reason=reason)
    for reason, n in i.dropped_fields.items():
        b.counter("gelfingest_dropped_fields", "Fields dropped from messages that were kept, by reason", n,
                  reason=reason)
    for reason, n in i.changed_fields.items():
        b.counter("gelfingest_changed_fields", "Fields kept under another name or as another type, by reason",
                  n, reason=reason)
    p = server.processors
    for (name, reason), n in p.total_failures().items():
        b.counter("gelfingest_processor_failures", "Events a processor failed on (kept as they were before it, "
                  "tagged), by processor and reason", n, processor=name, reason=reason)
    for name, n in p.total_dropped().items():
        b.counter("gelfingest_processor_dropped", "Events dropped by a processor, by processor", n, processor=name)
    for what, n in p.total_redacted().items():
        b.counter("gelfingest_processor_redacted", "Values redact replaced (replaced), and of those the ones "
                  "replaced whole because they could not be scanned (unscanned)", n, outcome=what)
    for outcome, n in p.reloads.items():
        b.counter("gelfingest_processor_reloads", "Reloads of the processors file on SIGHUP, by outcome", n,
                  outcome=outcome)
    r, cs = i.reassembler, i.reassembler.stats
    b.gauge("gelfingest_chunks_pending_messages", "Chunked messages waiting for chunks", r.pending_messages)
    b.gauge("gelfingest_chunks_pending_bytes", "Bytes held for incomplete chunked messages", r.pending_bytes)
    for what, n in (("completed", cs.completed), ("completed_after_forwarding", cs.completed_forwarded),
                    ("expired", cs.expired), ("evicted", cs.evicted)):
        b.counter("gelfingest_chunked_messages", "Chunked messages, by outcome", n, outcome=what)
    b.counter("gelfingest_duplicate_chunks", "Duplicate chunks ignored", cs.duplicates)
    if server.forwarder is not None:
        f = server.forwarder.stats
        b.counter("gelfingest_chunks_forwarded", "Chunks sent on to their owner", f.to_peers, to="peer")
        b.counter("gelfingest_chunks_forwarded", "Chunks sent on to their owner", f.to_workers, to="worker")
        b.counter("gelfingest_chunks_forward_failed", "Chunks kept here because forwarding failed", f.failed)
        b.counter("gelfingest_chunks_kept_for_down_peers", "Chunks kept here: their owner peer is down",
                  f.kept_for_down_peers)
        b.counter("gelfingest_chunks_received_forwarded", "Chunks received from other workers or peers",
                  f.received)
        b.counter("gelfingest_chunk_forward_invalid", "Datagrams on the chunk-forwarding ports that are not "
                  "forwarded chunks (dropped)", f.invalid)
        b.counter("gelfingest_stream_events_forwarded", "Decoded events sent on to their stream's owner",
                  f.events_to_peers, to="peer")
        b.counter("gelfingest_stream_events_forwarded", "Decoded events sent on to their stream's owner",
                  f.events_to_workers, to="worker")
        b.counter("gelfingest_stream_events_received_forwarded", "Events of streams this worker owns, received "
                  "from other workers or peers", f.events_received)
        b.counter("gelfingest_stream_events_kept", "Events of streams owned elsewhere processed here (too large "
                  "for a frame, or the owner could not be reached)", f.events_kept)
    streams = server.ingest.streams
    if streams is not None:
        b.counter("gelfingest_stream_partials_joined", "Lines put back together from Docker's 16 KiB pieces",
                  streams.joined_pieces)
        b.counter("gelfingest_stream_multiline_joined", "Events joined from the lines of a stack trace",
                  streams.joined_lines)
        for why in sorted(streams.cut):
            b.counter("gelfingest_stream_cut", "Held lines let go before they were whole, by the bound that cut "
                      "them", streams.cut[why], reason=why)
        b.counter("gelfingest_stream_rate_limited", "Events dropped by --stream-rate-limit", streams.rate_limited)
        b.counter("gelfingest_stream_empty_lines_dropped", "Empty lines that ended no line cut into pieces "
                  "(decoded only with --join-partial)", streams.empty_lines)
        b.counter("gelfingest_stream_late_events", "Events that reached their stream's owner after a later one "
                  "had gone on: the reorder window was shorter than their delay", streams.late)
        b.counter("gelfingest_stream_events_taken", "Events taken by their stream's owner", streams.taken)
        b.counter("gelfingest_stream_events_released", "Events let go by their stream's owner (a joined event "
                  "is one)", streams.released)
        b.gauge("gelfingest_stream_pending", "Streams holding events now (reorder window, pieces, traces)",
                streams.pending_streams)
        b.gauge("gelfingest_streams", "Streams this worker keeps state for", streams.streams)
        b.gauge("gelfingest_stream_reorder_window_seconds", "The reorder window now, widened to the delays of "
                "forwarded events (summed over workers: divide by the workers)", streams.reorder_window)
    handover = server.handover
    b.gauge("gelfingest_queue_batches", "Batches waiting for the output", handover.waiting_batches)
    b.counter("gelfingest_input_pauses", "Times the inputs were paused: neither the output's queue nor the spool "
              "could take a batch", handover.pauses)
    b.counter("gelfingest_input_paused_seconds", "Seconds the inputs were paused, in all", handover.paused_seconds)
    b.gauge("gelfingest_input_longest_pause_seconds", "The longest pause of the inputs since the start",
            handover.longest_pause)
    b.gauge("gelfingest_queue_events", "Events waiting for the output (queued and in flight)",
            handover.waiting_events)
    o = server.output
    b.counter("gelfingest_documents_indexed", "Documents the output acknowledged", o.indexed)
    sp = handover.spool
    b.gauge("gelfingest_spooling", "1 while new batches go to the spool", int(handover.spooling))
    b.gauge("gelfingest_spool_bytes", "Bytes in the spool's segment files", sp.bytes)
    b.gauge("gelfingest_spool_events", "Events in the spool not yet acknowledged by the output", sp.held_events)
    b.counter("gelfingest_spool_written_events", "Events written to the spool", sp.written_events)
    b.counter("gelfingest_spool_read_events", "Events read back from the spool and sent on", sp.read_events)
    b.counter("gelfingest_spool_refused_events", "Events the spool could not take (full or failing disk)",
              sp.refused_events)
    b.counter("gelfingest_spool_torn_records", "Spool records found torn (cut short or corrupt) and skipped",
              sp.torn_records)
    b.counter("gelfingest_spool_torn_bytes", "Spool bytes skipped after a torn record", sp.torn_bytes)
    b.counter("gelfingest_shutdown_spooled_events", "Events spooled at shutdown", handover.spooled_at_shutdown)
    b.counter("gelfingest_items_failed", "Documents lost: refused for good and not written to the "
              "dead-letter queue, or dropped by an output error", o.failed)
    o.report(b)
    udp_inodes = {item.inode for item in server.inputs.items if item.inode}
    if udp_inodes:
        b.counter("gelfingest_udp_kernel_drops", "Datagrams the kernel dropped before our UDP sockets "
                  "(/proc/net/udp drops)", udp_kernel_drops(udp_inodes))
    return b.data
