"""``--otlp``: OpenTelemetry logs over HTTP, ``POST /v1/logs`` (OTLP/HTTP, opentelemetry-proto's
docs/specification.md), protobuf (``application/x-protobuf``) and JSON (``application/json``) on one port.

The answers, as the specification gives them and as the exporters act on them:

- 200 with an ``ExportLogsServiceResponse`` in the request's encoding: taken; with ``partial_success`` when
  records were refused one by one (too large, invalid), counting them and saying why. Once part of a
  request is taken, the whole is never answered 4xx (a client would send again what was taken).
- 400 with a ``google.rpc.Status``: the body is not a request (not protobuf, not OTLP's JSON).
- 401: no or wrong bearer token. 413: a body over ``--otlp-max-body``, as sent or decompressed.
  415: a media type or ``Content-Encoding`` (gzip, deflate, identity) it does not take.
- 503 with ``Retry-After``: the hand-over towards Elasticsearch is full, or (durable answers) the spool
  could not take the request's records; nothing of such a request is taken. The exporters retry 503.

With ``--http-ack durable`` (the default) success is answered once the records are indexed, or written and
synced to the spool (acks.py); with ``received``, once they are decoded.
The bodies of both encodings are built here by hand (a few bytes of protobuf wire format): the listener
itself never loads protobuf, only the decoder does (core/otlp.py).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import orjson
from aiohttp import web

from gelfingest.core.decompress import inflate
from gelfingest.core.errors import GelfError, PayloadError, Reason, RecordsRefused, RequestRefused
from gelfingest.core.rejects import RejectHandler, ignore_rejection
from gelfingest.inputs.base import RECEIVED_HELP, RETRY_AFTER_SECONDS, Answers, bearer_ok, settled
from gelfingest.inputs.operator import HttpListener
from gelfingest.net import Address

if TYPE_CHECKING:
    from gelfingest.metrics import SnapshotBuilder

# A request's format, its body, the sender's address and the time; the rejections (server.take).
RequestHandler = Callable[[str, bytes, str, float], list[tuple[GelfError, str]]]
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
# google.rpc.Code
INVALID_ARGUMENT: Final = 3
UNAUTHENTICATED: Final = 16
RESOURCE_EXHAUSTED: Final = 8
UNAVAILABLE: Final = 14


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string_field(number: int, text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def status_body(code: int, message: str, protobuf: bool) -> bytes:
    """A ``google.rpc.Status`` (code, message) in the request's encoding."""
    if not protobuf:
        return orjson.dumps({"code": code, "message": message})
    return _varint(1 << 3) + _varint(code) + _string_field(2, message)


def response_body(rejected: int, message: str, protobuf: bool) -> bytes:
    """An ``ExportLogsServiceResponse``: empty, or with ``partial_success`` (rejected_log_records,
    error_message)."""
    if not protobuf:
        if not rejected and not message:
            return b"{}"
        return orjson.dumps({"partialSuccess": {"rejectedLogRecords": str(rejected), "errorMessage": message}})
    if not rejected and not message:
        return b""
    partial = _varint(1 << 3) + _varint(rejected) + _string_field(2, message)
    return _varint(1 << 3 | 2) + _varint(len(partial)) + partial


