"""The Elasticsearch output: ``_bulk`` requests through the official client's node pool.

The client is used for what it is good at (the node pool, TLS, connection handling); ``_bulk`` goes through
its transport with plain JSON/NDJSON content types, because the high-level API refuses servers older than
7.14 and every OpenSearch server (they do not send ``X-Elastic-Product``), and sends ``compatible-with``
media types that older servers answer with 406.

Elasticsearch's answer is read item by item (core/bulk.py): what is done or already there (409 on
``create``) is counted, 429s and 5xx are resent with backoff, a document whose field does not fit the
index's mapping is sent once more with that field moved out of the way (core/conflicts.py), and what is
refused for good goes to the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson
from elastic_transport import TransportError

from gelfingest.config import Config, mask_url
from gelfingest.core.batch import Batch
from gelfingest.core.bulk import BULK_FILTER_PATH, BulkResponse, ItemFailure, gzip_body
from gelfingest.core.conflicts import CONFLICT_FIELD, CONFLICT_TAG, conflicting_fields, without_conflict
from gelfingest.core.indices import has_references, rolled_pattern, without_references, write_alias
from gelfingest.core.template import describe_refresh, index_template
from gelfingest.metrics import Histogram, SnapshotBuilder
from gelfingest.outputs.cluster import CLUSTER_REFRESH, ClusterInfo, read_cluster
from gelfingest.outputs.lifecycle import Lifecycle, check_server
from gelfingest.outputs.nodes import NodeLog
from gelfingest.storage.deadletters import DeadLetters, dead_letter

logger = logging.getLogger(__name__)

_NDJSON = {"content-type": "application/x-ndjson", "accept": "application/json"}
_NDJSON_GZIP = {**_NDJSON, "content-encoding": "gzip"}
_JSON = {"content-type": "application/json", "accept": "application/json"}
# At most one line this often about refused or already-indexed events, with the count since the last.
LOG_INTERVAL = 10.0
# How long the first template request at start may take before the inputs open anyway.
START_TIMEOUT = 5.0
# An incident (outage, 429 storm) is over once requests have gone through without trouble for this long.
INCIDENT_QUIET = 2.0


_INDEX_AT: Final = (b'{"create":{"_index":"', b'{"index":{"_index":"')


def _indices_of(items: list[bytes]) -> set[str]:
    """The indices (write aliases, in rollover mode) of encoded items, read off their action lines (index
    names never hold a quote: indices.py replaces it)."""
    out = set()
    for item in items:
        for head in _INDEX_AT:
            if item.startswith(head):
                out.add(item[len(head):item.index(b'"', len(head))].decode())
                break
    return out


@dataclass(slots=True, frozen=True)
class Resent:
    """An item sent again with a field that did not fit the mapping moved away: the item as first sent, the
    field moved, and Elasticsearch's first refusal."""

    original: bytes
    field: str
    status: int
    error: Any


