"""The composable index template installed at start, for the index pattern and schema in use.

Logstash schema, ``keyword`` mapping (the default): ``message`` and ``full_message`` are ``text`` (no
norms), the names and ids Kibana filters and aggregates on (``container_name``, ``image_name``, ``host``,
``tag``, ``command``, ...), ``created`` (Docker's container creation time) and every other string are
``keyword`` only, ``sequence`` long, ``@timestamp`` date. ``logstash`` mapping: strings as Logstash's own
template maps them (``text`` with a ``.keyword`` sub-field up to 256 characters), ``created`` a date, so
saved searches made for Logstash's indices (``container_name.keyword``) keep working; it costs
Elasticsearch more per document (docs/performance.md).

Refresh: ``auto`` (the default) leaves ``index.refresh_interval`` unset, so a shard nobody searches skips
its scheduled refreshes (Elasticsearch's search-idle shards), and sets ``index.search.idle.after`` to
SEARCH_IDLE_AFTER, so that a shard somebody searches now and then (Kibana's Discover, every 5 s) refreshes
once per search instead of every second: a search on an idle shard waits for one refresh and sees every
document indexed before it. Any other value is set as ``index.refresh_interval`` as given, which turns
search-idle off (docs/performance.md has the figures of each).

ECS schema: every field ecs.py writes is mapped with its ECS type (``keyword`` for names and ids,
``long``, ``date``, ``ip``, ``text`` for ``message``); strings under ``gelf.*`` and ``container.labels``
are ``keyword`` (up to 1024 characters) as Elastic's own ECS templates map unknown strings, except
``gelf.full_message``, which is text.

Every schema maps ``gelfingest_conflict`` (core/conflicts.py: the JSON of fields moved out of a mapping
conflict's way) as a string that is stored in ``_source`` only.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any, Final, Literal

from gelfingest.core.conflicts import CONFLICT_FIELD

DEFAULT_TEMPLATE_NAME: Final = "gelfingest"
# With --schema ecs, unless --template-name is given.
ECS_TEMPLATE_NAME: Final = "gelfingest-ecs"
# Above the built-in templates of Elasticsearch 8/9 (priority 100), so ours wins for its pattern.
TEMPLATE_PRIORITY: Final = 200

# How the logstash schema maps strings (--mapping).
MappingStyle = Literal["keyword", "logstash"]
# --refresh-interval's default: index.refresh_interval left unset (search-idle shards).
AUTO_REFRESH: Final = "auto"
# With AUTO_REFRESH, how long after a search a shard keeps refreshing every second. Elasticsearch's default
# is 30 s, so a reader every 5 s (Kibana's auto-refresh) keeps it refreshing every second; at 1 s a shard
# refreshes about once per search (each search waits for that refresh, up to a second), and not at all
# while nobody searches. Measured by benchmarks/es_cost.py.
SEARCH_IDLE_AFTER: Final = "1s"


def describe_refresh(refresh_interval: str = AUTO_REFRESH) -> str:
    """The refresh in force, as the start line and /readyz say it."""
    if refresh_interval == AUTO_REFRESH:
        return f"refresh auto (on search; search-idle after {SEARCH_IDLE_AFTER})"
    if refresh_interval == "-1":
        return "refresh off (-1)"
    return f"refresh every {refresh_interval}"


def index_settings(refresh_interval: str = AUTO_REFRESH) -> dict[str, Any]:
    """The index settings of the template for ``refresh_interval`` (AUTO_REFRESH, or a duration such as
    ``5s``, or ``-1``)."""
    if refresh_interval == AUTO_REFRESH:
        return {"index.search.idle.after": SEARCH_IDLE_AFTER}
    return {"index.refresh_interval": refresh_interval}


def index_wildcard(index_pattern: str) -> str:
    """``logstash-%Y.%m.%d`` -> ``logstash-*``: every strftime directive and field reference (``%{app}``)
    becomes one wildcard."""
    wildcard = re.sub(r"%\{[^{}]*\}|%.", "*", index_pattern.replace("%%", "\0"))
    return re.sub(r"\*+(?:[^*a-zA-Z0-9]*\*+)*", "*", wildcard).replace("\0", "%")


def index_template(index_pattern: str, schema: str = "logstash", also: Sequence[str] = (), *,
                   settings: dict[str, Any] | None = None, data_stream: str = "", mapping: MappingStyle = "keyword",
                   refresh_interval: str = AUTO_REFRESH) -> dict[str, Any]:
    """The template for ``index_pattern`` (and the patterns ``also`` names, e.g. a fallback index), with
    extra index ``settings`` (a lifecycle policy); for a ``data_stream``, the template of that stream.
    ``mapping`` applies to the logstash schema (the ECS one maps names as keywords anyway)."""
    template = _template([data_stream] if data_stream else [index_pattern, *also], mappings(schema, mapping),
                         index_settings(refresh_interval))
    template["_meta"].update(mapping="ecs" if schema == "ecs" else mapping, refresh_interval=refresh_interval)
    if settings:
        template["template"]["settings"].update(settings)
    if data_stream:
        template["data_stream"] = {}
    return template


def mappings(schema: str = "logstash", mapping: MappingStyle = "keyword") -> dict[str, Any]:
    """The mappings of the template for ``schema`` and, with the logstash schema, ``mapping`` (a copy of its
    own: the caller may change it)."""
    if schema == "ecs":
        return copy.deepcopy(_ECS_MAPPINGS)
    if mapping == "keyword":
        return copy.deepcopy(_KEYWORD_MAPPINGS)
    keyword: dict[str, Any] = {"type": "keyword", "ignore_above": 256}
    text_with_keyword = {"type": "text", "norms": False, "fields": {"keyword": keyword}}
    return {
        "dynamic_templates": [
            {"strings_as_text_with_keyword": {
                "match_mapping_type": "string", "mapping": text_with_keyword}},
        ],
        "properties": {
            "@timestamp": {"type": "date"},
            "sequence": {"type": "long"},
            "message": {"type": "text", "norms": False},
            "full_message": {"type": "text", "norms": False},
            "level": {"type": "long"},
            "facility": text_with_keyword,
            "version": {"type": "keyword"},
            # GELF's own version, file and line when an additional field took their names (fields.py).
            "gelf_version": {"type": "keyword"},
            "gelf_file": text_with_keyword,
            "gelf_line": {"type": "long"},
            "host": text_with_keyword,
            "source_host": text_with_keyword,
            "container_id": {"type": "keyword"},
            "container_name": text_with_keyword,
            "image_id": {"type": "keyword"},
            "image_name": text_with_keyword,
            "command": text_with_keyword,
            "tag": text_with_keyword,
            "created": {"type": "date"},
            CONFLICT_FIELD: dict(_CONFLICT),
        },
    }


def _template(index_patterns: Sequence[str], mappings: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "index_patterns": list(dict.fromkeys(index_wildcard(p) for p in index_patterns)),
        "priority": TEMPLATE_PRIORITY,
        "template": {"settings": dict(settings), "mappings": mappings},
        "_meta": {"managed_by": "gelfingest"},
    }


# A keyword as Elastic's own templates map an unknown string: longer values are kept in _source only.
_KEYWORD: Final[dict[str, Any]] = {"type": "keyword", "ignore_above": 1024}
_TEXT: Final[dict[str, Any]] = {"type": "text", "norms": False}
# The JSON of the fields moved out of a mapping conflict's way: a string field that indexes nothing and keeps
# no doc values (7.9 and later take text with index false; "searchable: false" in Kibana, which still lists
# and shows it). Not dynamic, so the JSON is never parsed as a keyword with a cut-off (ignore_above) or a
# 32 KiB term limit, nor as text with a keyword sub-field; not an object with enabled false, which would take
# it as well but which Kibana does not list. The documents are found by their tag (tags: _mappingconflict).
# A document without the field costs Elasticsearch nothing for it, one with it only its _source bytes.
_CONFLICT: Final[dict[str, Any]] = {"type": "text", "index": False}

# The logstash schema's default mappings: text only where people search words (the line itself); names, ids
# and every other string as one keyword, which filters, aggregates and sorts without a second field.
_KEYWORD_MAPPINGS: Final[dict[str, Any]] = {
    "dynamic_templates": [{"strings_as_keyword": {"match_mapping_type": "string", "mapping": _KEYWORD}}],
    "properties": {
        "@timestamp": {"type": "date"},
        "sequence": {"type": "long"},
        "message": _TEXT,
        "full_message": _TEXT,
        "level": {"type": "long"},
        "facility": _KEYWORD,
        "version": _KEYWORD,
        "gelf_version": _KEYWORD,
        "gelf_file": _KEYWORD,
        "gelf_line": {"type": "long"},
        "host": _KEYWORD,
        "source_host": _KEYWORD,
        "container_id": _KEYWORD,
        "container_name": _KEYWORD,
        "image_id": _KEYWORD,
        "image_name": _KEYWORD,
        "command": _KEYWORD,
        "tag": _KEYWORD,
        # Docker's container creation time, to the nanosecond. Not parsed as a date: with it (and version) kept
        # unparsed, Elasticsearch spent 14 % less CPU per document (benchmarks/es_cost.py, keyword-no-dates).
        # As a keyword it filters and aggregates by exact value, and Docker's UTC form sorts as its time does
        # (to the second).
        "created": _KEYWORD,
        CONFLICT_FIELD: _CONFLICT,
    },
}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"properties": properties}


_ECS_MAPPINGS: Final[dict[str, Any]] = {
    "dynamic_templates": [{"strings_as_keyword": {"match_mapping_type": "string", "mapping": _KEYWORD}}],
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "text"},
        "tags": _KEYWORD,
        "ecs": _object(version=_KEYWORD),
        "event": _object(sequence={"type": "long"}, ingested={"type": "date"}, severity={"type": "long"},
                         action=_KEYWORD),
        "log": _object(
            level=_KEYWORD, logger=_KEYWORD,
            origin=_object(function=_KEYWORD, file=_object(name=_KEYWORD, line={"type": "long"})),
            syslog=_object(severity=_object(code={"type": "long"}, name=_KEYWORD)),
        ),
        "host": _object(name=_KEYWORD),
        "source": _object(address=_KEYWORD, ip={"type": "ip"}),
        "container": _object(id=_KEYWORD, name=_KEYWORD, image=_object(name=_KEYWORD),
                             labels={"type": "object"}),
        "process": _object(pid={"type": "long"}, name=_KEYWORD, thread=_object(name=_KEYWORD)),
        "gelf": _object(full_message={"type": "text"}, facility=_KEYWORD, version=_KEYWORD,
                        created={"type": "date"}),
        # OTLP records' (otlp.py): trace context, the service, and the exception as ECS's error.
        "trace": _object(id=_KEYWORD),
        "span": _object(id=_KEYWORD),
        "service": _object(name=_KEYWORD, version=_KEYWORD, environment=_KEYWORD, node=_object(name=_KEYWORD)),
        "agent": _object(name=_KEYWORD, version=_KEYWORD),
        "error": _object(type=_KEYWORD, message={"type": "text"}, stack_trace={"type": "text"}),
        CONFLICT_FIELD: _CONFLICT,
    },
}
