"""Where batches go: Elasticsearch (default), stdout (debugging) or null (benchmarks).

The Elasticsearch output uses the official client for what it is good at (the node pool, TLS, connection
handling) and sends ``_bulk`` through its transport with plain JSON/NDJSON content types: the
high-level API refuses servers older than 7.14 and every OpenSearch server (FACTS.md), and sends
``compatible-with`` media types that older servers answer with 406.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import sys
import time
from typing import Any, Protocol

import orjson
from elastic_transport import TransportError

from gelfingest.batch import Batch
from gelfingest.bulk import BULK_FILTER_PATH, BulkResponse, decode_item
from gelfingest.config import Config
from gelfingest.metrics import Histogram
from gelfingest.template import index_template

logger = logging.getLogger(__name__)

_NDJSON = {"content-type": "application/x-ndjson", "accept": "application/json"}
_JSON = {"content-type": "application/json", "accept": "application/json"}


class Output(Protocol):
    name: str
    indexed: int
    failed: int

    async def start(self) -> None: ...

    async def send(self, batch: Batch) -> None:
        """Return once every item is acknowledged or has failed for good."""

    async def close(self) -> None: ...


class NullOutput:
    """Encodes the bulk bodies and sends nothing: measures everything but Elasticsearch."""

    name = "null"

    def __init__(self) -> None:
        self.indexed = 0
        self.failed = 0
        self.bytes = 0

    async def start(self) -> None:
        pass

    async def send(self, batch: Batch) -> None:
        self.bytes += len(batch.body())
        self.indexed += len(batch)

    async def close(self) -> None:
        pass


class StdoutOutput:
    """One JSON document a line on standard output."""

    name = "stdout"

    def __init__(self) -> None:
        self.indexed = 0
        self.failed = 0

    async def start(self) -> None:
        pass

    async def send(self, batch: Batch) -> None:
        out = sys.stdout.buffer
        out.write(b"".join(item.partition(b"\n")[2] for item in batch.items))
        out.flush()
        self.indexed += len(batch)

    async def close(self) -> None:
        pass


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff, capped, with "equal jitter": a random wait in the upper half of the step."""
    ceiling: float = min(maximum, initial * (2 ** min(attempt, 30)))
    return ceiling / 2 + random.random() * ceiling / 2


