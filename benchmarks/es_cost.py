"""Elasticsearch's own cost per document under each candidate index template, side by side.

    python -m benchmarks.es_cost [--docs 100000] [--rounds 2] [--patterns idle reader]
                                 [--candidates NAME ...] [--json PATH] [--hot-threads]

The same documents as gelfingest's logstash schema writes them (encoded by the pure core: Docker's fields,
60 containers of 12 services, 95 % ordinary lines of access and application logs, 5 % Java stack traces on
stderr), numbered in clock mode as they arrive, bulk-indexed into a fresh index for each candidate
(``create`` with gelfingest's ids, the daemon's ``filter_path``, 2 requests at a time: the daemon's
concurrency) at a steady ``--rate`` (5,000 documents a second: at that rate the daemon sends a batch of
5,000 a second; below it, a batch of a second's documents). How often Elasticsearch refreshes matters
most at such a rate: as fast as it takes them, a run is over after a few refreshes. Figures of each run:

- ``es_us_per_doc``: the Elasticsearch JVM's utime + stime from the first bulk request through a final
  ``_refresh`` (every document must become searchable some time; an idle shard pays it then) and
  ``AFTER_SECONDS`` of merges after, per document;
- ``docs_per_s``: documents over the time the bulk requests took (the rate offered, unless Elasticsearch
  fell behind; in the ``max`` pattern, as fast as it took them);
- ``store_mb``: the primaries' store once refreshed.

Three usage patterns:

- ``idle``: nobody searches. Each index is created at the start of the round and left unsearched for
  ``IDLE_AFTER_CREATION`` seconds before its turn, as a daily index is in steady ingest (Elasticsearch
  counts a shard search-idle ``index.search.idle.after`` after its last search, or its creation).
- ``reader``: a Kibana-like reader from the index's creation to the end of its run: every
  ``READER_INTERVAL`` seconds, Discover's query (the last 15 minutes, 500 hits sorted by ``@timestamp``
  then ``sequence``, the total, and the histogram of the time bar). Also reported: the median time a search
  took (``search_ms``) and how far behind what had been acknowledged its answer was (``stale_s``, the
  largest over the run: logs must be searchable within 5 s while somebody watches).
- ``max``: as ``idle``, but as fast as Elasticsearch takes the documents: its ceiling under each candidate.

Candidates (``--candidates``; all of CANDIDATES by default): Logstash's own 8.x template as the peer,
no template at all, gelfingest's template before issue 23 (``gelfingest-before``) and the one it installs
now (``gelfingest``), and the variants the choice was made from. Rounds alternate the candidates' order;
the table gives each run and, per candidate and pattern, the median and its ratio to Logstash's. Before
the rounds, every candidate indexes once uncounted: the JVM compiles each mapping's code paths the first
time (seen here: the first text + keyword run of a round cost twice the next).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.measure import RESULTS, es_call, machine, post_bulks
from benchmarks.measure import es_cpu_seconds as es_cpu
from benchmarks.measure import es_quiet as quiet
from gelfingest.core.batch import DEFAULT_BATCH_MAX_DOCS
from gelfingest.core.bulk import ID_PREFIX_BYTES, id_prefix
from gelfingest.core.conflicts import CONFLICT_FIELD
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.template import MappingStyle, index_settings, index_template, mappings
from gelfingest.local_es import LocalElasticsearch

# Seconds an index is left unsearched before its turn in the idle pattern: Elasticsearch's default
# index.search.idle.after (30 s) and one more.
IDLE_AFTER_CREATION = 31.0
# Seconds of refreshes and merges counted after the last bulk request (and the final _refresh).
AFTER_SECONDS = 12.0
# Seconds between two searches of the reader: Kibana's Discover with a 5-second auto-refresh.
READER_INTERVAL = 5.0
# Documents a second in the idle and reader patterns (--rate).
DEFAULT_RATE = 5000.0
# The daemon's bulk requests in flight (Config().elasticsearch_concurrency).
CONCURRENCY = 2

# -- the documents -----------------------------------------------------------------------------------------

SERVICES = (("web", "nginx:1.25", "nginx -g daemon off;"), ("api", "registry.local/api:4.2.1", "node server.js"),
            ("orders", "registry.local/orders:2.9.0", "java -jar /app/orders.jar"),
            ("payments", "registry.local/payments:1.14.3", "java -Xmx512m -jar /app/payments.jar"),
            ("auth", "registry.local/auth:3.0.7", "/usr/local/bin/auth serve"),
            ("search", "registry.local/search:0.9.2", "python -m search.app"),
            ("worker", "registry.local/worker:5.1.0", "celery -A tasks worker"),
            ("cache", "redis:7.2", "redis-server --appendonly yes"),
            ("db", "postgres:16", "postgres"), ("mq", "rabbitmq:3.13", "rabbitmq-server"),
            ("gateway", "envoyproxy/envoy:v1.30", "envoy -c /etc/envoy.yaml"),
            ("frontend", "registry.local/frontend:8.0.4", "nginx -g daemon off;"))
CONTAINERS = 60
PATHS = ("/api/v1/users/{n}", "/api/v1/orders/{n}/items", "/healthz", "/static/app.{h}.js", "/login",
         "/api/v1/search?q=item{n}", "/metrics", "/api/v1/carts/{n}")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
          "kube-probe/1.30", "curl/8.5.0", "Go-http-client/1.1", "python-requests/2.32.3")
APP = ("processed order {n} in {ms} ms", "user {n} logged in from {ip}", "cache miss for key session:{h}",
       "retrying request {h} to upstream payments (attempt {k})", "published event order.created id={h}",
       "slow query took {ms} ms: SELECT * FROM orders WHERE customer_id = {n}",
       "connection pool exhausted, waiting for a free connection ({k} waiting)",
       "scheduled job cleanup-sessions finished, removed {n} rows")
LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
FRAMES = ("com.example.orders.OrderService.place", "com.example.orders.OrderController.create",
          "org.springframework.web.servlet.FrameworkServlet.service", "javax.servlet.http.HttpServlet.service",
          "org.apache.catalina.core.ApplicationFilterChain.doFilter", "com.zaxxer.hikari.pool.HikariPool.getConnection",
          "org.hibernate.internal.SessionImpl.find", "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker",
          "org.postgresql.core.v3.QueryExecutorImpl.execute", "com.example.payments.Client.charge")


@dataclass(frozen=True)
class Container:
    name: str
    id: str
    image: str
    image_id: str
    command: str
    created: str


def containers(rng: random.Random) -> list[Container]:
    out = []
    for k in range(CONTAINERS):
        service, image, command = SERVICES[k % len(SERVICES)]
        cid = rng.randbytes(32).hex()
        out.append(Container(f"{service}-{k // len(SERVICES) + 1}", cid, image, "sha256:" + rng.randbytes(32).hex(),
                             command, f"2026-11-{1 + k % 28:02d}T08:{k % 60:02d}:00.{rng.randrange(10**9):09d}Z"))
    return out


def _fill(rng: random.Random, text: str) -> str:
    return text.format(n=rng.randrange(1, 10**6), h=rng.randbytes(6).hex(), ms=rng.randrange(1, 5000),
                       k=rng.randrange(1, 9), ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}")


def line(rng: random.Random, c: Container) -> str:
    """An ordinary line: an access log line for the web-facing services, else an application log line."""
    if c.name.startswith(("web", "frontend", "gateway")):
        path = _fill(rng, rng.choice(PATHS))
        return (f'{_fill(rng, "{ip}")} - - [07/Dec/2026:10:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] '
                f'"{rng.choice(("GET", "GET", "POST", "PUT"))} {path} HTTP/1.1" '
                f'{rng.choice((200, 200, 201, 304, 404, 500))} '
                f'{rng.randrange(0, 40000)} "-" "{rng.choice(AGENTS)}" {rng.randrange(1, 900) / 1000:.3f}')
    return (f"2026-12-07T10:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z "
            f"{rng.choice(LEVELS)} [{c.name.split('-')[0]}-{rng.randrange(8)}] {_fill(rng, rng.choice(APP))}")


def trace(rng: random.Random) -> str:
    """A Java stack trace of 20-60 frames, with a cause."""
    text = [f"java.lang.IllegalStateException: order {rng.randrange(10**6)} cannot be placed: payment declined"]
    for depth in (rng.randrange(10, 40), rng.randrange(10, 20)):
        text += [f"\tat {rng.choice(FRAMES)}({rng.choice(FRAMES).rsplit('.', 2)[1]}.java:{rng.randrange(20, 900)})"
                 for _ in range(depth)]
        text.append(f"Caused by: org.postgresql.util.PSQLException: Connection to db:5432 refused "
                    f"({rng.randrange(99)})")
    return "\n".join(text)


def gelf_messages(count: int, seed: int = 23) -> list[bytes]:
    """``count`` GELF messages as Docker's gelf driver sends them (uncompressed JSON; the timestamp is set when
    they are encoded)."""
    rng = random.Random(seed)
    pool = containers(rng)
    out = []
    for i in range(count):
        c = pool[rng.randrange(len(pool))]
        big = rng.random() < 0.05
        message = {"version": "1.1", "host": f"docker-host-{int(c.id[:2], 16) % 4}",
                   "short_message": trace(rng) if big else line(rng, c), "timestamp": 0.0, "level": 3 if big else 6,
                   "_container_id": c.id, "_container_name": c.name, "_image_id": c.image_id,
                   "_image_name": c.image, "_command": c.command, "_tag": c.id[:12], "_created": c.created}
        out.append(orjson.dumps(message))
        if i % 1000 == 999:
            rng.seed(seed * 1_000_003 + i)
    return out


def bulk_bodies(messages: Sequence[bytes], index: str, now: float, rate: float) -> list[bytes]:
    """The messages as the daemon sends them to ``index`` when they arrive at ``rate`` a second from ``now``
    (0: 100,000 a second): decoded, numbered in clock mode, encoded by the pure core with its defaults (ids
    and ``create``), and cut into batches of a second's documents (at most the daemon's 5,000)."""
    every = 1 / (rate or 100_000)
    ingest = Ingest(IngestSettings(index=index, document_id_prefix=id_prefix(random.randbytes(ID_PREFIX_BYTES)),
                                   sequence_mode="clock", batch_max_docs=min(DEFAULT_BATCH_MAX_DOCS, int(rate) or
                                                                            DEFAULT_BATCH_MAX_DOCS)))
    bodies = []
    for k in range(0, len(messages), 100):
        stamps = [now + (k + i) * every for i in range(min(100, len(messages) - k))]
        part = [m.replace(b'"timestamp":0.0', b'"timestamp":%.3f' % t, 1)
                for m, t in zip(messages[k:k + 100], stamps, strict=True)]
        ready, rejected = ingest.take_many(part, ["172.17.0.1"] * len(part), stamps[-1], stamps=stamps)
        assert not rejected, rejected
        bodies += [b.body() for b in ready]
    if (tail := ingest.flush()) is not None:
        bodies.append(tail.body())
    return bodies


# -- the candidates ----------------------------------------------------------------------------------------

# Logstash's own template for Elasticsearch 8 (logstash-output-elasticsearch, templates/ecs-disabled/
# elasticsearch-8x.json): refresh 5 s, one shard, the message as text without norms, every other string
# text without norms with a .keyword sub-field up to 256 characters.
LOGSTASH_8X: dict[str, Any] = {
    "settings": {"index.refresh_interval": "5s", "number_of_shards": 1},
    "mappings": {
        "dynamic_templates": [
            {"message_field": {"path_match": "message", "match_mapping_type": "string",
                               "mapping": {"type": "text", "norms": False}}},
            {"string_fields": {"match": "*", "match_mapping_type": "string",
                               "mapping": {"type": "text", "norms": False,
                                           "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}},
        ],
        "properties": {"@timestamp": {"type": "date"}, "@version": {"type": "keyword"},
                       "geoip": {"dynamic": True, "properties": {
                           "ip": {"type": "ip"}, "location": {"type": "geo_point"},
                           "latitude": {"type": "half_float"}, "longitude": {"type": "half_float"}}}},
    },
}


def _ours(mapping: MappingStyle = "keyword", refresh: str = "auto", extra: dict[str, Any] | None = None,
          ) -> dict[str, Any]:
    return {"settings": {**index_settings(refresh), **(extra or {})}, "mappings": mappings("logstash", mapping)}


def _lean(more: bool = False) -> dict[str, Any]:
    """The keyword mappings with no index and no doc values for what nobody filters on (``version``), and no
    doc values for ``created`` and ``image_id``; ``more``: no doc values for ``container_id`` and
    ``command`` either, and ``created`` neither indexed nor with doc values."""
    m = copy.deepcopy(mappings("logstash", "keyword"))
    props = m["properties"]
    props["version"] = {"type": "keyword", "index": False, "doc_values": False}
    props["created"] = {"type": "date", "doc_values": False}
    props["image_id"] = {"type": "keyword", "doc_values": False}
    if more:
        props["created"] = {"type": "date", "index": False, "doc_values": False}
        props["container_id"] = props["command"] = {"type": "keyword", "doc_values": False}
    return {"settings": index_settings(), "mappings": m}


def _no_dates() -> dict[str, Any]:
    """The keyword mappings with ``created`` kept in _source only (no date to parse, nothing indexed) and
    ``version`` likewise."""
    m = mappings("logstash", "keyword")
    m["properties"]["created"] = m["properties"]["version"] = {"type": "keyword", "index": False,
                                                               "doc_values": False}
    return {"settings": index_settings(), "mappings": m}


def _installed() -> dict[str, Any]:
    t = index_template("cost-*")["template"]
    return {"settings": t["settings"], "mappings": t["mappings"]}


def _without_conflict_field() -> dict[str, Any]:
    """The installed template as it was before issue 24 mapped ``gelfingest_conflict`` (a mapping conflict's
    fields, moved aside: text, not indexed)."""
    t = copy.deepcopy(_installed())
    del t["mappings"]["properties"][CONFLICT_FIELD]
    return t


# Each candidate: index settings and mappings (None: no template at all).
CANDIDATES: dict[str, Callable[[], dict[str, Any] | None]] = {
    "logstash-8x": lambda: LOGSTASH_8X,
    "none": lambda: None,
    "gelfingest-before": lambda: _ours("logstash", "1s"),
    "gelfingest": _installed,
    "gelfingest-5s": lambda: _ours(refresh="5s"),
}
# Measured to choose the defaults; --candidates names them.
VARIANTS: dict[str, Callable[[], dict[str, Any] | None]] = {
    "text-unset": lambda: {"settings": {}, "mappings": mappings("logstash", "logstash")},
    "keyword-unset": lambda: {"settings": {}, "mappings": mappings("logstash", "keyword")},
    "keyword-1s": lambda: _ours(refresh="1s"),
    "keyword-30s": lambda: _ours(refresh="30s"),
    "keyword-idle0s": lambda: {"settings": {"index.search.idle.after": "0s"}, "mappings": mappings()},
    "keyword-lean": _lean,
    "keyword-leaner": lambda: _lean(more=True),
    "keyword-no-dates": _no_dates,
    "keyword-best-compression": lambda: _ours(extra={"index.codec": "best_compression"}),
    "keyword-2-shards": lambda: _ours(extra={"number_of_shards": 2}),
    "gelfingest-no-conflict-field": _without_conflict_field,
}

# -- a run -------------------------------------------------------------------------------------------------

DISCOVER_QUERY: dict[str, Any] = {
    "size": 500, "track_total_hits": True,
    "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "boolean"}},
             {"sequence": {"order": "desc", "unmapped_type": "boolean"}}],
    "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": "now-15m", "lte": "now",
                                                            "format": "strict_date_optional_time"}}}]}},
    "aggs": {"histogram": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30s",
                                              "min_doc_count": 1}}},
}


@dataclass
class Reader:
    """Discover every READER_INTERVAL seconds on one index, in a thread, until stopped."""

    es_url: str
    index: str
    acked: list[tuple[float, int]]
    searches: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            answer = es_call(self.es_url, "POST", f"/{self.index}/_search", DISCOVER_QUERY)
            self.searches.append((t0, time.perf_counter() - t0, answer["hits"]["total"]["value"]))
            self._stop.wait(max(0.0, READER_INTERVAL - (time.perf_counter() - t0)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def stale_seconds(self) -> float:
        """The largest time by which a search's answer was behind what had been acknowledged when it was sent:
        how long before the search the newest document it saw had been acknowledged, at most."""
        worst = 0.0
        for sent, _took, hits in self.searches:
            before = [(t, n) for t, n in self.acked if t <= sent]
            if not before or before[-1][1] <= hits:
                continue
            # The first acknowledgement the answer did not include.
            missed = next(t for t, n in before if n > hits)
            worst = max(worst, sent - missed)
        return worst


def create(es_url: str, index: str, candidate: dict[str, Any] | None) -> None:
    """The index, through a template of its own (as gelfingest installs one), or with none."""
    if candidate is not None:
        es_call(es_url, "PUT", f"/_index_template/{index}",
                {"index_patterns": [index], "priority": 500, "template": candidate})
    es_call(es_url, "PUT", f"/{index}")


def drop(es_url: str, index: str) -> None:
    for path in (f"/{index}", f"/_index_template/{index}"):
        try:
            es_call(es_url, "DELETE", path)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise


def hot_threads(es_url: str, path: Path) -> None:
    with urllib.request.urlopen(es_url + "/_nodes/hot_threads?threads=5&interval=500ms", timeout=60) as r:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(r.read())


def run(es: LocalElasticsearch, name: str, pattern: str, index: str, messages: Sequence[bytes], rate: float,
        reader: Reader | None, hot: Path | None, after: float = AFTER_SECONDS) -> dict[str, Any]:
    """Index the messages into ``index`` (created already) at ``rate`` (0: as fast as it goes) and measure;
    ``reader`` searches meanwhile."""
    quiet(es)
    bodies = bulk_bodies(messages, index, time.time(), rate)
    cpu0 = es_cpu(es)
    t0 = time.perf_counter()
    if hot is not None:
        threading.Timer(1.0, hot_threads, (es.url, hot)).start()
    took = post_bulks(es.url, bodies, CONCURRENCY, acked=reader.acked if reader else None, rate=rate)
    es_call(es.url, "POST", f"/{index}/_refresh")
    time.sleep(after)
    cpu = es_cpu(es) - cpu0
    if reader is not None:
        reader.stop()
    es_call(es.url, "POST", f"/{index}/_refresh")
    count = es_call(es.url, "GET", f"/{index}/_count")["count"]
    assert count == len(messages), (index, count)
    store = es_call(es.url, "GET", f"/{index}/_stats/store")["_all"]["primaries"]["store"]["size_in_bytes"]
    row = {"candidate": name, "pattern": pattern, "docs": len(messages),
           "es_us_per_doc": round(cpu / len(messages) * 1e6, 1), "docs_per_s": round(len(messages) / took),
           "store_mb": round(store / 1e6, 1), "seconds": round(time.perf_counter() - t0, 1)}
    if reader is not None:
        row["searches"] = len(reader.searches)
        latencies = [t for _, t, _ in reader.searches]
        row["search_ms"] = round(statistics.median(latencies) * 1000) if latencies else None
        row["stale_s"] = round(reader.stale_seconds(), 2)
    return row


def round_of(es: LocalElasticsearch, names: Sequence[str], pattern: str, k: int, messages: Sequence[bytes],
             rate: float, hot_dir: Path | None = None, after: float = AFTER_SECONDS) -> list[dict[str, Any]]:
    """Every candidate once in ``pattern``; the indices of the idle and max patterns are all created first
    and left unsearched for IDLE_AFTER_CREATION."""
    build = {**CANDIDATES, **VARIANTS}
    index = {n: f"cost-{n}-{pattern}-{k}" for n in names}
    rows = []
    try:
        if pattern in ("idle", "max"):
            for n in names:
                create(es.url, index[n], build[n]())
            log(f"round {k}, {pattern}: {len(names)} indices created; {IDLE_AFTER_CREATION:.0f} s unsearched first")
            time.sleep(IDLE_AFTER_CREATION)
        for n in names:
            reader = None
            if pattern == "reader":
                create(es.url, index[n], build[n]())
                reader = Reader(es.url, index[n], [])
                reader.start()
            hot = hot_dir / f"hot-threads-{n}-{pattern}-{k}.txt" if hot_dir else None
            rows.append(run(es, n, pattern, index[n], messages, 0.0 if pattern == "max" else rate, reader, hot,
                            after))
            log(json.dumps(rows[-1]))
            drop(es.url, index[n])
    finally:
        for n in names:
            drop(es.url, index[n])
    return rows


def log(msg: str) -> None:
    print(f"[es-cost {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per candidate and pattern: the medians, and the CPU per document against Logstash's."""
    out = []
    for pattern in dict.fromkeys(r["pattern"] for r in rows):
        def median(name: str, key: str, pattern: str = pattern) -> float | None:
            values = [r[key] for r in rows if r["candidate"] == name and r["pattern"] == pattern
                      and r.get(key) is not None]
            return round(statistics.median(values), 2) if values else None
        peer = median("logstash-8x", "es_us_per_doc")
        for name in dict.fromkeys(r["candidate"] for r in rows):
            cpu = median(name, "es_us_per_doc")
            s = {"candidate": name, "pattern": pattern, "es_us_per_doc": cpu,
                 "ratio_to_logstash": round(cpu / peer, 2) if cpu and peer else None,
                 "docs_per_s": median(name, "docs_per_s"), "store_mb": median(name, "store_mb")}
            if pattern == "reader":
                s["search_ms"], s["stale_s"] = median(name, "search_ms"), median(name, "stale_s")
            out.append(s)
    return out


