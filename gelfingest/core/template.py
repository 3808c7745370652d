"""The composable index template installed at start, for the index pattern and schema in use.

Logstash schema: strings are mapped as Logstash's own template maps them (``text`` with a ``.keyword``
sub-field up to 256 characters) so Kibana searches and visualisations made for Logstash's indices keep
working; the fields whose type matters are mapped explicitly: ``sequence`` long, ``@timestamp`` date,
``message`` text.

ECS schema: every field ecs.py writes is mapped with its ECS type (``keyword`` for names and ids,
``long``, ``date``, ``ip``, ``text`` for ``message``); strings under ``gelf.*`` and ``container.labels``
are ``keyword`` (up to 1024 characters) as Elastic's own ECS templates map unknown strings, except
``gelf.full_message``, which is text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

DEFAULT_TEMPLATE_NAME: Final = "gelfingest"
# With --schema ecs, unless --template-name is given.
ECS_TEMPLATE_NAME: Final = "gelfingest-ecs"
# Above the built-in templates of Elasticsearch 8/9 (priority 100), so ours wins for its pattern.
TEMPLATE_PRIORITY: Final = 200


def index_wildcard(index_pattern: str) -> str:
    """``logstash-%Y.%m.%d`` -> ``logstash-*``: every strftime directive and field reference (``%{app}``)
    becomes one wildcard."""
    wildcard = re.sub(r"%\{[^{}]*\}|%.", "*", index_pattern.replace("%%", "\0"))
    return re.sub(r"\*+(?:[^*a-zA-Z0-9]*\*+)*", "*", wildcard).replace("\0", "%")


def index_template(index_pattern: str, schema: str = "logstash", also: Sequence[str] = (), *,
                   settings: dict[str, Any] | None = None, data_stream: str = "") -> dict[str, Any]:
    """The template for ``index_pattern`` (and the patterns ``also`` names, e.g. a fallback index), with
    extra index ``settings`` (a lifecycle policy); for a ``data_stream``, the template of that stream."""
    template = _index_template([data_stream] if data_stream else [index_pattern, *also], schema)
    if settings:
        template["template"]["settings"].update(settings)
    if data_stream:
        template["data_stream"] = {}
    return template


def _index_template(patterns: list[str], schema: str) -> dict[str, Any]:
    if schema == "ecs":
        return _template(patterns, _ECS_MAPPINGS)
    keyword: dict[str, Any] = {"type": "keyword", "ignore_above": 256}
    text_with_keyword = {"type": "text", "norms": False, "fields": {"keyword": keyword}}
    return _template(patterns, {
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
        },
    })


def _template(index_patterns: Sequence[str], mappings: dict[str, Any]) -> dict[str, Any]:
    return {
        "index_patterns": list(dict.fromkeys(index_wildcard(p) for p in index_patterns)),
        "priority": TEMPLATE_PRIORITY,
        "template": {"settings": {"index.refresh_interval": "1s"}, "mappings": mappings},
        "_meta": {"managed_by": "gelfingest"},
    }


_KEYWORD: Final[dict[str, Any]] = {"type": "keyword", "ignore_above": 1024}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"properties": properties}


_ECS_MAPPINGS: Final[dict[str, Any]] = {
    "dynamic_templates": [{"strings_as_keyword": {"match_mapping_type": "string", "mapping": _KEYWORD}}],
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "text"},
        "tags": _KEYWORD,
        "ecs": _object(version=_KEYWORD),
        "event": _object(sequence={"type": "long"}, ingested={"type": "date"}),
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
    },
}
