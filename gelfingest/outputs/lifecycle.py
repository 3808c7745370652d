"""gelfingest's own indices over time: retention, rollover, and what the server must offer for the rest.

Elasticsearch without a licence for lifecycle management (the OSS build, OpenSearch without ISM) keeps an
index forever: the disk fills, the flood-stage watermark makes indices read-only, and ingest stops. So,
as Graylog's index sets do, gelfingest manages its own indices (run by worker 0 of an instance, every
``--lifecycle-interval`` and at start; several instances may run it at once: deleting twice is harmless):

- ``--retention-days N`` in ``daily`` mode deletes the indices whose names the ``--index`` pattern (or
  its fallback) makes, read back with their date, once the period a name covers ended more than N days
  ago. Never an index whose name the pattern does not make, never one whose date cannot be read, never
  the one being written (its period has not ended).
- ``--index-mode rollover`` writes to a write alias per target (``logstash-write`` over
  ``logstash-000001``), made before the first event goes to it, and rolls it over with
  ``POST <alias>/_rollover`` when ``--rollover-max-size``, ``-max-age`` or ``-max-docs`` is reached. Its
  retention deletes the rolled-over indices (never a write index) created more than N days ago.
- ``--ilm-policy`` and ``--data-stream`` hand this to Elasticsearch itself; they need its default
  distribution (6.6+ for lifecycle policies, 7.9+ for data streams). ``check_server`` says why a server
  cannot, in one line.

A refused request (a read-only cluster, a 403 from a proxy) is logged and counted; it never stops ingest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
from elastic_transport import TransportError

from gelfingest.config import Config
from gelfingest.core.indices import (
    WRITE_ALIAS_SUFFIX,
    dated_index,
    first_index,
    literal_prefix,
    period_end,
    rolled_base,
    rolled_pattern,
    without_references,
)
from gelfingest.core.template import index_wildcard
from gelfingest.metrics import SnapshotBuilder
from gelfingest.outputs.cluster import ClusterInfo

logger = logging.getLogger(__name__)

# One request through the output's node pool: (method, target, body) -> (status, parsed body).
Request = Callable[[str, str, bytes | None], Awaitable[tuple[int, Any]]]
# A refusal is logged at most this often (with the count since).
LOG_INTERVAL: Final = 60.0


def check_server(config: Config, cluster: ClusterInfo) -> str | None:
    """Why this server cannot do what the configuration asks (one line), or None."""
    wants = [flag for flag, on in (("--ilm-policy", config.ilm_policy), ("--data-stream", config.data_stream))
             if on]
    if not wants or not cluster.known:
        return None
    product = f"{cluster.distribution} {cluster.version}" + (f" ({cluster.flavor})" if cluster.flavor else "")
    if cluster.distribution == "opensearch":
        return (f"{' and '.join(wants)} need Elasticsearch's lifecycle management or data streams, which "
                f"{product} does not have (OpenSearch has ISM instead); use --retention-days")
    if cluster.flavor == "oss":
        return (f"{' and '.join(wants)} need Elasticsearch's default distribution; the server is {product}, "
                f"which has neither lifecycle management nor data streams: use --retention-days and "
                f"--index-mode rollover instead")
    major, minor = (int(p) if p.isdigit() else 0 for p in [*cluster.version.split("."), "0"][:2])
    if config.data_stream and (major, minor) < (7, 9):
        return f"--data-stream needs Elasticsearch 7.9 or later; the server is {product}"
    if config.ilm_policy and (major, minor) < (6, 6):
        return f"--ilm-policy needs Elasticsearch 6.6 or later; the server is {product}"
    return None


class Lifecycle:
    def __init__(self, config: Config, request: Request, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.request = request
        self.clock = clock
        patterns = [config.index]
        if without_references(config.index) != config.index:
            patterns.append(config.index_fallback or without_references(config.index))
        if config.index_mode == "rollover":
            patterns = [rolled_pattern(p) for p in patterns]
        self.patterns = patterns
        self.wildcards = ",".join(sorted({index_wildcard(p) for p in patterns}))
        self._dated = [d for d in (dated_index(p) for p in patterns) if d is not None]
        self.prefix = literal_prefix(config.index)
        # Write aliases known to exist (rollover): made by this worker, or found made.
        self.aliases: set[str] = set()
        self._bootstrap_lock = asyncio.Lock()
        self.deleted = 0
        self.delete_failures = 0
        self.rollovers = 0
        self.request_failures = 0
        self._last_log = -LOG_INTERVAL
        self._unlogged = 0

    @property
    def enabled(self) -> bool:
        return bool(self.config.retention_days) or (self.config.index_mode == "rollover"
                                                     and not self.config.ilm_policy)

    def describe(self) -> str:
        c = self.config
        if c.data_stream:
            return f"data stream {c.data_stream}" + (f", lifecycle policy {c.ilm_policy}" if c.ilm_policy else "")
        parts = []
        if c.index_mode == "rollover":
            limits = [f"max_size {c.rollover_max_size}", f"max_age {c.rollover_max_age}"]
            if c.rollover_max_docs:
                limits.append(f"max_docs {c.rollover_max_docs}")
            parts.append(f"rollover ({', '.join(limits)})")
        if c.ilm_policy:
            parts.append(f"lifecycle policy {c.ilm_policy}")
        if c.retention_days:
            parts.append(f"retention {c.retention_days} days{' (dry run)' if c.retention_dry_run else ''}")
        return ", ".join(parts) or "indices kept forever"

    def report(self, metrics: SnapshotBuilder) -> None:
        metrics.counter("gelfingest_indices_deleted", "Indices deleted by --retention-days", self.deleted)
        metrics.counter("gelfingest_index_delete_failures", "Index deletions Elasticsearch refused (retention)",
                        self.delete_failures)
        metrics.counter("gelfingest_rollovers", "Write aliases rolled over to a new index", self.rollovers)
        metrics.counter("gelfingest_lifecycle_request_failures", "Retention or rollover requests that failed",
                        self.request_failures)

    # -- the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Retention and rollover at start and every --lifecycle-interval, until cancelled."""
        while True:
            await self.run_once()
            await asyncio.sleep(self.config.lifecycle_interval)

    async def run_once(self) -> None:
        try:
            if self.config.index_mode == "rollover" and not self.config.ilm_policy:  # else the policy rolls over
                await self.roll_over()
            if self.config.retention_days:
                await self.retain()
        except TransportError as exc:
            self._failed(f"Elasticsearch did not answer ({type(exc).__name__})")

    def _failed(self, what: str) -> None:
        self.request_failures += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL:
            logger.warning("index lifecycle: %s (%d failures since the last such line); ingest goes on", what,
                           self._unlogged)
            self._last_log, self._unlogged = now, 0

    async def _cat(self, what: str) -> list[dict[str, Any]]:
        status, rows = await self.request("GET", f"/_cat/{what}", None)
        if status == 404:
            return []
        if status != 200 or not isinstance(rows, list):
            self._failed(f"GET /_cat/{what.split('?')[0]} answered HTTP {status}")
            return []
        return [row for row in rows if isinstance(row, dict)]

    # -- retention ---------------------------------------------------------------------------------------

    async def retain(self) -> None:
        cutoff = self.clock() - self.config.retention_days * 86400
        if self.config.index_mode == "rollover":
            doomed = await self._rolled_over_before(cutoff)
        else:
            rows = await self._cat(f"indices/{self.wildcards}?format=json&h=index&expand_wildcards=open,closed")
            doomed = sorted(name for row in rows if isinstance(name := row.get("index"), str)
                            and self._ended_before(name, cutoff))
        for name in doomed:
            await self._delete(name)

    def _ended_before(self, name: str, cutoff: float) -> bool:
        """Whether ``name`` is one the pattern makes, with a date that can be read, whose period ended before
        ``cutoff``."""
        for dated in self._dated:
            m = dated.fullmatch(name)
            if m is not None:
                end = period_end(m)
                return end is not None and end.timestamp() <= cutoff
        return False

    async def _rolled_over_before(self, cutoff: float) -> list[str]:
        aliases = await self._cat(f"aliases/{self.prefix}*{WRITE_ALIAS_SUFFIX}?format=json&h=alias,index,"
                                  f"is_write_index")
        bases = {a.removesuffix(WRITE_ALIAS_SUFFIX) for row in aliases if isinstance(a := row.get("alias"), str)}
        writing = {row.get("index") for row in aliases if row.get("is_write_index") == "true"}
        rows = await self._cat(f"indices/{self.wildcards}?format=json&h=index,creation.date&"
                               f"expand_wildcards=open,closed")
        doomed = []
        for row in rows:
            name, created = row.get("index"), row.get("creation.date")
            if (isinstance(name, str) and rolled_base(name) in bases and name not in writing
                    and isinstance(created, str) and created.isdigit() and int(created) / 1000 <= cutoff):
                doomed.append(name)
        return sorted(doomed)

    async def _delete(self, name: str) -> None:
        if self.config.retention_dry_run:
            logger.info("retention (dry run): would delete index %s, older than %d days", name,
                        self.config.retention_days)
            return
        status, body = await self.request("DELETE", f"/{name}", None)
        if status in (200, 404):  # 404: another instance deleted it first
            if status == 200:
                self.deleted += 1
                logger.info("retention: deleted index %s, older than %d days", name, self.config.retention_days)
            return
        self.delete_failures += 1
        self._failed(f"deleting index {name} was refused (HTTP {status}: {str(body)[:200]})")

    # -- rollover ----------------------------------------------------------------------------------------

    async def bootstrap(self, aliases: set[str]) -> None:
        """Make sure each write alias exists, over its first index, before events are written to it (else
        Elasticsearch would create an index of the alias's name)."""
        async with self._bootstrap_lock:
            for alias in sorted(aliases - self.aliases):
                body = orjson.dumps({"aliases": {alias: {"is_write_index": True}}})
                status, answer = await self.request("PUT", f"/{first_index(alias)}", body)
                if status < 300 or (status == 400 and "resource_already_exists" in str(answer)):
                    exists, _ = await self.request("HEAD", f"/_alias/{alias}", None)
                    if exists == 200:
                        if status < 300:
                            logger.info("rollover: made write alias %s over %s", alias, first_index(alias))
                        self.aliases.add(alias)
                        continue
                raise TransportError(f"cannot make write alias {alias} (HTTP {status}: {str(answer)[:200]})")

    async def roll_over(self) -> None:
        rows = await self._cat(f"aliases/{self.prefix}*{WRITE_ALIAS_SUFFIX}?format=json&h=alias")
        self.aliases |= {a for row in rows if isinstance(a := row.get("alias"), str)}
        c = self.config
        conditions: dict[str, Any] = {"max_size": c.rollover_max_size, "max_age": c.rollover_max_age}
        if c.rollover_max_docs:
            conditions["max_docs"] = c.rollover_max_docs
        for alias in sorted(self.aliases):
            if c.rollover_max_docs:
                # max_docs counts what a refresh made searchable, and an index nobody searches is not refreshed
                # (--refresh-interval auto): refreshed here, once a --lifecycle-interval, to be counted.
                await self.request("POST", f"/{alias}/_refresh", None)
            status, answer = await self.request("POST", f"/{alias}/_rollover",
                                                orjson.dumps({"conditions": conditions}))
            if status == 200 and isinstance(answer, dict):
                if answer.get("rolled_over"):
                    self.rollovers += 1
                    logger.info("rollover: %s now writes to %s (was %s; conditions %s)", alias,
                                answer.get("new_index"), answer.get("old_index"),
                                {k: v for k, v in (answer.get("conditions") or {}).items() if v})
            elif status == 404:
                self.aliases.discard(alias)  # deleted by hand: made again before the next event
            else:
                self._failed(f"rolling over {alias} was refused (HTTP {status}: {str(answer)[:200]})")
