"""One configuration object, built from command-line flags and environment variables.

Every setting is a flag and an environment variable (``--flag-name`` / ``GELFINGEST_FLAG_NAME``, except
the few names users of the original stack already rely on: ``SEQUENCE_SEED``, ``SEQUENCE_ITERATOR``,
``ELASTICSEARCH_HOSTS``). A flag wins over the variable, the variable over the default. A bad value
stops the start with one line that names the flag and the variable.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, get_args

from gelfingest.core.batch import DEFAULT_BATCH_MAX_AGE, DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_DOCS
from gelfingest.core.bulk import DEFAULT_INDEX_PATTERN, ECS_INDEX_PATTERN
from gelfingest.core.chunks import DEFAULT_CHUNK_TIMEOUT, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_MESSAGES
from gelfingest.core.decompress import DEFAULT_MAX_MESSAGE_SIZE
from gelfingest.core.fields import DEFAULT_MAX_DEPTH, DEFAULT_MAX_FIELD_NAME, DEFAULT_MAX_FIELDS
from gelfingest.core.framing import DEFAULT_MAX_FRAME, Framing
from gelfingest.core.indices import (
    DEFAULT_MAX_INDEX_TARGETS,
    dated_index,
    has_references,
    literal_prefix,
    without_references,
    write_alias,
)
from gelfingest.core.indices import parse as parse_pattern
from gelfingest.core.ingest import DEFAULT_INDEX_MAX_AGE, DEFAULT_INDEX_MAX_AHEAD, IngestSettings, Schema
from gelfingest.core.sequence import DEFAULT_ITERATOR, DEFAULT_SEED, SequenceMode, check_sequence_settings
from gelfingest.core.streams import (
    DEFAULT_MAX_PENDING_STREAMS,
    DEFAULT_MAX_REORDER_WINDOW,
    DEFAULT_MULTILINE_MAX_LINES,
    DEFAULT_MULTILINE_TIMEOUT,
    DEFAULT_PARTIAL_TIMEOUT,
    DEFAULT_REORDER_WINDOW,
    LANGUAGES,
)
from gelfingest.core.template import AUTO_REFRESH, DEFAULT_TEMPLATE_NAME, ECS_TEMPLATE_NAME, MappingStyle
from gelfingest.net import MAX_UDP_PAYLOAD, Address, parse_address
from gelfingest.storage.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_MAX_BYTES

# How the UDP inputs read (inputs/udp.py, inputs/mmsg.py).
UdpReader = Literal["auto", "recvmmsg", "recvfrom"]

OutputKind = Literal["elasticsearch", "stdout", "null"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
DocumentId = Literal["sequence", "auto"]
Compression = Literal["none", "gzip"]
IndexMode = Literal["daily", "rollover"]
HttpAck = Literal["durable", "received"]


class ConfigError(ValueError):
    """A setting with a value we cannot use; the message names the flag and the variable."""


_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def parse_peers(text: str) -> tuple[Address, ...]:
    peers = []
    for part in text.split(","):
        if part.strip():
            address = parse_address(part)
            if address is None:
                raise ValueError(f"expected HOST:PORT, got {part!r}")
            peers.append(address)
    return tuple(peers)


def parse_ports(text: str) -> tuple[int, ...]:
    return tuple(parse_int(p) for p in text.split(",") if p.strip())


def parse_size(text: str) -> int:
    """Bytes: ``8388608``, ``8MiB``, ``64M``."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not m or m[2].lower() not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 8MiB, got {text!r}")
    return int(m[1]) * _SIZE_UNITS[m[2].lower()]


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise ValueError(f"expected a number of 0 or more, got {text!r}")
    return value


def parse_es_size(text: str) -> str:
    """A size as Elasticsearch writes it: ``30gb``, ``500mb``."""
    t = text.strip().lower()
    if not re.fullmatch(r"\d+(b|kb|mb|gb|tb|pb)", t):
        raise ValueError(f"expected a size such as 30gb or 500mb, got {text!r}")
    return t


def parse_es_time(text: str) -> str:
    """A duration as Elasticsearch writes it: ``1d``, ``12h``, ``30m``."""
    t = text.strip().lower()
    if not re.fullmatch(r"\d+(d|h|m|s|ms)", t):
        raise ValueError(f"expected a duration such as 1d, 12h or 30m, got {text!r}")
    return t


def parse_refresh_interval(text: str) -> str:
    """``auto``, ``-1`` or a duration as Elasticsearch writes it (``500ms``, ``5s``, ``1m``)."""
    t = text.strip().lower()
    if t != AUTO_REFRESH and t != "-1" and not re.fullmatch(r"\d+(ms|s|m|h)", t):
        raise ValueError(f"expected auto, -1 or a duration such as 5s or 30s, got {text!r}")
    return t


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_languages(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in LANGUAGES]
    if unknown:
        raise ValueError(f"expected some of {', '.join(LANGUAGES)}, got {', '.join(unknown)}")
    return names


def parse_tls_inputs(text: str) -> tuple[str, ...]:
    names = tuple(p.strip().lower().replace("_", "-") for p in text.split(",") if p.strip())
    unknown = [n for n in names if n not in ("tcp", "http", "json-tcp", "otlp")]
    if unknown:
        raise ValueError(f"expected tcp, http, json-tcp or otlp, got {', '.join(unknown)}")
    return names


def parse_hosts(text: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in text.split(",") if h.strip())
    if not hosts:
        raise ValueError("expected at least one URL")
    for h in hosts:
        if not re.match(r"https?://", h):
            raise ValueError(f"expected http:// or https:// URLs, got {h!r}")
    return hosts


