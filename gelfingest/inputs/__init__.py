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
from gelfingest.inputs.base import Answers, Input
from gelfingest.inputs.http import HttpInput
from gelfingest.inputs.operator import OperatorListener
from gelfingest.inputs.otlp import OtlpInput
from gelfingest.inputs.tcp import TcpInput
from gelfingest.inputs.tls import input_context
from gelfingest.inputs.udp import UdpInput

# The operator's listener serves only probes and /metrics.
OPERATOR_MAX_CONNECTIONS = 256


# What an input receives: GELF, or logspout's JSON lines; and how it came (a datagram may be a chunk for
# another owner and is held to --max-datagram; a TCP frame may be a chunk too; an HTTP message is neither).
Format = Literal["gelf", "json", "otlp-protobuf", "otlp-json"]
Transport = Literal["datagram", "frame", "message"]


class Receiver(Protocol):
    """Where the inputs hand what they receive (the server): one entry point, whatever the input."""

    def take(self, fmt: Format, transport: Transport, payloads: list[bytes], sources: list[str], now: float,
             stamps: list[float] | None = None) -> list[tuple[GelfError, str]]: ...

    def on_rejected(self, err: GelfError, source: str, now: float) -> None: ...

    def is_full(self) -> bool: ...

    def admits(self, size: int) -> bool: ...

    def begin_request(self) -> None: ...

    def end_request(self) -> bool: ...

    def durable(self, taken: float, streams: bool) -> asyncio.Future[bool] | None: ...

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
    """The inputs the configuration asks for, as a list of components (inputs/base.py)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.items: list[Input] = []

    def named(self, name: str) -> Input | None:
        return next((item for item in self.items if item.name == name), None)

    async def start(self, receiver: Receiver) -> None:
        """Bind and start every input the configuration names. On failure (a port taken, a certificate that
        cannot be read) what was opened is closed again and the error raised."""
        loop = asyncio.get_running_loop()
        try:
            for item in self._build(receiver):
                self.items.append(item)
                await item.open(loop)
        except BaseException:
            await self.close(force=True)
            raise

    def _build(self, receiver: Receiver) -> list[Input]:
        c = self.config
        reuse_port = c.workers > 1
        tls = input_context(c)
        tcp_bounds: dict[str, Any] = dict(max_frame=c.tcp_max_frame, idle_timeout=c.tcp_idle_timeout,
                                          max_connections=c.tcp_max_connections, reuse_port=reuse_port,
                                          frame_timeout=c.tcp_frame_timeout, on_reject=receiver.on_rejected)
        answers = Answers(receiver.admits, receiver.begin_request, receiver.end_request, receiver.durable)
        items: list[Input] = []
        if c.udp is not None:
            items.append(UdpInput(c.udp, c.udp_receive_buffer, partial(receiver.take, "gelf", "datagram"),
                                  reuse_port=reuse_port, kernel_timestamps=c.sequence_mode == "clock",
                                  reader=c.udp_reader))
        if c.tcp is not None:
            items.append(TcpInput(c.tcp, frames_to(receiver, "gelf"), framing=c.tcp_framing, name="tcp",
                                  ssl_context=tls if "tcp" in c.tls_inputs else None, **tcp_bounds))
        if c.http is not None:
            items.append(HttpInput(c.http, message_to(receiver, "gelf"), max_body=c.http_max_body,
                                   token=c.http_token, is_full=receiver.is_full, answers=answers,
                                   is_ready=receiver.is_ready,
                                   readiness=receiver.readiness, metrics=receiver.render_metrics,
                                   reuse_port=reuse_port, max_connections=c.http_max_connections,
                                   read_timeout=c.http_read_timeout, idle_timeout=c.http_idle_timeout,
                                   on_reject=receiver.on_rejected,
                                   ssl_context=tls if "http" in c.tls_inputs else None,
                                   serve_metrics=c.metrics is None))
        if c.otlp is not None:
            items.append(OtlpInput(c.otlp, lambda fmt, body, source, now: receiver.take(
                                       fmt, "message", [body], [source], now),  # type: ignore[arg-type]
                                   max_body=c.otlp_max_body, token=c.http_token, is_full=receiver.is_full,
                                   answers=answers,
                                   is_ready=receiver.is_ready, readiness=receiver.readiness,
                                   metrics=receiver.render_metrics, reuse_port=reuse_port,
                                   max_connections=c.http_max_connections, read_timeout=c.http_read_timeout,
                                   idle_timeout=c.http_idle_timeout, on_reject=receiver.on_rejected,
                                   ssl_context=tls if "otlp" in c.tls_inputs else None))
        if c.metrics is not None:
            # The operator's listener: plain HTTP, for Prometheus and the orchestrator's probes.
            items.append(OperatorListener(c.metrics, is_ready=receiver.is_ready, readiness=receiver.readiness,
                                          metrics=receiver.render_metrics, reuse_port=reuse_port,
                                          max_connections=OPERATOR_MAX_CONNECTIONS,
                                          idle_timeout=c.http_idle_timeout))
        if c.json_tcp is not None:
            items.append(TcpInput(c.json_tcp, frames_to(receiver, "json"), framing="newline", name="json-tcp",
                                  ssl_context=tls if "json-tcp" in c.tls_inputs else None, **tcp_bounds))
        if c.json_udp is not None:
            items.append(UdpInput(c.json_udp, c.udp_receive_buffer, partial(receiver.take, "json", "datagram"),
                                  reuse_port=reuse_port, reader=c.udp_reader, name="json-udp"))
        return items

    def pause(self) -> None:
        for item in self.items:
            if item.reads:
                item.pause()

    def resume(self) -> None:
        for item in self.items:
            if item.reads:
                item.resume()

    @property
    def behind(self) -> bool:
        """Whether a UDP input stopped its last read with datagrams still waiting."""
        return any(item.behind for item in self.items)

    def sweep(self) -> None:
        """Periodic work: close TCP connections that have been silent, or mid-frame, for too long."""
        for item in self.items:
            item.sweep()

    async def close(self, force: bool = False) -> None:
        """Stop listening. Without ``force``, UDP datagrams already in the kernel's buffer are read first
        (they reached us, so they are ours) and busy TCP connections are read on for a moment."""
        for item in sorted(self.items, key=lambda i: i.shut_rank):
            await item.shut(force)

    def describe(self) -> str:
        """What listens where, as the start line says it (tests and tools read the ports from it); the three
        GELF inputs are named when they are off."""
        names = {item.name for item in self.items}
        off = [f"{name}=off" for name in ("udp", "tcp", "http") if name not in names]
        return ", ".join([item.describe() for item in self.items] + off)
