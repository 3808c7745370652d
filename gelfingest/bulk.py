"""The ``_bulk`` request body, and what its response says about each item.

Items are encoded once, as bytes (action line and document, NDJSON), so a retry resends exactly the
bytes of the items that need it. The response is read item by item (after elasticsearch-py's helpers):
done, already there (409 on ``create``), to retry (429, 5xx), or failed for good (mapping and parse
errors), with Elasticsearch's own error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

OpType = Literal["index", "create"]
# Logstash asks for just this much of the response; on a clean bulk it is {"errors": false}.
BULK_FILTER_PATH: Final = "errors,items.*.error,items.*.status"
DEFAULT_INDEX_PATTERN: Final = "logstash-%Y.%m.%d"


class BulkEncoder:
    """Encodes documents as bulk items, naming the index from the document's time (UTC)."""

    def __init__(self, index_pattern: str = DEFAULT_INDEX_PATTERN, op_type: OpType = "index") -> None:
        self.index_pattern = index_pattern
        self.op_type = op_type
        self._last_second = -1
        self._last_action = b""
        self._actions: dict[str, bytes] = {}

    def index_name(self, epoch_seconds: int) -> str:
        return datetime.fromtimestamp(epoch_seconds, UTC).strftime(self.index_pattern)

    def _action(self, epoch_seconds: int) -> bytes:
        # Events arrive in time order, mostly within the same second: one strftime per second.
        if epoch_seconds != self._last_second:
            index = self.index_name(epoch_seconds)
            action = self._actions.get(index)
            if action is None:
                if len(self._actions) > 1024:
                    self._actions.clear()
                action = orjson.dumps({self.op_type: {"_index": index}}) + b"\n"
                self._actions[index] = action
            self._last_second = epoch_seconds
            self._last_action = action
        return self._last_action

    def encode(self, doc: dict[str, Any], epoch_seconds: int) -> bytes:
        return self._action(epoch_seconds) + orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def decode_item(item: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an encoded item back into its action and document (for logs and dead letters)."""
    action, _, doc = item.partition(b"\n")
    return orjson.loads(action), orjson.loads(doc)


@dataclass(slots=True)
class ItemFailure:
    position: int
    status: int
    error: Any


@dataclass(slots=True)
class BulkResponse:
    """The outcome of one bulk request, by item position in the request."""

    ok: int = 0
    duplicates: int = 0
    retry: list[int] = field(default_factory=list)
    failed: list[ItemFailure] = field(default_factory=list)

    @classmethod
    def classify(cls, body: Any, n_items: int) -> BulkResponse:
        """Read a (possibly ``filter_path``-reduced) bulk response for a request of ``n_items``."""
        if not isinstance(body, dict):
            return cls(retry=list(range(n_items)))
        if body.get("errors") is False:
            return cls(ok=n_items)
        items = body.get("items")
        if not isinstance(items, list) or len(items) != n_items:
            # A response we cannot match to our items: everything is resent, nothing is lost.
            return cls(retry=list(range(n_items)))
        result = cls()
        for position, entry in enumerate(items):
            op, outcome = next(iter(entry.items())) if isinstance(entry, dict) and entry else ("", {})
            status = outcome.get("status", 0) if isinstance(outcome, dict) else 0
            if 200 <= status < 300:
                result.ok += 1
            elif status == 409 and op == "create":
                result.duplicates += 1
            elif status == 429 or status >= 500 or status == 0:
                result.retry.append(position)
            else:
                result.failed.append(ItemFailure(position, status, outcome.get("error")))
        return result
