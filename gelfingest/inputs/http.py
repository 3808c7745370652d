"""GELF over HTTP (aiohttp): ``POST /gelf`` with one message, or several separated by newlines.

The body's compression is told by its magic bytes, not by ``Content-Encoding``: graypy sends zlib while
announcing ``gzip,deflate``. A ``deflate`` body without a zlib header is taken as raw deflate.
Answers (unlike Graylog, which says 202 before it decodes anything):
- 202 when every message was taken (with ``--http-ack durable``, the default: and is indexed, or written
  and synced to the spool; acks.py);
- 400 with the reasons, by line, when some were not (the others were taken: resend only those);
- 413 over the body cap (compressed or not); 401 with a wrong bearer token (``--http-token``);
- 408 when the body takes longer than ``read_timeout`` to arrive (a client trickling bytes);
- 503 with Retry-After while the queue towards Elasticsearch is full, or (durable answers) when the spool
  could not take the request's events; nothing of such a request is taken.
Besides, the operator's endpoints and the bounds on connections of every HTTP listener (operator.py).
Refusals are handed to ``on_reject`` with their reason, counted and logged like bad messages.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.framing import http_body_messages
from gelfingest.core.rejects import RejectHandler, ignore_rejection
from gelfingest.inputs.base import RECEIVED_HELP, RETRY_AFTER_SECONDS, Answers, bearer_ok, settled
from gelfingest.inputs.operator import HttpListener
from gelfingest.net import Address

if TYPE_CHECKING:
    from gelfingest.metrics import SnapshotBuilder

logger = logging.getLogger(__name__)

# Called with one message, the client's address and the time; returns the GelfError that rejected it.
MessageHandler = Callable[[bytes, str, float], GelfError | None]


class HttpInput(HttpListener):
    name = "http"

    def __init__(self, address: Address, on_message: MessageHandler, *, max_body: int, token: str,
                 is_full: Callable[[], bool], answers: Answers,
                 is_ready: Callable[[], bool], metrics: Callable[[], bytes],
                 readiness: Callable[[], str] = lambda: "",
                 reuse_port: bool = False, max_connections: int, read_timeout: float, idle_timeout: float,
                 on_reject: RejectHandler = ignore_rejection, ssl_context: ssl.SSLContext | None = None,
                 serve_metrics: bool = True) -> None:
        """``serve_metrics`` False: no /metrics here (it is on the operator's address)."""
        super().__init__(address, is_ready=is_ready, metrics=metrics, readiness=readiness, serve_metrics=serve_metrics,
                         reuse_port=reuse_port, max_connections=max_connections, idle_timeout=idle_timeout,
                         on_reject=on_reject, ssl_context=ssl_context, client_max_size=max_body)
        self.on_message = on_message
        self.read_timeout = read_timeout
        self.max_body = max_body
        self.token = token
        self.is_full = is_full
        self.answers = answers
        self.bytes = 0
        self.requests = 0
        self.messages = 0
        self.statuses: dict[int, int] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/gelf", self._post)

    def describe(self) -> str:
        return f"{self.name}={self.bound}{' (TLS)' if self.ssl_context else ''}"

    def report(self, b: SnapshotBuilder) -> None:
        b.counter("gelfingest_received", RECEIVED_HELP, self.messages, input=self.label)
        b.counter("gelfingest_received_bytes", "Bytes received, by input", self.bytes, input=self.label)
        for code, n in self.statuses.items():
            b.counter("gelfingest_http_responses", "HTTP answers to POST /gelf, by status", n, code=str(code))

    def totals(self) -> str:
        statuses = ", ".join(f"{code}={n}" for code, n in sorted(self.statuses.items())) or "none"
        return f"; {self.name}: {self.requests} requests ({statuses}), {self.messages} messages"

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

    def _busy(self, why: str = "queue full, retry later") -> web.Response:
        return self._answer(503, {"error": why}, {"Retry-After": RETRY_AFTER_SECONDS})

    async def _post(self, request: web.Request) -> web.Response:
        self.requests += 1
        source = request.remote or ""
        if self.token and not bearer_ok(request.headers.get("Authorization", ""), self.token):
            return self._refuse(401, GelfError(Reason.UNAUTHORIZED, "no or wrong bearer token"), source,
                                {"WWW-Authenticate": "Bearer"})
        if self.is_full():
            return self._busy()
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
            messages = http_body_messages(body, request.headers.get("Content-Encoding", "").lower(), self.max_body)
        except GelfError as err:
            return self._refuse(413 if err.reason == Reason.DECOMPRESSED_TOO_LARGE else 400, err, source)
        if not messages:
            return self._refuse(400, GelfError(Reason.EMPTY, "no message in the body"), source)
        answers = self.answers
        if not answers.admits(sum(map(len, messages))):
            return self._busy()
        now = time.time()
        rejected: list[dict[str, object]] = []
        answers.begin()
        for line, message in enumerate(messages):
            failure = self.on_message(message, source, now)
            if failure is not None:
                rejected.append({"line": line, "error": failure.reason, "detail": failure.detail})
        if not answers.end():
            return self._busy("the spool could not take the messages: retry later")
        self.messages += len(messages) - len(rejected)
        if len(rejected) < len(messages) and not await settled(answers, now, True):
            return self._busy("cannot make the messages durable (the spool is full or the disk refuses)")
        if rejected:
            return self._answer(400, {"accepted": len(messages) - len(rejected), "rejected": rejected})
        return self._answer(202)
