"""The composable index template installed at start, for the index pattern in use.

Strings are mapped as Logstash's own template maps them (``text`` with a ``.keyword`` sub-field up to 256
characters) so Kibana searches and visualisations made for Logstash's indices keep working; the fields
whose type matters are mapped explicitly: ``sequence`` long, ``@timestamp`` date, ``message`` text.
"""

from __future__ import annotations

import re
from typing import Any, Final

DEFAULT_TEMPLATE_NAME: Final = "gelfingest"
# Above the built-in templates of Elasticsearch 8/9 (priority 100), so ours wins for its pattern.
TEMPLATE_PRIORITY: Final = 200


def index_wildcard(index_pattern: str) -> str:
    """``logstash-%Y.%m.%d`` -> ``logstash-*``: every strftime directive becomes one wildcard."""
    wildcard = re.sub(r"%.", "*", index_pattern.replace("%%", "\0"))
    return re.sub(r"\*+(?:[^*a-zA-Z0-9]*\*+)*", "*", wildcard).replace("\0", "%")


def index_template(index_pattern: str) -> dict[str, Any]:
    keyword: dict[str, Any] = {"type": "keyword", "ignore_above": 256}
    text_with_keyword = {"type": "text", "norms": False, "fields": {"keyword": keyword}}
    return {
        "index_patterns": [index_wildcard(index_pattern)],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"index.refresh_interval": "1s"},
            "mappings": {
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
            },
        },
        "_meta": {"managed_by": "gelfingest"},
    }