def _choice(kind: Any) -> Callable[[str], str]:
    choices = get_args(kind)

    def parse(text: str) -> str:
        if text.strip().lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text.strip().lower()

    return parse


# The groups of options, in the order --help and docs/configuration.md show them.
GROUPS: Final = {
    "inputs": "Inputs",
    "tls": "TLS on the inputs",
    "elasticsearch": "Output and Elasticsearch",
    "indices": "Documents and indices",
    "sequence": "Sequence",
    "fleet": "Workers and fleet",
    "batching": "Batching, queue and spool",
    "limits": "Limits on input",
    "streams": "Container streams",
    "processing": "Processors",
    "logging": "Logging",
}
Group = Literal["inputs", "tls", "elasticsearch", "indices", "sequence", "fleet", "batching", "limits", "streams",
                "processing", "logging"]


def _opt(default: Any, parse: Callable[[str], Any], help: str, *, group: Group, env: str | None = None,
         metavar: str | None = None, secret: bool = False, shown: str | None = None,
         minimum: int | None = None) -> Any:
    """``secret``: also read from a file (``--flag-file`` / ``VARIABLE_FILE``), never shown (repr, logs).
    ``shown``: the default as the reference states it, when it depends on another setting.
    ``minimum``: the smallest value taken."""
    return field(default=default, repr=not secret,
                 metadata={"parse": parse, "help": help, "group": group, "env": env, "metavar": metavar,
                           "secret": secret, "shown": shown, "minimum": minimum})


GELF_UDP_PORT: Final = 12201
GELF_HTTP_PORT: Final = 12202


