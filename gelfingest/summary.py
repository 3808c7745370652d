"""What a worker says when it stops: its totals in one line, then what is left (spooled, lost, incomplete)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gelfingest.server import Server

logger = logging.getLogger(__name__)


def _stream_totals(server: Server) -> str:
    streams = server.ingest.streams
    if streams is None:
        return ""
    cut = ", ".join(f"{r}={n}" for r, n in streams.cut.most_common()) or "none"
    line = (f"; streams: {streams.taken} events taken, {streams.released} let go, {streams.joined_pieces} "
            f"lines rejoined from pieces, {streams.joined_lines} traces joined, {streams.rate_limited} events "
            f"rate-limited, {streams.empty_lines} empty lines dropped, {streams.late} came later than the reorder "
            f"window (the last by {streams.latest_lateness * 1000:.0f} ms), cut: {cut}")
    if server.forwarder is not None and server.forwarder.routes_streams:
        f = server.forwarder.stats
        line += (f", events to their owner: {f.events_to_peers} to peers, {f.events_to_workers} to workers, "
                 f"{f.events_received} received, {f.events_kept} kept here")
    return line


def _forward_totals(server: Server) -> str:
    if server.forwarder is None:
        return ""
    f = server.forwarder.stats
    return (f"; chunks forwarded: {f.to_peers} to peers, {f.to_workers} to workers, {f.failed} kept here "
            f"because forwarding failed, {f.kept_for_down_peers} kept here for peers that did not answer, "
            f"{f.received} received, {f.invalid} invalid datagrams dropped")


def _ack_totals(server: Server) -> str:
    acks = server.acks
    if acks is None:
        return ""
    o = acks.outcomes
    return (f"; durable answers: {o['durable']} once indexed or spooled, {o['spooled']} spooled at "
            f"--http-ack-timeout, {o['refused']} refused (503) because the spool could not take them")


def log_totals(server: Server) -> None:
    i, chunks, output = server.ingest, server.ingest.reassembler.stats, server.output
    rejected = ", ".join(f"{r}={n}" for r, n in server.rejects.total.most_common()) or "none"
    dropped = ", ".join(f"{r}={n}" for r, n in i.dropped_fields.most_common()) or "none"
    changed = ", ".join(f"{r}={n}" for r, n in i.changed_fields.most_common()) or "none"
    received = ", ".join(part for item in server.inputs.items if (part := item.received())) or "udp off"
    logger.info(
        "stopped: %s, %d events decoded, %d delivered to %s, %d failed%s; "
        "rejected: %s; dropped fields: %s; changed fields: %s; chunked messages: %d completed (%d after "
        "forwarding), %d expired, %d evicted, %d duplicate chunks%s", received, i.decoded, output.indexed,
        output.name, output.failed, output.totals(), rejected, dropped, changed, chunks.completed,
        chunks.completed_forwarded, chunks.expired, chunks.evicted, chunks.duplicates,
        _forward_totals(server) + _stream_totals(server) + "".join(item.totals() for item in server.inputs.items)
        + _ack_totals(server))
    if i.reassembler.pending_messages:
        logger.warning("%d chunked messages were still incomplete at shutdown (%d bytes) and are dropped",
                       i.reassembler.pending_messages, i.reassembler.pending_bytes)
    handover = server.handover
    sp = handover.spool
    if sp.written_events or sp.read_events or sp.held_events:
        logger.info("spool: %d events written (%d bytes), %d read back and sent, %d left on disk for the next "
                    "start (%d bytes), %d refused because it was full", sp.written_events, sp.written_bytes,
                    sp.read_events, sp.held_events, sp.bytes, sp.refused_events)
    if handover.spooled_at_shutdown:
        logger.warning("%d events not delivered %s are in the spool; they are sent at the next start",
                       handover.spooled_at_shutdown, handover.cut_short)
    if handover.lost_at_shutdown:
        logger.error("%d events were LOST: not delivered %s, and the spool could not take them (full or "
                     "failing disk)", handover.lost_at_shutdown, handover.cut_short)
