"""GELF over HTTP (aiohttp): ``POST /gelf`` with one message, or several separated by newlines.

The body's compression is told by its magic bytes, not by ``Content-Encoding``: graypy sends zlib while
announcing ``gzip,deflate``. A ``deflate`` body without a zlib header is taken as raw deflate.
Answers (unlike Graylog, which says 202 before it decodes anything):
- 202 when every message was taken;
- 400 with the reasons, by line, when some were not (the others were taken: resend only those);
- 413 over the body cap (compressed or not); 401 with a wrong bearer token (``--http-token``);
- 408 when the body takes longer than ``read_timeout`` to arrive (a client trickling bytes);
- 503 with Retry-After while the queue towards Elasticsearch is full.
Also ``GET /healthz`` (the process answers) and ``GET /readyz`` (the output can take events).
At most ``max_connections`` connections at once: more are closed at once. A connection without a request
for ``idle_timeout`` is closed (aiohttp's keep-alive timer, which also runs from the connection's start, so
headers that never end are cut too). Refusals are handed to ``on_reject`` with their reason, counted and
logged like bad messages. With an SSL context the input speaks TLS (HTTPS).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import ssl
import time
import zlib
from collections.abc import Callable
from typing import Final

import orjson
from aiohttp import web

from gelfingest.core.decompress import PayloadKind, decompress, inflate, payload_kind
from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.rejects import RejectHandler, ignore_rejection
from gelfingest.inputs.tls import HANDSHAKE_TIMEOUT
from gelfingest.net import Address

logger = logging.getLogger(__name__)

# Called with one message, the client's address and the time; returns the GelfError that rejected it.
MessageHandler = Callable[[bytes, str, float], GelfError | None]
RETRY_AFTER_SECONDS: Final = "1"


def _body_messages(body: bytes, encoding: str, max_size: int) -> list[bytes]:
    """The messages in a request body: decompressed (by magic bytes), split on newlines."""
    kind = payload_kind(body)
    if kind in (PayloadKind.GZIP, PayloadKind.ZLIB):
        plain = decompress(body, max_size)
    elif "deflate" in encoding and kind is PayloadKind.PLAIN and body[:1] not in (b"{", b"[", b" ", b"\n"):
        plain = inflate(body, -zlib.MAX_WBITS, max_size, "deflate")
    else:
        plain = body
    return [line for line in plain.split(b"\n") if line.strip()]


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


class _Counted(asyncio.Protocol):
    """aiohttp's handler for one connection: pending from its accept (``born``) until made, then live until
    lost (asyncio calls connection_lost only for a connection it made)."""

    __slots__ = ("born", "inner", "made", "owner")

    def __init__(self, inner: asyncio.Protocol, owner: HttpInput, born: float) -> None:
        self.inner = inner
        self.owner = owner
        self.born = born
        self.made = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True
        self.owner._live += 1
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._live -= 1
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class HttpInput:
    name = "http"

    def __init__(self, address: Address, on_message: MessageHandler | None, *, max_body: int, token: str,
                 is_full: Callable[[], bool], is_ready: Callable[[], bool], metrics: Callable[[], bytes],
                 reuse_port: bool = False, max_connections: int = 10_000, read_timeout: float = 30.0,
                 idle_timeout: float = 75.0, on_reject: RejectHandler = ignore_rejection,
                 ssl_context: ssl.SSLContext | None = None, serve_metrics: bool = True) -> None:
        """``on_message`` None: only the operator's endpoints (``--metrics`` on an address of its own).
        ``serve_metrics`` False: no /metrics here (it is on the operator's address)."""
        self.serve_metrics = serve_metrics
        self.address = address
        self.on_message = on_message
        self.on_reject = on_reject
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.ssl_context = ssl_context
        self._live = 0
        self._pending: list[_Counted] = []
        self.max_body = max_body
        self.token = token
        self.is_full = is_full
        self.is_ready = is_ready
        self.metrics = metrics
        self.bytes = 0
        self.reuse_port = reuse_port
        self.requests = 0
        self.messages = 0
        self.statuses: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> Address:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return Address(host, port)

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body)
        if self.on_message is not None:
            app.router.add_post("/gelf", self._post)
        if self.serve_metrics:
            app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        # We read the body as sent and tell its compression ourselves (see the module's docstring).
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None,
                                     keepalive_timeout=self.idle_timeout)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None

        def connection() -> asyncio.BaseProtocol:
            # Our own listener rather than aiohttp's TCPSite, to bound the connections.
            now = time.monotonic()
            # Connections accepted but not made yet (a burst of accepts, a TLS handshake under way) count too,
            # for as long as a handshake may take.
            self._pending = [c for c in self._pending if not c.made and now - c.born < HANDSHAKE_TIMEOUT + 1]
            if self._live + len(self._pending) >= self.max_connections:
                full = GelfError(Reason.TOO_MANY_CONNECTIONS, f"{self.max_connections} connections open on http")
                self.on_reject(full, "a new connection", time.time())
                return _Refused()
            counted = _Counted(server(), self, now)
            self._pending.append(counted)
            return counted

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            connection, self.address.host, self.address.port, reuse_port=self.reuse_port or None, backlog=1024,
            ssl=self.ssl_context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self.ssl_context is not None else None,
            family=socket.AF_INET6 if ":" in self.address.host else socket.AF_UNSPEC)

    def _answer(self, status: int, body: dict[str, object] | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return web.Response(status=status, body=orjson.dumps(body) if body else None,
                            content_type="application/json" if body else None, headers=headers)

    def _refuse(self, status: int, error: GelfError, source: str, headers: dict[str, str] | None = None,
                close: bool = False) -> web.Response:
        self.on_reject(error, source, time.time())
        answer = self._answer(status, {"error": error.reason, "detail": error.detail}, headers)
        if close:
            answer.force_close()
        return answer

    async def _post(self, request: web.Request) -> web.Response:
        self.requests += 1
        source = request.remote or ""
        if self.token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return self._refuse(401, GelfError(Reason.UNAUTHORIZED, "no or wrong bearer token"), source,
                                    {"WWW-Authenticate": "Bearer"})
        if self.is_full():
            return self._answer(503, {"error": "queue full, retry later"}, {"Retry-After": RETRY_AFTER_SECONDS})
        try:
            async with asyncio.timeout(self.read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, GelfError(Reason.BODY_TOO_LARGE, f"body larger than {self.max_body} bytes"),
                                source, close=True)
        except TimeoutError:
            return self._refuse(408, GelfError(Reason.BODY_TIMEOUT, f"body not complete after "
                                               f"{self.read_timeout:g} s"), source, close=True)
        self.bytes += len(body)
        try:
            messages = _body_messages(body, request.headers.get("Content-Encoding", "").lower(), self.max_body)
        except GelfError as err:
            return self._refuse(413 if err.reason == Reason.DECOMPRESSED_TOO_LARGE else 400, err, source)
        if not messages:
            return self._refuse(400, GelfError(Reason.EMPTY, "no message in the body"), source)
        now = time.time()
        rejected: list[dict[str, object]] = []
        assert self.on_message is not None
        for line, message in enumerate(messages):
            failure = self.on_message(message, source, now)
            if failure is not None:
                rejected.append({"line": line, "error": failure.reason, "detail": failure.detail})
        self.messages += len(messages) - len(rejected)
        if rejected:
            return self._answer(400, {"accepted": len(messages) - len(rejected), "rejected": rejected})
        return self._answer(202)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics(), content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self.is_ready()
        return web.Response(status=200 if ready else 503, text="ready\n" if ready else "not ready\n")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