def index_fallbacks(config: Config) -> list[str]:
    """The fallback index of a pattern with field references (the template covers it too), else none."""
    if not has_references(config.index):
        return []
    return [config.index_fallback or without_references(config.index)]


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Exponential backoff, capped, with "equal jitter": a random wait in the upper half of the step."""
    ceiling: float = min(maximum, initial * (2 ** min(attempt, 30)))
    return ceiling / 2 + random.random() * ceiling / 2


def describe(exc: BaseException) -> str:
    """The transport's error and what caused it: its own text is only "TLS error" or "Connection error",
    while the cause says "certificate verify failed" or "Connect call failed"."""
    text = f"{type(exc).__name__}: {exc}"
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) and str(inner) not in text:
        text += f" ({type(inner).__name__}: {str(inner)[:300]})"
    return text


class ElasticsearchOutput:
    name = "elasticsearch"

    def __init__(self, config: Config, dead_letters: DeadLetters | None = None) -> None:
        """``dead_letters``: where documents refused for good go (without one, they are counted as lost)."""
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
        self.incidents = 0
        self._last_trouble = 0.0
        self._last_success = 0.0
        self._incident_retried = 0
        self.dead_lettered = 0
        self.dead_letters = dead_letters
        self._dead_logged = -LOG_INTERVAL
        self._dead_window = 0
        self._duplicates_logged = -LOG_INTERVAL
        self._duplicates_window = 0
        # Documents sent again for a mapping conflict, and those of them refused again.
        self.mapping_conflicts = 0
        self.conflicts_refused = 0
        self._conflicts_logged = -LOG_INTERVAL
        self._conflicts_window = 0
        self._template_lock = asyncio.Lock()
        self._template_result = "installed"
        self.cluster = ClusterInfo()
        self._cluster_read = 0.0
        self._cluster_task: asyncio.Task[None] | None = None
        # Why the server cannot take what the configuration asks (--ilm-policy, --data-stream), or None.
        self.refusal: str | None = None
        self.lifecycle = Lifecycle(config, lambda method, target, body: self.request(method, target, body))
        self._lifecycle_task: asyncio.Task[None] | None = None
        # timeout: how long Elasticsearch waits for a shard to take writes (a cluster without a quorum or a
        # primary) before it answers 503, so the spool takes over rather than a request hanging for a minute.
        self._bulk_target = (f"/_bulk?filter_path={BULK_FILTER_PATH}"
                             f"&timeout={max(1, int(config.elasticsearch_bulk_timeout * 1000))}ms")
        self.nodes = NodeLog()

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
        if self.config.elasticsearch_sniff:
            # The nodes are found from the cluster itself (GET _nodes/_all/http), at start and when one fails.
            kwargs.update(sniff_on_start=True, sniff_on_node_failure=True, min_delay_between_sniffing=10)
        self.nodes.install()
        self._client = AsyncElasticsearch(list(self.config.elasticsearch), **kwargs)
        # Install the template now if Elasticsearch answers (so /readyz can say so); else at the first send.
        # Briefly: the inputs open after this, and a server that takes connections but never answers must
        # not keep them closed for the whole request timeout.
        timeout = min(START_TIMEOUT, self.config.elasticsearch_timeout)
        try:
            await self._read_cluster(timeout)
            if self.refusal:
                # cli.py reports an OSError as "cannot start: ..." and exits 1.
                raise OSError(f"{self.refusal} ({self.cluster.describe()})")
            await self.ensure_template(timeout=timeout)
        except TransportError as exc:
            logger.warning("Elasticsearch does not answer yet (%s); the template is installed when it does",
                           describe(exc))
        if self.lifecycle.enabled and self.config.worker_index == 0:
            self._lifecycle_task = asyncio.get_running_loop().create_task(self.lifecycle.run(), name="lifecycle")

    async def _read_cluster(self, timeout: float | None = None) -> None:
        self._cluster_read = time.monotonic()
        self.cluster = await read_cluster(lambda m, target, t: self.request(m, target, timeout=t), timeout)
        refusal = check_server(self.config, self.cluster)
        if refusal != self.refusal:
            self.refusal = refusal
            if refusal:
                logger.error("Elasticsearch cannot take what is asked: %s; events are held and spooled until it "
                             "can", refusal)

    def _template(self) -> dict[str, Any]:
        c = self.config
        settings: dict[str, Any] = {}
        if c.ilm_policy:
            settings["index.lifecycle.name"] = c.ilm_policy
            if c.index_mode == "rollover" and not has_references(c.index):
                settings["index.lifecycle.rollover_alias"] = write_alias(c.index)
        patterns = [c.index, *index_fallbacks(c)]
        if c.index_mode == "rollover":
            patterns = [rolled_pattern(p) for p in patterns]
        return index_template(patterns[0], c.schema, patterns[1:], settings=settings, data_stream=c.data_stream,
                              mapping=c.mapping, refresh_interval=c.refresh_interval)

    async def _refresh_cluster(self) -> None:
        # Unavailable: the incident lines say so; the last answer stands meanwhile.
        with contextlib.suppress(TransportError):
            await self._read_cluster(START_TIMEOUT)

    def describe(self) -> str:
        hosts = ",".join(mask_url(u) for u in self.config.elasticsearch)
        return (f"elasticsearch={hosts} ({self.cluster.describe()}; {self._template_state()}; "
                f"{self.lifecycle.describe()})")

    def status(self) -> str:
        state = "ready" if self.ready() else "not ready"
        if self.refusal:
            state += f": {self.refusal}"
        elif self.outage_since is not None:
            state += f": Elasticsearch unavailable for {time.monotonic() - self.outage_since:.0f} s"
        return f"{state}; {self.cluster.describe()}; {self._template_state()}; {self.lifecycle.describe()}"

    def _template_state(self) -> str:
        if not self.config.install_template:
            return "template not managed (--install-template false)"
        if not self.template_installed:
            return f"template {self.config.template_name} not installed yet"
        return f"template {self.config.template_name} {self._template_result} ({self.template_in_force()})"

    def template_in_force(self) -> str:
        """What the template sets that changes what Elasticsearch does: the mapping and the refresh."""
        c = self.config
        mapping = "ecs mapping" if c.schema == "ecs" else f"{c.mapping} mapping"
        return f"{mapping}, {describe_refresh(c.refresh_interval)}"

    @property
    def unavailable_since(self) -> float | None:
        return self.outage_since

    def ready(self) -> bool:
        return self.template_installed and self.outage_since is None and not self.refusal

    def tick(self) -> None:
        self.check_recovered()
        if (self._client is not None and time.monotonic() - self._cluster_read >= CLUSTER_REFRESH
                and (self._cluster_task is None or self._cluster_task.done())):
            self._cluster_task = asyncio.get_running_loop().create_task(self._refresh_cluster())

    async def close(self) -> None:
        self.check_recovered(final=True)
        self.nodes.remove()
        for task in (self._cluster_task, self._lifecycle_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    def report(self, metrics: SnapshotBuilder) -> None:
        b = metrics
        b.counter("gelfingest_bulk_requests", "Bulk requests sent", self.requests)
        b.counter("gelfingest_items_retried", "Bulk items sent again after 429/5xx", self.retried)
        b.counter("gelfingest_documents_already_there", "Items answered 409 on create", self.duplicates)
        b.counter("gelfingest_dead_lettered", "Documents Elasticsearch refused for good, in the dead-letter queue",
                  self.dead_lettered)
        b.counter("gelfingest_mapping_conflicts", f"Documents refused for a field that did not fit the index's "
                  f"mapping, sent again with it moved into {CONFLICT_FIELD} and tagged {CONFLICT_TAG}",
                  self.mapping_conflicts)
        b.counter("gelfingest_mapping_conflicts_refused_again", "Documents sent again for a mapping conflict and "
                  "refused again (in the dead-letter queue as first sent)", self.conflicts_refused)
        b.counter("gelfingest_elasticsearch_incidents", "Times Elasticsearch became unavailable or answered "
                  "429/5xx", self.incidents)
        b.gauge("gelfingest_elasticsearch_available", "0 while Elasticsearch is unavailable",
                int(self.outage_since is None))
        b.histogram("gelfingest_bulk_request_duration_seconds", "Bulk request latency", self.latency)
        self.lifecycle.report(b)
        b.counter("gelfingest_elasticsearch_node_failures", "Times an Elasticsearch node stopped answering and was "
                  "left out", self.nodes.failures)
        b.gauge("gelfingest_elasticsearch_nodes_down", "Elasticsearch nodes left out now", len(self.nodes.down))

    def totals(self) -> str:
        return (f", {self.dead_lettered} to the dead-letter queue, {self.duplicates} already there, {self.retried} "
                f"items retried, {self.requests} bulk requests, {self.incidents} incidents, "
                f"{self.mapping_conflicts} sent again for a mapping conflict")

    async def request(self, method: str, target: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, Any]:
        """One HTTP request through the client's node pool; returns (status, parsed body)."""
        # The client applies its own request_timeout and retry settings only to its API methods; through
        # the transport they must be given with each request, or the transport's 10 s default applies.
        response = await self._client.transport.perform_request(
            method, target, body=body, headers={**(headers or _JSON), **self._headers},
            request_timeout=timeout or self.config.elasticsearch_timeout,
            max_retries=len(self.config.elasticsearch) - 1, retry_on_timeout=True)
        return response.meta.status, response.body

    async def ensure_template(self, timeout: float | None = None) -> None:
        """Install the index template once; until it is in, every send tries again first."""
        if self.template_installed or not self.config.install_template:
            return
        async with self._template_lock:
            if self.template_installed:
                return
            name = self.config.template_name
            template = self._template()
            status, body = await self.request(
                "PUT", f"/_index_template/{name}", orjson.dumps(template), timeout=timeout)
            if status >= 300:
                # Not fatal: documents still index with dynamic mappings. Say it clearly, once.
                logger.error("Could not install index template %s (HTTP %d): %s", name, status, body)
                self._template_result = f"refused (HTTP {status})"
            else:
                logger.info("Installed index template %s (%s schema) for %s", name, self.config.schema,
                            ", ".join(template["index_patterns"]))
            self.template_installed = True

    def _trouble(self, what: str, waiting: int) -> None:
        """An outage, a 429 storm or refused credentials: one line when it starts, one when it ends."""
        self._last_trouble = time.monotonic()
        if self.outage_since is None:
            self.outage_since = time.monotonic()
            self.incidents += 1
            self._incident_retried = 0
            logger.warning("Elasticsearch unavailable (%s); holding %d events and retrying", what, waiting)

    def _clear(self) -> None:
        self._last_success = time.monotonic()
        self.check_recovered()

    def check_recovered(self, final: bool = False) -> None:
        """End the incident once a request went through and nothing went wrong for a quiet spell (a storm
        of 429s alternates full and partial successes). Called after each success and by the server's
        timer, so the end is seen even when no more traffic comes; ``final`` (at shutdown) skips the wait."""
        now = time.monotonic()
        if (self.outage_since is not None and self._last_success > self._last_trouble
                and (final or now - self._last_trouble >= INCIDENT_QUIET)):
            logger.warning("Elasticsearch takes everything again after %.1f s (%d items were sent again)",
                           time.monotonic() - self.outage_since, self._incident_retried)
            self.outage_since = None

    async def send(self, batch: Batch) -> None:
        # The batch's items are never changed: the spool's copy (and its count) stays what was taken, and a
        # replay after a crash sends the first items again and moves the same field the same way.
        await self._send_items(batch.items)

    def _bulk_body(self, items: list[bytes]) -> tuple[bytes, dict[str, str]]:
        body = b"".join(items)
        if self.config.elasticsearch_compression == "gzip":
            return gzip_body(body), _NDJSON_GZIP
        return body, _NDJSON

    async def _send_items(self, items: list[bytes], resent: list[Resent | None] | None = None) -> None:
        """Send until every item is acknowledged or refused for good. ``resent``: for each item, what it was
        first when it is a re-send for a mapping conflict (None for the others): such an item is not moved
        again; refused for good, it goes to the dead-letter queue as first sent."""
        sent_as: list[Resent | None] = resent if resent is not None else [None] * len(items)
        attempt = 0
        while items:
            if attempt:
                await asyncio.sleep(backoff(attempt - 1, self.config.retry_initial, self.config.retry_max))
            attempt += 1
            try:
                if self.refusal:
                    self._trouble(self.refusal, len(items))
                    continue
                await self.ensure_template()
                if self.config.index_mode == "rollover" and not self.config.data_stream:
                    await self.lifecycle.bootstrap(_indices_of(items))
                self.requests += 1
                started = time.monotonic()
                status, body = await self.request("POST", self._bulk_target, *self._bulk_body(items))
                self.latency.observe(time.monotonic() - started)
            except TransportError as exc:
                self._trouble(describe(exc), len(items))
                continue
            if status == 429 or status >= 500 or status in (401, 403):
                # Busy, down, or our credentials refused: nothing in the batch is at fault; wait and resend.
                self._trouble(f"HTTP {status}: {str(body)[:300]}", len(items))
                continue
            if status == 413 and len(items) > 1:
                # The request is over http.max_content_length: send it in halves.
                half = len(items) // 2
                logger.warning("Elasticsearch refused a bulk request of %d events as too large (413); sending "
                               "it in halves (lower --batch-max-bytes)", len(items))
                await self._send_items(items[:half], sent_as[:half])
                await self._send_items(items[half:], sent_as[half:])
                return
            if status >= 300:
                # The request as a whole was refused (a body it cannot parse, one item too large):
                # resending cannot help; every item goes to the dead-letter queue with the answer.
                self._dead(items, [(i, status, body) for i in range(len(items))], sent_as, whole_request=True)
                return
            result = BulkResponse.classify(body, len(items))
            self.indexed += result.ok + result.duplicates
            self.duplicates += result.duplicates
            if result.duplicates:
                self._note_duplicates(result.duplicates)
            again, again_as, dead = self._moved_conflicts(items, sent_as, result.failed)
            if dead:
                self._dead(items, [(f.position, f.status, f.error) for f in dead], sent_as)
            if result.retry:
                self.retried += len(result.retry)
                self._incident_retried += len(result.retry)
                self._trouble(f"{len(result.retry)} of {len(items)} items answered 429/5xx", len(result.retry))
                items, sent_as = [items[i] for i in result.retry], [sent_as[i] for i in result.retry]
            else:
                self._clear()
                # What is left (conflicts' re-sends, if any) goes at once: this request went through.
                items, sent_as, attempt = [], [], 0
            items += again
            sent_as += again_as

    def _moved_conflicts(self, items: list[bytes], sent_as: list[Resent | None], failed: list[ItemFailure],
                         ) -> tuple[list[bytes], list[Resent | None], list[ItemFailure]]:
        """Of the items refused for good, those refused for a field that does not fit the mapping, sent for
        the first time, with that field moved (core/conflicts.py) and what they were; and the rest."""
        again: list[bytes] = []
        again_as: list[Resent | None] = []
        dead: list[ItemFailure] = []
        for f in failed:
            candidates = conflicting_fields(f.status, f.error) if sent_as[f.position] is None else ()
            moved = without_conflict(items[f.position], candidates) if candidates else None
            if moved is None:
                dead.append(f)
                continue
            latest = Resent(items[f.position], moved[1], f.status, f.error)
            again.append(moved[0])
            again_as.append(latest)
        if again:
            self._note_conflicts(latest, len(again))
        return again, again_as, dead

    def _note_conflicts(self, latest: Resent, n: int) -> None:
        self.mapping_conflicts += n
        self._conflicts_window += n
        now = time.monotonic()
        if now - self._conflicts_logged >= LOG_INTERVAL:
            index = (_indices_of([latest.original]) or {"?"}).pop()
            reason = latest.error.get("reason") if isinstance(latest.error, dict) else latest.error
            logger.warning("%d events had a field that did not fit the mapping of their index; sent again with it "
                           "moved into %s (as JSON) and tagged %s; latest: [%s] in %s: %s", self._conflicts_window,
                           CONFLICT_FIELD, CONFLICT_TAG, latest.field, index, str(reason)[:300])
            self._conflicts_logged = now
            self._conflicts_window = 0

    def _note_duplicates(self, n: int) -> None:
        now = time.monotonic()
        self._duplicates_window += n
        if now - self._duplicates_logged >= LOG_INTERVAL:
            logger.info("%d events were already in Elasticsearch (409 on create): resent after an answer was "
                        "lost, or replayed from the spool; not indexed again", self._duplicates_window)
            self._duplicates_logged = now
            self._duplicates_window = 0

    def _dead(self, items: list[bytes], failures: list[tuple[int, int, Any]], sent_as: list[Resent | None],
              whole_request: bool = False) -> None:
        """Items refused for good go to the dead-letter queue; one log line now and then, not one each. A
        conflict's re-send goes as it was first sent, with the first refusal, and the second beside it."""
        now = time.time()
        records = []
        for position, status, error in failures:
            first = sent_as[position]
            if first is None:
                records.append(dead_letter(items[position], status, error, now))
            else:
                self.conflicts_refused += 1
                records.append(dead_letter(first.original, first.status, first.error, now,
                                           resent={"field": first.field, "status": status, "error": error}))
        try:
            if self.dead_letters is None:
                raise OSError("no dead-letter queue is configured")
            self.dead_letters.write(records)
            self.dead_lettered += len(records)
            where = f"written to {self.dead_letters.path}"
        except OSError as exc:
            self.failed += len(records)
            where = f"LOST: cannot write the dead-letter queue: {exc}"
            logger.error("%d events refused by Elasticsearch are %s", len(records), where)
        self._dead_window += len(records)
        mono = time.monotonic()
        if mono - self._dead_logged >= LOG_INTERVAL:
            first_record = records[0]
            what = "a whole bulk request" if whole_request else "events"
            again = first_record.get("resent")
            also = (f" (sent again with [{again['field']}] moved, and refused again: HTTP {again['status']} "
                    f"{orjson.dumps(again['error']).decode()[:300]})" if again else "")
            logger.error("Elasticsearch refused %d %s for good (%s); latest: HTTP %d %s for index %s%s",
                         self._dead_window, what, where, first_record["status"],
                         orjson.dumps(first_record["error"]).decode()[:500], first_record["index"], also)
            self._dead_logged = mono
            self._dead_window = 0
