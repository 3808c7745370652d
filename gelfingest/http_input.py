"""GELF over HTTP (aiohttp): ``POST /gelf`` with one message, or several separated by newlines.

The body's compression is told by its magic bytes, not by ``Content-Encoding``: graypy sends zlib while
announcing ``gzip,deflate``. A ``deflate`` body without a zlib header is taken as raw deflate.
Answers (unlike Graylog, which says 202 before it decodes anything):
- 202 when every message was taken;
- 400 with the reasons, by line, when some were not (the others were taken: resend only those);
- 413 over the body cap (compressed or not); 401 with a wrong bearer token (``--http-token``);
- 503 with Retry-After while the queue towards Elasticsearch is full.
Also ``GET /healthz`` (the process answers) and ``GET /readyz`` (the output can take events).
"""

from __future__ import annotations

import hmac
import logging
import time
import zlib
from collections.abc import Callable
from typing import Final

import orjson
from aiohttp import web

from gelfingest.config import Address
from gelfingest.errors import GelfError, Reason
from gelfingest.payload import PayloadKind, decompress, inflate, payload_kind

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


class HttpInput:
    name = "http"

    def __init__(self, address: Address, on_message: MessageHandler | None, *, max_body: int, token: str,
                 is_full: Callable[[], bool], is_ready: Callable[[], bool], metrics: Callable[[], bytes],
                 reuse_port: bool = False) -> None:
        """``on_message`` None: only the operator's endpoints (``--metrics`` on an address of its own)."""
        self.address = address
        self.on_message = on_message
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
        self._site: web.TCPSite | None = None

    @property
    def bound(self) -> Address:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return Address(host, port)

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body)
        if self.on_message is not None:
            app.router.add_post("/gelf", self._post)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        # We read the body as sent and tell its compression ourselves (see the module's docstring).
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.address.host, self.address.port,
                                 reuse_port=self.reuse_port or None)
        await self._site.start()

    def _answer(self, status: int, body: dict[str, object] | None = None,
                headers: dict[str, str] | None = None) -> web.Response:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return web.Response(status=status, body=orjson.dumps(body) if body else None,
                            content_type="application/json" if body else None, headers=headers)

    async def _post(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return self._answer(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        if self.is_full():
            return self._answer(503, {"error": "queue full, retry later"}, {"Retry-After": RETRY_AFTER_SECONDS})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._answer(413, {"error": f"body larger than {self.max_body} bytes"})
        source = request.remote or ""
        self.bytes += len(body)
        try:
            messages = _body_messages(body, request.headers.get("Content-Encoding", "").lower(), self.max_body)
        except GelfError as err:
            status = 413 if err.reason == Reason.DECOMPRESSED_TOO_LARGE else 400
            return self._answer(status, {"error": err.reason, "detail": err.detail})
        if not messages:
            return self._answer(400, {"error": Reason.EMPTY, "detail": "no message in the body"})
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