@dataclass(frozen=True)
class Config:
    # -- inputs
    udp: Address | None = _opt(Address("0.0.0.0", GELF_UDP_PORT), parse_address,
                               "GELF UDP listener (HOST:PORT, or off)", group="inputs", metavar="ADDR")
    udp_receive_buffer: int = _opt(256 * 1024 * 1024, parse_size, "UDP socket receive buffer asked for (the "
                                   "kernel counts twice that; it holds a burst while the worker is behind: "
                                   "docs/performance.md)",
                                   group="inputs", metavar="SIZE", minimum=1)
    udp_reader: UdpReader = _opt("auto", _choice(UdpReader),
                                 "how the UDP inputs read: recvmmsg (64 datagrams a system call, Linux), "
                                 "recvfrom (one a call), or auto (recvmmsg where it works)", group="inputs",
                                 metavar="READER")
    tcp: Address | None = _opt(Address("0.0.0.0", GELF_UDP_PORT), parse_address,
                               "GELF TCP listener (HOST:PORT, or off)", group="inputs", metavar="ADDR")
    tcp_framing: Framing = _opt("nul", _choice(Framing), "what ends a TCP frame: nul (GELF), newline or auto",
                                group="inputs")
    tcp_max_frame: int = _opt(DEFAULT_MAX_FRAME, parse_size, "largest TCP frame; larger ones are skipped and "
                              "counted, the connection stays up", group="inputs", metavar="SIZE", minimum=1)
    tcp_idle_timeout: float = _opt(300.0, parse_float, "seconds a TCP connection may stay silent",
                                   group="inputs", metavar="SECONDS")
    tcp_frame_timeout: float = _opt(60.0, parse_float, "seconds one TCP frame may take to arrive whole once it "
                                    "started (a client trickling bytes is closed after)", group="inputs",
                                    metavar="SECONDS")
    tcp_max_connections: int = _opt(10_000, parse_int, "TCP connections at once; more are refused and counted",
                                    group="inputs", metavar="N", minimum=1)
    http: Address | None = _opt(Address("0.0.0.0", GELF_HTTP_PORT), parse_address,
                                "GELF HTTP listener: POST /gelf, GET /healthz and /readyz (HOST:PORT, or off)",
                                group="inputs", metavar="ADDR")
    otlp: Address | None = _opt(None, parse_address, "OpenTelemetry logs over HTTP: POST /v1/logs, protobuf and "
                                "JSON (HOST:PORT, or off; OTLP's port is 4318; docs/otlp.md)", group="inputs",
                                metavar="ADDR")
    otlp_max_body: int = _opt(16 * 1024 * 1024, parse_size, "largest OTLP request body, as sent and decompressed "
                              "(413): a Collector's batch of 8,192 records fits", group="inputs", metavar="SIZE",
                              minimum=1)
    http_ack: HttpAck = _opt("durable", _choice(HttpAck), "when POST /gelf and /v1/logs answer success: durable "
                             "(once the events are indexed, or written and synced to the spool) or received "
                             "(once decoded; lost if the daemon dies before they are sent)", group="inputs",
                             metavar="WHEN")
    http_ack_delay: float = _opt(0.05, parse_float, "seconds the batch an answer waits on waits for more requests "
                                 "before it goes (group commit: one bulk request for them all; Logstash's "
                                 "pipeline.batch.delay is 50 ms)", group="inputs", metavar="SECONDS")
    http_ack_timeout: float = _opt(3.0, parse_float, "seconds an answer waits for Elasticsearch before the events "
                                   "are spooled and the answer given (under the OpenTelemetry exporters' 10 s and "
                                   "graypy's 5 s)", group="inputs", metavar="SECONDS")
    http_max_body: int = _opt(8 * 1024 * 1024, parse_size, "largest HTTP body, as sent and decompressed (413)",
                              group="inputs", metavar="SIZE", minimum=1)
    http_max_connections: int = _opt(10_000, parse_int, "HTTP connections at once; more are closed at once and "
                                     "counted", group="inputs", metavar="N", minimum=1)
    http_read_timeout: float = _opt(30.0, parse_float, "seconds a request body may take to arrive (408 after)",
                                    group="inputs", metavar="SECONDS")
    http_idle_timeout: float = _opt(75.0, parse_float, "seconds an HTTP connection may stay without a request "
                                    "(also the time a request's headers may take)", group="inputs",
                                    metavar="SECONDS")
    http_token: str = _opt("", str, "when set, POST /gelf needs 'Authorization: Bearer TOKEN' (401)",
                           group="inputs", secret=True)
    metrics: Address | None = _opt(None, parse_address, "a separate, plain-HTTP address for /metrics, /healthz "
                                   "and /readyz; when set, /metrics leaves --http (the health checks stay on both)",
                                   group="inputs", metavar="ADDR")
    json_tcp: Address | None = _opt(None, parse_address, "logspout's logstash adapter over TCP: JSON lines "
                                    "(HOST:PORT, or off)", group="inputs", metavar="ADDR")
    json_udp: Address | None = _opt(None, parse_address, "logspout's logstash adapter over UDP: one JSON line "
                                    "a datagram (HOST:PORT, or off)", group="inputs", metavar="ADDR")
    # -- TLS on the inputs
    tls_cert: str = _opt("", str, "certificate (PEM, with its chain) for TLS on the inputs named by --tls-inputs",
                         group="tls", metavar="FILE")
    tls_key: str = _opt("", str, "private key (PEM) of --tls-cert (default: in the certificate file)",
                        group="tls", metavar="FILE")
    tls_key_password: str = _opt("", str, "password of an encrypted --tls-key", group="tls", secret=True)
    tls_client_ca: str = _opt("", str, "when set, TLS clients must present a certificate signed by this CA",
                              group="tls", metavar="FILE")
    tls_inputs: tuple[str, ...] = _opt(("tcp", "http"), parse_tls_inputs, "the inputs that speak TLS when "
                                       "--tls-cert is set: tcp, http, json-tcp (comma-separated)", group="tls",
                                       metavar="INPUTS")
    # -- output and Elasticsearch
    output: OutputKind = _opt("elasticsearch", _choice(OutputKind),
                              "elasticsearch, stdout (one JSON document a line) or null (encode, send nothing)",
                              group="elasticsearch")
    elasticsearch: tuple[str, ...] = _opt(("http://127.0.0.1:9200",), parse_hosts,
                                          "Elasticsearch URLs, comma-separated", group="elasticsearch",
                                          env="ELASTICSEARCH_HOSTS", metavar="URLS")
    elasticsearch_username: str = _opt("", str, "user for HTTP basic authentication", group="elasticsearch")
    elasticsearch_password: str = _opt("", str, "password for HTTP basic authentication", group="elasticsearch",
                                       secret=True)
    elasticsearch_api_key: str = _opt("", str, "API key (the base64 'id:key' form) instead of a password",
                                      group="elasticsearch", secret=True)
    elasticsearch_ca_certs: str = _opt("", str, "CA bundle to verify Elasticsearch's TLS certificate",
                                       group="elasticsearch", metavar="FILE")
    elasticsearch_verify_certs: bool = _opt(True, parse_bool, "verify Elasticsearch's TLS certificate",
                                            group="elasticsearch")
    elasticsearch_timeout: float = _opt(60.0, parse_float, "seconds to wait for one bulk request",
                                        group="elasticsearch")
    elasticsearch_bulk_timeout: float = _opt(10.0, parse_float, "seconds Elasticsearch may wait for a shard to "
                                             "take writes (the bulk request's timeout): a cluster that lost its "
                                             "quorum answers 503 after this, and the spool takes over",
                                             group="elasticsearch", metavar="SECONDS")
    elasticsearch_sniff: bool = _opt(False, parse_bool, "find the cluster's nodes from the cluster itself, at "
                                     "start and when one fails, besides ELASTICSEARCH_HOSTS (not behind a proxy "
                                     "or a load balancer: the nodes' own addresses must be reachable)",
                                     group="elasticsearch")
    elasticsearch_concurrency: int = _opt(2, parse_int, "bulk requests in flight at once (2 feeds a "
                                          "single node on 2 cores best)", group="elasticsearch", minimum=1)
    elasticsearch_compression: Compression = _opt("none", _choice(Compression), "none, or gzip: bulk bodies "
                                                  "compressed at level 1 (Content-Encoding: gzip), about 3x "
                                                  "smaller on the wire for more CPU on both ends; see "
                                                  "docs/performance.md", group="elasticsearch")
    retry_initial: float = _opt(0.5, parse_float, "first wait before resending to Elasticsearch",
                                group="elasticsearch", metavar="SECONDS")
    retry_max: float = _opt(30.0, parse_float, "longest wait between resends", group="elasticsearch",
                            metavar="SECONDS")
    # -- documents and indices
    schema: Schema = _opt("logstash", _choice(Schema),
                          "the documents' fields: logstash (as Logstash's gelf input made them) or ecs (the "
                          "Elastic Common Schema: log.level, host.name, container.*, event.sequence, the other "
                          "GELF fields under gelf.*; see docs/ecs.md)", group="indices")
    index: str = _opt(DEFAULT_INDEX_PATTERN, str,
                      "index name, a strftime pattern applied to each event's @timestamp (UTC), with field "
                      "references such as %{container_name} (it must then begin with literal text, which every "
                      "name keeps; see docs/operations.md)", group="indices",
                      shown=f"`{DEFAULT_INDEX_PATTERN}`; `{ECS_INDEX_PATTERN}` with `--schema ecs`")
    index_fallback: str = _opt("", str, "where events go that lack a field --index refers to, or past "
                               "--max-index-targets", group="indices",
                               shown="the `--index` pattern without its field references")
    max_index_targets: int = _opt(DEFAULT_MAX_INDEX_TARGETS, parse_int, "distinct index names one worker writes "
                                  "to in a day through field references; new ones past that go to the fallback, "
                                  "counted", group="indices", metavar="N", minimum=1)
    pipeline: str = _opt("", str, "the ingest pipeline every event goes through (field references allowed, "
                         "then with a literal prefix; an event without the field goes through none)",
                         group="indices", metavar="NAME")
    index_mode: IndexMode = _opt("daily", _choice(IndexMode), "daily: one index per day of the pattern, as "
                                 "Logstash; rollover: a write alias per target (logstash-write over "
                                 "logstash-000001) rolled over by the --rollover-* conditions",
                                 group="indices")
    retention_days: int = _opt(0, parse_int, "delete gelfingest's own indices older than this many days, at start "
                               "and every --lifecycle-interval (0: keep them forever)", group="indices",
                               metavar="N", minimum=0)
    retention_dry_run: bool = _opt(False, parse_bool, "log what retention would delete, delete nothing",
                                   group="indices")
    rollover_max_size: str = _opt("30gb", parse_es_size, "roll over a write alias when its index is this large "
                                  "(primary shards)", group="indices", metavar="SIZE")
    rollover_max_age: str = _opt("1d", parse_es_time, "roll over a write alias when its index is this old",
                                 group="indices", metavar="AGE")
    rollover_max_docs: int = _opt(0, parse_int, "roll over a write alias when its index holds this many "
                                  "documents (0: no limit)", group="indices", metavar="N", minimum=0)
    lifecycle_interval: float = _opt(60.0, parse_float, "seconds between two runs of retention and rollover",
                                     group="indices", metavar="SECONDS")
    ilm_policy: str = _opt("", str, "an Elasticsearch lifecycle policy for the indices (index.lifecycle.name "
                           "in the template); needs the default distribution, refused at start otherwise",
                           group="indices", metavar="NAME")
    data_stream: str = _opt("", str, "write to this data stream instead of --index (create only); needs "
                            "Elasticsearch 7.9+ with the default distribution, refused at start otherwise",
                            group="indices", metavar="NAME")
    index_max_age: float = _opt(DEFAULT_INDEX_MAX_AGE, parse_float, "an event older than this (by its own "
                                "timestamp) goes to the index of its receive time, keeping its @timestamp: a "
                                "sender cannot create an index for every past day", group="indices",
                                metavar="SECONDS")
    index_max_ahead: float = _opt(DEFAULT_INDEX_MAX_AHEAD, parse_float, "the same for events dated ahead of the "
                                  "receive time", group="indices", metavar="SECONDS")
    document_id: DocumentId = _opt("sequence", _choice(DocumentId),
                                   "sequence: each event's _id is a per-start prefix and its sequence, sent as "
                                   "op_type create, so a resend is answered 409 and never indexed twice; auto: "
                                   "Elasticsearch picks ids (op_type index), cheaper, but a resend after a lost "
                                   "answer or a crash indexes a duplicate", group="indices")
    dedot_fields: bool = _opt(False, parse_bool, "replace the dots in additional field names with _ (Logstash's "
                              "de_dot): Docker labels such as com.docker.compose.project and "
                              "com.docker.compose.project.working_dir from two containers then stop clashing "
                              "as a value and an object in one index", group="indices")
    install_template: bool = _opt(True, parse_bool, "install the index template for the pattern at start",
                                  group="indices")
    template_name: str = _opt(DEFAULT_TEMPLATE_NAME, str, "name of the composable index template",
                              group="indices",
                              shown=f"`{DEFAULT_TEMPLATE_NAME}`; `{ECS_TEMPLATE_NAME}` with `--schema ecs`")
    mapping: MappingStyle = _opt("keyword", _choice(MappingStyle), "how the template maps strings (logstash "
                                 "schema): keyword (message and full_message text, names, ids and other strings "
                                 "keyword only) or logstash (every string text with a .keyword sub-field, as "
                                 "Logstash's template: for saved searches on container_name.keyword; costs "
                                 "Elasticsearch more, see docs/migration.md)", group="indices")
    refresh_interval: str = _opt(AUTO_REFRESH, parse_refresh_interval, "the template's index.refresh_interval: "
                                 "auto leaves it unset, so an index nobody searches is not refreshed and one "
                                 "somebody searches is refreshed once per search (index.search.idle.after 1s), "
                                 "every search seeing all that was indexed before it; or a duration (5s, 30s) "
                                 "or -1, set as given, refreshing on that schedule whether anyone searches or "
                                 "not (docs/performance.md)", group="indices", metavar="INTERVAL")
    # -- sequence
    sequence_seed: int = _opt(DEFAULT_SEED, parse_int, "first sequence number (seed + n*iterator)",
                              group="sequence", env="SEQUENCE_SEED", metavar="N")
    sequence_iterator: int = _opt(DEFAULT_ITERATOR, parse_int,
                                  "step between sequence numbers: the number of instances", group="sequence",
                                  env="SEQUENCE_ITERATOR", metavar="N")
    sequence_mode: SequenceMode = _opt("clock", _choice(SequenceMode),
                                       "clock (n follows the receive time in 10 us ticks, so instances behind "
                                       "one balancer agree on order through restarts and loss) or counter (seed "
                                       "+ n*iterator, n = 0, 1, 2 ... as the original stack numbered; exact only "
                                       "while nothing is lost or restarted); see docs/ordering.md",
                                       group="sequence")
    # -- workers and fleet
    workers: int = _opt(1, parse_int, "worker processes; each binds the listeners with SO_REUSEPORT",
                        group="fleet", metavar="N", minimum=1)
    worker_index: int = _opt(0, parse_int, "which worker this process is (set by the supervisor)", group="fleet",
                             metavar="K")
    worker_ports: tuple[int, ...] = _opt((), parse_ports, "loopback UDP ports on which the workers pass chunks "
                                         "to each other (set by the supervisor)", group="fleet", metavar="PORTS")
    chunk_forward: Address | None = _opt(None, parse_address, "UDP address where this instance takes chunks "
                                         "forwarded by its peers (HOST:PORT, or off)", group="fleet",
                                         metavar="ADDR")
    peers: tuple[Address, ...] = _opt((), parse_peers, "the chunk-forward addresses of the other instances, "
                                      "comma-separated: each chunked message is reassembled by one owner",
                                      group="fleet", metavar="ADDRS")
    advertise: str = _opt("", str, "this instance's chunk-forward address as its peers list it (default: "
                          "--chunk-forward)", group="fleet", metavar="ADDR")
    # -- batching, queue and spool
    batch_max_docs: int = _opt(DEFAULT_BATCH_MAX_DOCS, parse_int, "documents per bulk request",
                               group="batching", metavar="N", minimum=1)
    batch_max_bytes: int = _opt(DEFAULT_BATCH_MAX_BYTES, parse_size, "bytes per bulk request",
                                group="batching", metavar="SIZE", minimum=1)
    batch_max_age: float = _opt(DEFAULT_BATCH_MAX_AGE, parse_float,
                                "seconds an event may wait for its batch to fill", group="batching",
                                metavar="SECONDS")
    queue_batches: int = _opt(16, parse_int, "batches held in memory for the output; beyond that the inputs "
                              "pause until there is room or the batches go to the spool", group="batching",
                              metavar="N", minimum=1)
    queue_max_bytes: int = _opt(10 * 1024 * 1024, parse_size, "bytes of batches held in memory for the output "
                                "(besides those being sent); a batch is always taken into an empty queue",
                                group="batching", metavar="SIZE", minimum=1)
    spool_after: float = _opt(1.0, parse_float, "seconds Elasticsearch may be unavailable or slower than the "
                              "input before batches go to the spool on disk", group="batching", metavar="SECONDS")
    spool_max_bytes: int = _opt(DEFAULT_SPOOL_MAX_BYTES, parse_size, "disk the spool may use (zstd-compressed); "
                                "when it is full the inputs pause (UDP datagrams then drop in the kernel, "
                                "counted)", group="batching", metavar="SIZE", minimum=1)
    data_dir: Path = _opt(Path("gelfingest-data"), Path, "directory for the daemon's state: the spool, the "
                          "dead-letter queue, the sequence reservations, the metrics snapshots", group="batching",
                          metavar="DIR")
    shutdown_timeout: float = _opt(30.0, parse_float,
                                   "seconds to flush to Elasticsearch at shutdown; what is left goes to the "
                                   "spool and is sent at the next start", group="batching", metavar="SECONDS")
    # -- limits on input
    max_message_size: int = _opt(DEFAULT_MAX_MESSAGE_SIZE, parse_size,
                                 "largest message once decompressed; larger ones are rejected, never "
                                 "truncated", group="limits", metavar="SIZE", minimum=1)
    max_datagram: int = _opt(MAX_UDP_PAYLOAD, parse_size, "largest UDP datagram taken (the default takes every "
                             "size UDP can carry; Logstash reads 8192 bytes)", group="limits", metavar="SIZE",
                             minimum=1)
    max_json_depth: int = _opt(DEFAULT_MAX_DEPTH, parse_int, "deepest nesting of objects and arrays in a "
                               "message (the message is depth 1; Elasticsearch's index.mapping.depth.limit "
                               "is 20)", group="limits", metavar="N", minimum=1)
    max_fields: int = _opt(DEFAULT_MAX_FIELDS, parse_int, "most fields in a message, nested ones included "
                           "(Elasticsearch's index.mapping.total_fields.limit is 1000)", group="limits",
                           metavar="N", minimum=1)
    max_field_name_length: int = _opt(DEFAULT_MAX_FIELD_NAME, parse_int, "longest field name, in characters",
                                      group="limits", metavar="N", minimum=1)
    chunk_timeout: float = _opt(DEFAULT_CHUNK_TIMEOUT, parse_float,
                                "seconds a chunked message may take to arrive whole", group="limits",
                                metavar="SECONDS")
    max_pending_chunked: int = _opt(DEFAULT_MAX_PENDING_MESSAGES, parse_int,
                                    "incomplete chunked messages held at once (oldest evicted)", group="limits",
                                    metavar="N", minimum=1)
    max_pending_chunk_bytes: int = _opt(DEFAULT_MAX_PENDING_BYTES, parse_size,
                                        "bytes of incomplete chunked messages held at once", group="limits",
                                        metavar="SIZE", minimum=1)
    # -- container streams
    join_partial: bool = _opt(False, parse_bool, "join Docker's 16 KiB pieces of a long line back into the line "
                              "(see docs/streams.md)", group="streams")
    partial_timeout: float = _opt(DEFAULT_PARTIAL_TIMEOUT, parse_float, "seconds a piece waits for the rest of "
                                  "its line; then it goes alone, counted", group="streams", metavar="SECONDS")
    multiline: tuple[str, ...] = _opt((), parse_languages, "join the lines of stack traces into one event: java, "
                                      "python, go, node, ruby, custom (comma-separated)", group="streams",
                                      metavar="RULES")
    multiline_start: str = _opt("", str, "custom: the pattern (Python re) of a trace's first line",
                                group="streams", metavar="REGEX")
    multiline_continue: str = _opt("", str, "custom: the pattern of the lines that continue it", group="streams",
                                   metavar="REGEX")
    multiline_max_lines: int = _opt(DEFAULT_MULTILINE_MAX_LINES, parse_int, "most lines joined into one event",
                                    group="streams", metavar="N", minimum=1)
    multiline_timeout: float = _opt(DEFAULT_MULTILINE_TIMEOUT, parse_float, "seconds a trace waits for its next "
                                    "line before it goes as it stands", group="streams", metavar="SECONDS")
    stream_reorder_window: float = _opt(DEFAULT_REORDER_WINDOW, parse_float, "seconds a stream's owner holds "
                                        "its events at least, to put them back in the order they were "
                                        "received", group="streams", metavar="SECONDS")
    stream_max_reorder_window: float = _opt(DEFAULT_MAX_REORDER_WINDOW, parse_float, "seconds it holds them at "
                                            "most, when forwarded events come late (a busy fleet)",
                                            group="streams", metavar="SECONDS")
    stream_rate_limit: int = _opt(0, parse_int, "events a second one stream may send (a burst of as many); "
                                  "the rest is dropped, counted (0: no limit)", group="streams", metavar="N",
                                  minimum=0)
    max_pending_streams: int = _opt(DEFAULT_MAX_PENDING_STREAMS, parse_int, "streams a worker keeps state for; "
                                    "past it the stream idle the longest lets go of what it holds",
                                    group="streams", metavar="N", minimum=1)
    # -- processing
    processors: str = _opt("", str, "a processors file: YAML with a processors: list written as Filebeat's "
                           "(docs/processors.md); checked whole at start, reloaded on SIGHUP", group="processing",
                           metavar="FILE")
    # -- logging
    log_level: LogLevel = _opt("info", _choice(LogLevel), "debug, info, warning or error", group="logging")
    log_format: LogFormat = _opt("text", _choice(LogFormat), "text (readable lines) or json (one object a line)",
                                 group="logging")

    def ingest_settings(self, document_id_prefix: str | None = None) -> IngestSettings:
        """The core's settings, which it names as the configuration does; ``document_id_prefix`` is drawn at
        each start by the daemon and used when ``document_id`` is sequence."""
        values = {f.name: getattr(self, f.name) for f in fields(IngestSettings) if f.name != "document_id_prefix"}
        values["index"], values["index_fallback"] = self.write_targets()
        return IngestSettings(**values,
                              document_id_prefix=document_id_prefix if self.document_id == "sequence" else None)

    def write_targets(self) -> tuple[str, str]:
        """The pattern events are written to and its fallback ("": none of its own): the data stream, the
        write alias of each target in rollover mode, else --index itself."""
        if self.data_stream:
            return self.data_stream, ""
        if self.index_mode == "rollover":
            fallback = (self.index_fallback or without_references(self.index)) if has_references(self.index) else ""
            return write_alias(self.index), write_alias(fallback) if fallback else ""
        return self.index, self.index_fallback


