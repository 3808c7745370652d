"""The inputs: sockets that receive GELF (UDP, TCP, HTTP), logspout's JSON lines, and the operator's
listener. They only move bytes: what they receive goes to a ``Receiver`` (the server), at once.

``Inputs`` builds the ones the configuration asks for, starts them, pauses and resumes them together
while the hand-over towards the output is full, and closes them in order at shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, Literal, Protocol

from gelfingest.config import Config
from gelfingest.core.errors import GelfError
from gelfingest.inputs.http import HttpInput
from gelfingest.inputs.operator import OperatorListener
from gelfingest.inputs.tcp import TcpInput
from gelfingest.inputs.tls import input_context
from gelfingest.inputs.udp import UdpInput

# At shutdown, TCP connections are read on while they are busy, at most this long, so what senders have
# already written is taken rather than cut.
TCP_SHUTDOWN_GRACE = 1.0
# The operator's listener serves only probes and /metrics.
OPERATOR_MAX_CONNECTIONS = 256


# What an input receives: GELF, or logspout's JSON lines; and how it came (a datagram may be a chunk for
# another owner and is held to --max-datagram; a TCP frame may be a chunk too; an HTTP message is neither).
Format = Literal["gelf", "json"]
Transport = Literal["datagram", "frame", "message"]


class Receiver(Protocol):
    """Where the inputs hand what they receive (the server): one entry point, whatever the input."""

    def take(self, fmt: Format, transport: Transport, payloads: list[bytes], sources: list[str], now: float,
             stamps: list[float] | None = None) -> list[tuple[GelfError, str]]: ...

    def on_rejected(self, err: GelfError, source: str, now: float) -> None: ...

    def is_full(self) -> bool: ...

    def is_ready(self) -> bool: ...

    def readiness(self) -> str: ...

    def render_metrics(self) -> bytes: ...


def frames_to(receiver: Receiver, fmt: Format) -> Callable[[list[bytes], str, float], None]:
    """A TCP input's frames, all from one peer, handed to the receiver."""
    def take(frames: list[bytes], peer: str, now: float) -> None:
        receiver.take(fmt, "frame", frames, [peer] * len(frames), now)
    return take


def message_to(receiver: Receiver, fmt: Format) -> Callable[[bytes, str, float], GelfError | None]:
    """One message of an HTTP request handed to the receiver; its rejection, if any, for the answer."""
    def take(data: bytes, source: str, now: float) -> GelfError | None:
        rejected = receiver.take(fmt, "message", [data], [source], now)
        return rejected[0][0] if rejected else None
    return take


