"""HTTP listeners with bounded connections and the operator's endpoints, on aiohttp.

``HttpListener`` is what the GELF HTTP input (http.py) and the operator's listener have in common:
``GET /healthz`` (the process answers), ``GET /readyz`` (the output can take events, 503 otherwise; the
body says the output's state: the cluster, its version and nodes, the template) and,
unless it is served elsewhere, ``GET /metrics`` (Prometheus). At most ``max_connections`` connections at
once: more are closed at once and handed to ``on_reject``. A connection without a request for
``idle_timeout`` is closed (aiohttp's keep-alive timer, which also runs from the connection's start, so
headers that never end are cut too). With an SSL context the listener speaks TLS (HTTPS).

``OperatorListener`` is the listener of ``--metrics``: plain HTTP on an address of its own, for Prometheus
and the orchestrator's probes, and nothing else.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable

from aiohttp import web

from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.rejects import RejectHandler, ignore_rejection
from gelfingest.inputs.base import Input
from gelfingest.inputs.tls import HANDSHAKE_TIMEOUT
from gelfingest.net import Address, bound_address


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


class _Counted(asyncio.Protocol):
    """aiohttp's handler for one connection: pending from its accept (``born``) until made, then live until
    lost (asyncio calls connection_lost only for a connection it made)."""

    __slots__ = ("born", "inner", "made", "owner")

    def __init__(self, inner: asyncio.Protocol, owner: HttpListener, born: float) -> None:
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


class HttpListener(Input):
    name = "http"

    def __init__(self, address: Address, *, is_ready: Callable[[], bool], metrics: Callable[[], bytes],
                 readiness: Callable[[], str] = lambda: "",
                 serve_metrics: bool = True, reuse_port: bool = False, max_connections: int,
                 idle_timeout: float, on_reject: RejectHandler = ignore_rejection,
                 ssl_context: ssl.SSLContext | None = None, client_max_size: int = 1024) -> None:
        """``serve_metrics`` False: no /metrics here (it is on the operator's address)."""
        self.address = address
        self.is_ready = is_ready
        self.readiness = readiness
        self.metrics = metrics
        self.serve_metrics = serve_metrics
        self.reuse_port = reuse_port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.on_reject = on_reject
        self.ssl_context = ssl_context
        self.client_max_size = client_max_size
        self._live = 0
        self._pending: list[_Counted] = []
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    @property
    def bound(self) -> Address:
        assert self._server is not None
        return bound_address(self._server)

    def add_routes(self, app: web.Application) -> None:
        """The listener's own routes besides the operator's (none here)."""

    async def start(self) -> None:
        app = web.Application(client_max_size=self.client_max_size)
        self.add_routes(app)
        if self.serve_metrics:
            app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        # Bodies are read as sent: the GELF input tells their compression itself (see http.py).
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
                full = GelfError(Reason.TOO_MANY_CONNECTIONS, f"{self.max_connections} connections open on "
                                 f"{self.name}")
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

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics(), content_type="text/plain", charset="utf-8",
                            headers={"X-Prometheus-Format": "0.0.4"})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        ready = self.is_ready()
        text = self.readiness() or ("ready" if ready else "not ready")
        return web.Response(status=200 if ready else 503, text=text + "\n")

    async def open(self, loop: asyncio.AbstractEventLoop) -> None:
        await self.start()

    async def shut(self, force: bool) -> None:
        await self.close()

    def describe(self) -> str:
        return f"{self.name}={self.bound}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class OperatorListener(HttpListener):
    """``--metrics``: /metrics, /healthz and /readyz, plain HTTP, on an address of its own."""

    name = "metrics"