@dataclass(frozen=True, slots=True)
class OptionSpec:
    name: str
    flag: str
    env: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    group: Group
    metavar: str | None
    secret: bool = False
    shown: str | None = None
    minimum: int | None = None


def options() -> list[OptionSpec]:
    specs = []
    for f in fields(Config):
        m = f.metadata
        specs.append(OptionSpec(f.name, "--" + f.name.replace("_", "-"), m["env"] or f"GELFINGEST_{f.name.upper()}",
                                f.default, m["parse"], m["help"], m["group"], m["metavar"], m["secret"], m["shown"],
                                m["minimum"]))
    return specs


def grouped_options() -> list[tuple[str, list[OptionSpec]]]:
    """The options by group, in the order of GROUPS, each group in the order of its fields."""
    specs = options()
    return [(title, [s for s in specs if s.group == group]) for group, title in GROUPS.items()]


def show_size(value: int) -> str:
    """A size as people write it: ``2 MiB``, not ``2097152`` (bytes when no binary unit divides it)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size and value % size == 0:
            return f"{value // size} {unit}"
    return str(value)


def show_default(spec: OptionSpec) -> str:
    """The default as the reference and --help state it."""
    if spec.shown is not None:
        return spec.shown
    value = spec.default
    if value is None:
        return "off"
    if value == "":
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if spec.parse is parse_size and isinstance(value, int):
        return show_size(value)
    return str(value)


def reference_markdown() -> str:
    """docs/configuration.md: every flag and environment variable with its default, by group, made from the
    options themselves (``python -m gelfingest.config > docs/configuration.md``; a test fails when they
    differ)."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `gelfingest/config.py` by `python -m gelfingest.config > docs/configuration.md`;",
        "`make test` fails when this file and the code disagree. A flag wins over its environment variable,",
        "the variable over the default. Sizes take `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`); durations are",
        "seconds. Secrets can also be read from a file (`--…-file` / `…_FILE`, its first line) and are",
        "never logged. `gelfingest --help` lists the same options in the same groups.",
    ]
    for title, specs in grouped_options():
        lines += ["", f"## {title}", "", "| flag | environment variable | default | what it sets |",
                  "| --- | --- | --- | --- |"]
        for spec in specs:
            text = " ".join(spec.help.split()).replace("|", "\\|")
            default = show_default(spec).replace("|", "\\|")
            lines.append(f"| `{spec.flag}` | `{spec.env}` | {default} | {text} |")
            if spec.secret:
                lines.append(f"| `{spec.flag}-file` | `{spec.env}_FILE` | off | a file whose first line is "
                             f"`{spec.flag}` |")
    return "\n".join(lines) + "\n"