class ElasticsearchOutput:
    name = "elasticsearch"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.indexed = 0
        self.duplicates = 0
        self.failed = 0
        self.retried = 0
        self.requests = 0
        self.latency = Histogram()
        self.template_installed = False
        self._headers: dict[str, str] = {}
        if config.elasticsearch_api_key:
            self._headers["authorization"] = f"ApiKey {config.elasticsearch_api_key}"
        elif config.elasticsearch_username:
            token = f"{config.elasticsearch_username}:{config.elasticsearch_password}".encode()
            self._headers["authorization"] = f"Basic {base64.b64encode(token).decode()}"
        self._client: Any = None
        self.outage_since: float | None = None
        self._template_lock = asyncio.Lock()

    async def start(self) -> None:
        from elasticsearch import AsyncElasticsearch

        kwargs: dict[str, Any] = {
            "request_timeout": self.config.elasticsearch_timeout,
            # We retry ourselves, item by item, with backoff; the transport only fails over.
            "max_retries": len(self.config.elasticsearch) - 1,
            "retry_on_timeout": True,
        }
        if self.config.elasticsearch_ca_certs:
            kwargs["ca_certs"] = self.config.elasticsearch_ca_certs
        if not self.config.elasticsearch_verify_certs:
            kwargs["verify_certs"] = False
            kwargs["ssl_show_warn"] = False
        self._client = AsyncElasticsearch(list(self.config.elasticsearch), **kwargs)
        # Install the template now if Elasticsearch answers (so /readyz can say so); else at the first send.
        try:
            await self.ensure_template()
        except TransportError as exc:
            logger.warning("Elasticsearch does not answer yet (%s); the template is installed when it does", exc)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def request(self, method: str, target: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One HTTP request through the client's node pool; returns (status, parsed body)."""
        response = await self._client.transport.perform_request(
            method, target, body=body, headers={**(headers or _JSON), **self._headers})
        return response.meta.status, response.body

    async def ensure_template(self) -> None:
        """Install the index template once; until it is in, every send tries again first."""
        if self.template_installed or not self.config.install_template:
            return
        async with self._template_lock:
            if self.template_installed:
                return
            name = self.config.template_name
            status, body = await self.request(
                "PUT", f"/_index_template/{name}", orjson.dumps(index_template(self.config.index)))
            if status >= 300:
                # Not fatal: documents still index with dynamic mappings. Say it clearly, once.
                logger.error("Could not install index template %s (HTTP %d): %s", name, status, body)
            else:
                logger.info("Installed index template %s for %s", name, index_template(self.config.index)
                            ["index_patterns"][0])
            self.template_installed = True

    def _outage(self, what: str, waiting: int) -> None:
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            logger.warning("Elasticsearch unavailable (%s); holding %d events and retrying", what, waiting)

    def _recovered(self) -> None:
        if self.outage_since is not None:
            logger.warning("Elasticsearch answers again after %.1f s", time.monotonic() - self.outage_since)
            self.outage_since = None

    async def send(self, batch: Batch) -> None:
        items = batch.items
        attempt = 0
        while items:
            if attempt:
                await asyncio.sleep(backoff(attempt - 1, self.config.retry_initial, self.config.retry_max))
            attempt += 1
            try:
                await self.ensure_template()
                self.requests += 1
                started = time.monotonic()
                status, body = await self.request(
                    "POST", f"/_bulk?filter_path={BULK_FILTER_PATH}", b"".join(items), _NDJSON)
                self.latency.observe(time.monotonic() - started)
            except TransportError as exc:
                self._outage(f"{type(exc).__name__}: {exc}", len(items))
                continue
            if status == 429 or status >= 500:
                self._outage(f"HTTP {status}", len(items))
                continue
            self._recovered()
            if status >= 300:
                # The whole request was refused (bad body, auth): no item can succeed by resending.
                self.failed += len(items)
                logger.error("Elasticsearch refused a bulk request of %d events (HTTP %d): %s",
                             len(items), status, str(body)[:500])
                return
            result = BulkResponse.classify(body, len(items))
            self.indexed += result.ok + result.duplicates
            self.duplicates += result.duplicates
            if result.failed:
                self.failed += len(result.failed)
                first = result.failed[0]
                action, _ = decode_item(items[first.position])
                logger.error("Elasticsearch rejected %d of %d events; first: HTTP %d %s for %s",
                             len(result.failed), len(items), first.status,
                             orjson.dumps(first.error).decode()[:500], orjson.dumps(action).decode())
            if result.retry:
                self.retried += len(result.retry)
                self._outage(f"{len(result.retry)} items answered 429/5xx", len(result.retry))
                items = [items[i] for i in result.retry]
            else:
                items = []


def make_output(config: Config) -> Output:
    if config.output == "null":
        return NullOutput()
    if config.output == "stdout":
        return StdoutOutput()
    return ElasticsearchOutput(config)


class Shipper:
    """A bounded queue of batches in front of the output, and the tasks that send them."""

    def __init__(self, output: Output, max_batches: int, concurrency: int) -> None:
        self.output = output
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(max_batches)
        self.concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: dict[int, int] = {}

    @property
    def waiting_events(self) -> int:
        queued: list[Batch] = list(self.queue._queue)  # type: ignore[attr-defined]
        return sum(len(b) for b in queued) + sum(self._in_flight.values())

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(i), name=f"shipper-{i}") for i in range(self.concurrency)]

    async def _run(self, slot: int) -> None:
        while True:
            batch = await self.queue.get()
            self._in_flight[slot] = len(batch)
            try:
                await self.output.send(batch)
            except Exception:
                logger.exception("Output %s failed on a batch of %d events", self.output.name, len(batch))
                self.output.failed += len(batch)
            finally:
                self._in_flight[slot] = 0
                self.queue.task_done()

    def try_submit(self, batch: Batch) -> bool:
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            return False
        return True

    async def submit(self, batch: Batch) -> None:
        await self.queue.put(batch)

    async def drain(self, timeout: float) -> int:
        """Wait until everything queued is sent, at most ``timeout`` s; return the events left unsent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)
        left = self.waiting_events
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return left