def table(rows: Sequence[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [keys] + [["-" if r.get(k) is None else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cs, widths, strict=True)))
                     for cs in cells)


def idle_cores(es: LocalElasticsearch) -> float:
    """The cores Elasticsearch keeps busy doing nothing (over AFTER_SECONDS): part of every run's figure,
    the same for every candidate, so it pulls every ratio towards 1."""
    quiet(es)
    cpu0 = es_cpu(es)
    time.sleep(AFTER_SECONDS)
    return round((es_cpu(es) - cpu0) / AFTER_SECONDS, 3)


def measure(es: LocalElasticsearch, names: Sequence[str], patterns: Sequence[str], rounds: int, docs: int,
            rate: float, hot_dir: Path | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every candidate once uncounted, then in every pattern, ``rounds`` times, the order reversed every
    other round; the runs and their summary."""
    log("warming Elasticsearch up: each candidate once, not counted")
    round_of(es, names, "reader", 0, gelf_messages(min(docs, 30_000), seed=1), 0.0, after=2.0)
    log(f"Elasticsearch idle: {idle_cores(es)} cores")
    messages = gelf_messages(docs)
    rows: list[dict[str, Any]] = []
    for k in range(rounds):
        order = list(names) if k % 2 == 0 else list(names)[::-1]
        for pattern in patterns:
            rows += round_of(es, order, pattern, k + 1, messages, rate, hot_dir)
    return rows, summary(rows)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--patterns", nargs="+", choices=("idle", "reader", "max"), default=["idle", "reader", "max"])
    p.add_argument("--rate", type=float, default=DEFAULT_RATE, help="documents a second in idle and reader (0: as fast "
                   "as they are taken)")
    p.add_argument("--candidates", nargs="+", choices=[*CANDIDATES, *VARIANTS], default=list(CANDIDATES))
    p.add_argument("--heap", default="1g", help="the local Elasticsearch's heap (the suite's)")
    p.add_argument("--hot-threads", action="store_true", help="save the hot threads API's answer of each run")
    p.add_argument("--json", type=Path, default=RESULTS / "es_cost.json")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    es = LocalElasticsearch(heap=args.heap)
    log(f"starting a local Elasticsearch (heap {args.heap})")
    es.start()
    try:
        rows, medians = measure(es, args.candidates, args.patterns, args.rounds, args.docs, args.rate,
                                args.json.parent if args.hot_threads else None)
    finally:
        es.cleanup()
    print(table(rows))
    print()
    print(table(medians))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    options = vars(args) | {"json": str(args.json)}
    result = {"machine": machine(), "runs": rows, "medians": medians, "options": options}
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