# GELFINGEST_* variables read by something other than the daemon's options.
OTHER_VARIABLES: Final = frozenset({"GELFINGEST_ES_CACHE"})

USAGE: Final = """gelfingest [OPTIONS]
       gelfingest dlq {inspect,replay} [OPTIONS]"""


def build_parser(prog: str = "gelfingest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, usage=USAGE,
        description="Receive GELF (Docker's gelf log driver, graypy, pygelf ...) and index it into "
                    "Elasticsearch, every event stamped with a fleet-unique sequence number.",
        epilog="Every flag can also be set by the environment variable shown; a flag wins. Sizes take KiB, "
               "MiB, GiB; durations are seconds. gelfingest dlq --help: the dead-letter queue.",
    )
    for title, specs in grouped_options():
        group = parser.add_argument_group(title.lower())
        for spec in specs:
            text = f"{spec.help} [env {spec.env}; default {show_default(spec).replace('`', '')}]"
            group.add_argument(spec.flag, dest=spec.name, metavar=spec.metavar or spec.name.upper(), default=None,
                               help=text.replace("%", "%%"))
            if spec.secret:
                group.add_argument(spec.flag + "-file", dest=spec.name + "_file", metavar="FILE", default=None,
                                   help=f"read {spec.flag} from FILE (its first line), e.g. a Docker or Kubernetes "
                                        f"secret; safer than a flag, which other users see in ps "
                                        f"[env {spec.env}_FILE]")
    return parser


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line for each ``GELFINGEST_*`` variable that is not a setting (a typo such as
    ``GELFINGEST_RETENTION_DAY``), with the closest real name: otherwise a user believes a setting is on
    that is not. Variables gelfingest does not own (``GELFINGEST_ES_CACHE``, read by the local
    Elasticsearch launcher) are left alone."""
    known = {spec.env for spec in options()} | {spec.env + "_FILE" for spec in options() if spec.secret}
    known |= OTHER_VARIABLES
    lines = []
    for name in sorted(environ):
        if name.startswith("GELFINGEST_") and name not in known:
            # Compared without the prefix they all share, which would make every name look close.
            suffixes = sorted(k.removeprefix("GELFINGEST_") for k in known if k.startswith("GELFINGEST_"))
            close = difflib.get_close_matches(name.removeprefix("GELFINGEST_"), suffixes, n=1, cutoff=0.6)
            hint = f"; did you mean GELFINGEST_{close[0]}?" if close else ""
            lines.append(f"{name} is not a setting and is ignored{hint}")
    return lines


def _read_secret(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.__class__.__name__}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{path} is empty")
    return lines[0].strip()


def mask_url(url: str) -> str:
    """``https://user:secret@host:9200`` -> ``https://user:***@host:9200`` (for logs and start lines)."""
    return re.sub(r"^(\w+://)([^/@:]*)(:[^/]*)?@", lambda m: f"{m[1]}{m[2]}{':***' if m[3] else ''}@", url)


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration; raise ConfigError naming the flag and variable of a bad value."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for spec in options():
        raw = getattr(args, spec.name)
        source = spec.flag
        if raw is None:
            raw = environ.get(spec.env)
            source = spec.env
        if spec.secret:
            path = getattr(args, spec.name + "_file") or environ.get(spec.env + "_FILE")
            if path and raw is not None:
                raise ConfigError(f"{source} and {spec.flag}-file / {spec.env}_FILE are both set: give one")
            if path:
                try:
                    raw = _read_secret(path)
                except ValueError as exc:
                    raise ConfigError(f"{spec.flag}-file / {spec.env}_FILE: {exc}") from None
        if raw is None:
            continue
        try:
            values[spec.name] = spec.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source} ({spec.flag} / {spec.env}): {exc}") from None
    if values.get("schema") == "ecs":
        values.setdefault("index", ECS_INDEX_PATTERN)
        values.setdefault("template_name", ECS_TEMPLATE_NAME)
    return _check(Config(**values))