class OtlpInput(HttpListener):
    name = "otlp"

    def __init__(self, address: Address, on_request: RequestHandler, *, max_body: int, token: str,
                 is_full: Callable[[], bool], answers: Answers,
                 is_ready: Callable[[], bool], metrics: Callable[[], bytes],
                 readiness: Callable[[], str] = lambda: "", reuse_port: bool = False, max_connections: int,
                 read_timeout: float, idle_timeout: float, on_reject: RejectHandler = ignore_rejection,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(address, is_ready=is_ready, metrics=metrics, readiness=readiness, serve_metrics=False,
                         reuse_port=reuse_port, max_connections=max_connections, idle_timeout=idle_timeout,
                         on_reject=on_reject, ssl_context=ssl_context, client_max_size=max_body)
        self.on_request = on_request
        self.max_body = max_body
        self.token = token
        self.is_full = is_full
        self.answers = answers
        self.read_timeout = read_timeout
        self.requests = 0
        self.bytes = 0
        self.records = 0
        self.records_rejected = 0
        self.statuses: dict[int, int] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/logs", self._post)

    def describe(self) -> str:
        return f"{self.name}={self.bound}{' (TLS)' if self.ssl_context else ''}"

    def report(self, b: SnapshotBuilder) -> None:
        b.counter("gelfingest_received", RECEIVED_HELP, self.requests, input=self.label)
        b.counter("gelfingest_received_bytes", "Bytes received, by input", self.bytes, input=self.label)
        b.counter("gelfingest_otlp_records_rejected", "OTLP log records refused one by one (partial success)",
                  self.records_rejected)
        for code, n in self.statuses.items():
            b.counter("gelfingest_otlp_responses", "HTTP answers to POST /v1/logs, by status", n, code=str(code))

    def totals(self) -> str:
        statuses = ", ".join(f"{code}={n}" for code, n in sorted(self.statuses.items())) or "none"
        return f"; {self.name}: {self.requests} requests ({statuses}), {self.records_rejected} records refused"

    def _answer(self, status: int, body: bytes, protobuf: bool, headers: dict[str, str] | None = None,
                ) -> web.Response:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return web.Response(status=status, body=body, content_type=PROTOBUF if protobuf else JSON,
                            headers=headers)

    def _refuse(self, status: int, code: int, error: GelfError, source: str, protobuf: bool,
                headers: dict[str, str] | None = None) -> web.Response:
        self.on_reject(error, source, time.time())
        message = f"{error.reason}: {error.detail}" if error.detail else error.reason
        return self._answer(status, status_body(code, message, protobuf), protobuf, headers)

    def _busy(self, protobuf: bool, why: str = "queue full, retry later") -> web.Response:
        return self._answer(503, status_body(UNAVAILABLE, why, protobuf), protobuf,
                            {"Retry-After": RETRY_AFTER_SECONDS})

    async def _post(self, request: web.Request) -> web.Response:
        self.requests += 1
        source = request.remote or ""
        media = request.content_type.lower()
        protobuf = media != JSON
        if self.token and not bearer_ok(request.headers.get("Authorization", ""), self.token):
            return self._refuse(401, UNAUTHENTICATED, GelfError(Reason.UNAUTHORIZED, "no or wrong bearer "
                                "token"), source, protobuf, {"WWW-Authenticate": "Bearer"})
        if media not in (PROTOBUF, JSON):
            return self._refuse(415, INVALID_ARGUMENT, GelfError("unsupported_media_type", f"{media or 'none'}: "
                                f"send {PROTOBUF} or {JSON}"), source, protobuf)
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
        if encoding not in ("identity", "gzip", "deflate"):
            return self._refuse(415, INVALID_ARGUMENT, GelfError("unsupported_encoding", f"Content-Encoding "
                                f"{encoding[:40]}: send gzip, deflate or none"), source, protobuf)
        if self.is_full():
            return self._busy(protobuf)
        try:
            async with asyncio.timeout(self.read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, RESOURCE_EXHAUSTED, GelfError(Reason.BODY_TOO_LARGE, f"body larger than "
                                f"{self.max_body} bytes"), source, protobuf)
        except TimeoutError:
            return self._refuse(408, INVALID_ARGUMENT, GelfError(Reason.BODY_TIMEOUT, f"body not complete after "
                                f"{self.read_timeout:g} s"), source, protobuf)
        self.bytes += len(body)
        try:
            if encoding == "gzip":
                body = inflate(body, 16 + zlib.MAX_WBITS, self.max_body, "gzip")
            elif encoding == "deflate":  # zlib's format as HTTP says, or raw deflate as some clients send
                wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
                body = inflate(body, wbits, self.max_body, "deflate")
        except PayloadError as bad:
            too_large = bad.reason == Reason.DECOMPRESSED_TOO_LARGE
            return self._refuse(413 if too_large else 400, RESOURCE_EXHAUSTED if too_large else INVALID_ARGUMENT,
                                bad, source, protobuf)
        answers = self.answers
        if not answers.admits(len(body)):
            return self._busy(protobuf)
        now = time.time()
        answers.begin()
        rejected = self.on_request("otlp-protobuf" if protobuf else "otlp-json", body, source, now)
        if not answers.end():
            return self._busy(protobuf, "the spool could not take the records: retry later")
        if rejected and isinstance(rejected[0][0], RequestRefused):
            err = rejected[0][0]
            too_many = err.reason in ("too_many_records", "too_many_values")
            return self._answer(413 if too_many else 400, status_body(
                RESOURCE_EXHAUSTED if too_many else INVALID_ARGUMENT,
                f"{err.reason}: {err.detail}" if err.detail else err.reason, protobuf), protobuf)
        refused = [err for err, _ in rejected if isinstance(err, RecordsRefused)]
        count = sum(err.count for err in refused)
        self.records_rejected += count
        message = "; ".join(f"{err.count} {err.reason}" + (f" ({err.detail})" if err.detail else "")
                            for err in refused)
        if not await settled(answers, now, False):
            return self._busy(protobuf, "cannot make the records durable (the spool is full or the disk refuses)")
        return self._answer(200, response_body(count, message, protobuf), protobuf)