class Inputs:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.udp: UdpInput | None = None
        self.tcp: TcpInput | None = None
        self.http: HttpInput | None = None
        self.operator: OperatorListener | None = None
        self.json_tcp: TcpInput | None = None
        self.json_udp: UdpInput | None = None

    def readers(self) -> list[UdpInput | TcpInput]:
        """The inputs that read as fast as they are given data: paused while the hand-over is full."""
        return [i for i in (self.udp, self.tcp, self.json_tcp, self.json_udp) if i is not None]

    async def start(self, receiver: Receiver) -> None:
        """Bind and start every input the configuration names. On failure (a port taken, a certificate that
        cannot be read) what was opened is closed again and the error raised."""
        try:
            await self._start(receiver)
        except BaseException:
            await self.close(force=True)
            raise

    async def _start(self, receiver: Receiver) -> None:
        c = self.config
        loop = asyncio.get_running_loop()
        reuse_port = c.workers > 1
        if c.udp is not None:
            self.udp = UdpInput(c.udp, c.udp_receive_buffer, partial(receiver.take, "gelf", "datagram"),
                                reuse_port=reuse_port,
                                kernel_timestamps=c.sequence_mode == "clock", reader=c.udp_reader)
            self.udp.start(loop)
        tls = input_context(c)
        tcp_bounds: dict[str, Any] = dict(max_frame=c.tcp_max_frame, idle_timeout=c.tcp_idle_timeout,
                                          max_connections=c.tcp_max_connections, reuse_port=reuse_port,
                                          frame_timeout=c.tcp_frame_timeout, on_reject=receiver.on_rejected)
        if c.tcp is not None:
            self.tcp = TcpInput(c.tcp, frames_to(receiver, "gelf"), framing=c.tcp_framing, name="tcp",
                                ssl_context=tls if "tcp" in c.tls_inputs else None, **tcp_bounds)
            await self.tcp.start(loop)
        if c.json_tcp is not None:
            self.json_tcp = TcpInput(c.json_tcp, frames_to(receiver, "json"), framing="newline", name="json-tcp",
                                     ssl_context=tls if "json-tcp" in c.tls_inputs else None, **tcp_bounds)
            await self.json_tcp.start(loop)
        if c.json_udp is not None:
            self.json_udp = UdpInput(c.json_udp, c.udp_receive_buffer, partial(receiver.take, "json", "datagram"),
                                     reuse_port=reuse_port, reader=c.udp_reader)
            self.json_udp.start(loop)
        if c.http is not None:
            self.http = HttpInput(c.http, message_to(receiver, "gelf"), max_body=c.http_max_body, token=c.http_token,
                                  is_full=receiver.is_full, is_ready=receiver.is_ready,
                                  readiness=receiver.readiness,
                                  metrics=receiver.render_metrics, reuse_port=reuse_port,
                                  max_connections=c.http_max_connections, read_timeout=c.http_read_timeout,
                                  idle_timeout=c.http_idle_timeout, on_reject=receiver.on_rejected,
                                  ssl_context=tls if "http" in c.tls_inputs else None,
                                  serve_metrics=c.metrics is None)
            await self.http.start()
        if c.metrics is not None:
            # The operator's listener: plain HTTP, for Prometheus and the orchestrator's probes.
            self.operator = OperatorListener(c.metrics, is_ready=receiver.is_ready, readiness=receiver.readiness,
                                             metrics=receiver.render_metrics,
                                             reuse_port=reuse_port, max_connections=OPERATOR_MAX_CONNECTIONS,
                                             idle_timeout=c.http_idle_timeout)
            await self.operator.start()

    def pause(self) -> None:
        for reader in self.readers():
            reader.pause()

    def resume(self) -> None:
        for reader in self.readers():
            reader.resume()

    @property
    def behind(self) -> bool:
        """Whether a UDP input stopped its last read with datagrams still waiting."""
        return any(u is not None and u.behind for u in (self.udp, self.json_udp))

    def sweep(self) -> None:
        """Periodic work: close TCP connections that have been silent, or mid-frame, for too long."""
        for tcp in (self.tcp, self.json_tcp):
            if tcp is not None:
                tcp.sweep()

    async def close(self, force: bool = False) -> None:
        """Stop listening. Without ``force``, UDP datagrams already in the kernel's buffer are read first
        (they reached us, so they are ours) and busy TCP connections are read on for a moment."""
        grace = 0.0 if force else TCP_SHUTDOWN_GRACE
        for udp in (self.udp, self.json_udp):
            if udp is not None:
                if not force:
                    udp.drain()
                udp.close()
        for tcp in (self.tcp, self.json_tcp):
            if tcp is not None:
                await tcp.close(grace)
        for listener in (self.http, self.operator):
            if listener is not None:
                await listener.close()

    def describe(self) -> str:
        """What listens where, as the start line says it (tests and tools read the ports from it)."""
        c = self.config
        text = f"udp={self.udp.bound}" if self.udp else "udp=off"
        if self.udp:
            text += f" (receive buffer {self.udp.effective_buffer} bytes, {self.udp.reads_with})"
        if self.tcp:
            text += f", tcp={self.tcp.bound} ({c.tcp_framing} framing{' TLS' if self.tcp.ssl_context else ''})"
        else:
            text += ", tcp=off"
        text += f", http={self.http.bound}{' (TLS)' if self.http.ssl_context else ''}" if self.http else ", http=off"
        if self.operator:
            text += f", metrics={self.operator.bound}"
        if self.json_tcp:
            text += f", json-tcp={self.json_tcp.bound}"
        if self.json_udp:
            text += f", json-udp={self.json_udp.bound}"
        return text