def _check(config: Config) -> Config:
    for spec in options():
        if spec.minimum is not None and getattr(config, spec.name) < spec.minimum:
            raise ConfigError(f"{spec.flag} / {spec.env} must be {spec.minimum} or more")
    try:
        check_sequence_settings(config.sequence_seed, config.sequence_iterator, config.workers,
                                config.sequence_mode)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not 0 <= config.http_ack_delay < config.http_ack_timeout:
        raise ConfigError("--http-ack-delay / GELFINGEST_HTTP_ACK_DELAY must be 0 or more and below "
                          "--http-ack-timeout")
    if not 0 < config.http_ack_timeout <= 60:
        raise ConfigError("--http-ack-timeout / GELFINGEST_HTTP_ACK_TIMEOUT must be more than 0 and at most 60 "
                          "seconds (the OpenTelemetry exporters give up after 10)")
    if config.worker_ports and len(config.worker_ports) != config.workers:
        raise ConfigError("--worker-ports / GELFINGEST_WORKER_PORTS needs one port per worker")
    if not 0 <= config.worker_index < config.workers:
        raise ConfigError(f"--worker-index / GELFINGEST_WORKER_INDEX must be below --workers ({config.workers})")
    if config.peers and config.chunk_forward is None:
        raise ConfigError("--peers / GELFINGEST_PEERS needs --chunk-forward / GELFINGEST_CHUNK_FORWARD")
    if config.peers and not config.advertise:
        if config.chunk_forward is None or config.chunk_forward.host in ("0.0.0.0", "::"):
            raise ConfigError("--advertise / GELFINGEST_ADVERTISE: say how the peers reach this instance "
                              "(its --chunk-forward binds all interfaces)")
        config = replace(config, advertise=str(config.chunk_forward))
    if config.advertise and any(str(p) == config.advertise for p in config.peers):
        raise ConfigError("--peers / GELFINGEST_PEERS lists this instance itself (--advertise)")
    if config.tls_client_ca and not config.tls_cert:
        raise ConfigError("--tls-client-ca / GELFINGEST_TLS_CLIENT_CA needs --tls-cert / GELFINGEST_TLS_CERT")
    if config.tls_key and not config.tls_cert:
        raise ConfigError("--tls-key / GELFINGEST_TLS_KEY needs --tls-cert / GELFINGEST_TLS_CERT")
    literal = re.sub(r"%\{[^{}]*\}|%.", "", config.index)
    if not config.index or literal != literal.lower():
        raise ConfigError("--index / GELFINGEST_INDEX must be a non-empty, lower-case index name pattern")
    try:
        for pattern in (config.index, config.index_fallback, config.pipeline):
            parse_pattern(pattern)
    except ValueError as exc:
        raise ConfigError(f"--index, --index-fallback or --pipeline: {exc}") from None
    if has_references(config.index) and not literal_prefix(config.index):
        raise ConfigError("--index / GELFINGEST_INDEX: a pattern with field references must begin with literal "
                          "text (logs-%{container_name}-%Y.%m.%d), so that no value reaches an index outside it")
    if has_references(config.index_fallback):
        raise ConfigError("--index-fallback / GELFINGEST_INDEX_FALLBACK cannot have field references")
    _check_lifecycle(config)
    if config.mapping != "keyword" and config.schema != "logstash":
        raise ConfigError("--mapping / GELFINGEST_MAPPING applies to --schema logstash only (the ECS template maps "
                          "names as keywords)")
    try:
        config.ingest_settings().stream_settings()
    except ValueError as exc:
        raise ConfigError(f"--multiline / GELFINGEST_MULTILINE: {exc}") from None
    if has_references(config.pipeline) and not literal_prefix(config.pipeline):
        raise ConfigError("--pipeline / GELFINGEST_PIPELINE: a pattern with field references must begin with "
                          "literal text")
    if config.processors and config.schema == "ecs":
        _check_ecs_references(config)
    if config.processors:
        from gelfingest.processing import ProcessorsFileError, load  # it builds on Config

        try:
            load(Path(config.processors), config)
        except ProcessorsFileError as exc:
            raise ConfigError(f"--processors / GELFINGEST_PROCESSORS: {exc}") from None
    return config


def _check_ecs_references(c: Config) -> None:
    """With processors, ECS documents are routed as the processors leave them, by their ECS names: a
    reference to a Logstash name would send every event to the fallback index without a word."""
    moved = {"container_name": "container.name", "container_id": "container.id", "image_name": "container.image.name",
             "host": "host.name", "source_host": "source.address", "level": "log.level"}
    for flag, pattern in (("--index", c.index), ("--pipeline", c.pipeline)):
        for ref in re.findall(r"%\{([^{}]*)\}", pattern):
            name = ref.split("|")[0].strip().strip("[]")
            if name in moved:
                raise ConfigError(f"{flag}: with --schema ecs and --processors, field references name the ECS "
                                  f"fields as the processors see them: %{{{moved[name]}}}, not %{{{name}}}")


def _check_lifecycle(c: Config) -> None:
    if c.data_stream:
        for flag, on in (("--index-mode rollover", c.index_mode == "rollover"),
                         ("--retention-days", c.retention_days), ("--document-id auto", c.document_id == "auto")):
            if on:
                raise ConfigError(f"--data-stream / GELFINGEST_DATA_STREAM cannot go with {flag}: a data stream "
                                  "takes create only, and Elasticsearch rolls it over and deletes it (--ilm-policy)")
        if c.data_stream != c.data_stream.lower() or "%" in c.data_stream:
            raise ConfigError("--data-stream / GELFINGEST_DATA_STREAM must be a lower-case name, without patterns")
    if c.ilm_policy and c.retention_days:
        raise ConfigError("--ilm-policy and --retention-days both delete indices: choose one")
    if c.retention_days and c.index_mode == "daily" and not c.data_stream:
        patterns = [c.index] + ([c.index_fallback] if c.index_fallback else [])
        for pattern in patterns:
            if dated_index(pattern) is None:
                raise ConfigError(f"--retention-days: the dates of {pattern!r} cannot be read back from its index "
                                  "names (use %Y, %m, %d, %H only, %Y among them), so nothing could be deleted "
                                  "safely")


if __name__ == "__main__":
    print(reference_markdown(), end="")
