"""The ``_bulk`` request body, and what its response says about each item.

Items are encoded once, as bytes (action line and document, NDJSON), so a retry resends exactly the
bytes of the items that need it. The response is read item by item (after elasticsearch-py's helpers):
done, already there (409 on ``create``), to retry (429, 5xx), or failed for good (mapping and parse
errors), with Elasticsearch's own error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson
from zlib_ng import zlib_ng

# --elasticsearch-compression gzip: level 1, as Logstash's elasticsearch output compresses by default.
GZIP_LEVEL: Final = 1
_GZIP_WBITS: Final = 16 + 15

OpType = Literal["index", "create"]
# Logstash asks for just this much of the response; on a clean bulk it is {"errors": false}.
BULK_FILTER_PATH: Final = "errors,items.*.error,items.*.status"
DEFAULT_INDEX_PATTERN: Final = "logstash-%Y.%m.%d"
# With --schema ecs, unless --index is given.
ECS_INDEX_PATTERN: Final = "ecs-gelfingest-%Y.%m.%d"
# A document id prefix: short, and safe inside a JSON string without escaping.
ID_PREFIX_RE: Final = re.compile(r"[A-Za-z0-9_.-]{0,32}")
# The sequence in an id: 9 bytes, big-endian, in URL-safe base64: 12 characters (every sequence is below
# 2^53). See document_ids.
_ID_BYTES: Final = 9
_ID_CHARS: Final = 12


# Random bytes of the prefix the daemon draws at each start (id_prefix).
ID_PREFIX_BYTES: Final = 6


def id_prefix(random: bytes) -> str:
    """The document id prefix of a start, from ID_PREFIX_BYTES random bytes: 8 URL-safe base64 characters,
    so that the whole id is base64 (``document_ids``)."""
    return base64.urlsafe_b64encode(random).decode()


def document_ids(prefix: bytes, sequences: Iterable[int]) -> list[bytes]:
    """The ``_id`` of each sequence: the prefix, then the sequence as 9 big-endian bytes in URL-safe base64.

    Elasticsearch stores an id that is valid URL-safe base64 as the bytes it decodes to, and an id made
    of a constant prefix and a fixed-width, big-endian counter gives Lucene terms that share their
    prefix and sort as they arrive: its look-up of each new id (which every ``create`` with our own id
    costs) stays cheap. The decimal ids used before (``prefix`` + ``1000234``: changing length, and
    base64 or not by their length) cost Elasticsearch 1.13 times the CPU of the ids it picks itself in
    benchmarks/document_ids.py, these 1.01 (docs/performance.md#document-ids). With a prefix of a
    multiple of 4 base64 characters (the daemon's: 6 random bytes, 8 characters), the whole id decodes:
    20 characters, 15 bytes, as Elasticsearch's own ids. All in one base64 call for a batch."""
    return [prefix + suffix for suffix in _id_suffixes(sequences)]


def _id_suffixes(sequences: Iterable[int]) -> list[bytes]:
    encoded = base64.urlsafe_b64encode(b"".join([s.to_bytes(_ID_BYTES, "big") for s in sequences]))
    return [encoded[i:i + _ID_CHARS] for i in range(0, len(encoded), _ID_CHARS)]


def id_sequence(document_id: str, prefix: str) -> int:
    """The sequence an id of ``document_ids`` carries (for tools and tests)."""
    return int.from_bytes(base64.urlsafe_b64decode(document_id[len(prefix):]), "big")


class BulkEncoder:
    """Encodes documents as bulk items, naming the index from the document's time (UTC).

    With an ``id_prefix`` (the default in the daemon) every item is a ``create`` whose ``_id`` is the
    prefix followed by the event's sequence number (``document_ids``): a resend of the same bytes is answered 409 and is
    never indexed twice. The prefix is drawn at each start, so a lost data dir or two instances that
    share a sequence progression cannot make two different events share an id (a 409 would then hide
    an event). Without a prefix, ``index`` with ids chosen by Elasticsearch: cheaper to index, but a
    resend after a lost answer indexes a duplicate.
    """

    def __init__(self, index_pattern: str = DEFAULT_INDEX_PATTERN, id_prefix: str | None = None) -> None:
        if id_prefix is not None and not ID_PREFIX_RE.fullmatch(id_prefix):
            raise ValueError(f"document id prefix must match {ID_PREFIX_RE.pattern}")
        self.index_pattern = index_pattern
        self.op_type: OpType = "index" if id_prefix is None else "create"
        self._id_prefix = None if id_prefix is None else id_prefix.encode()
        self._last_second = -1
        self._last_action = b""
        self._actions: dict[tuple[str, str | None], bytes] = {}

    def index_name(self, epoch_seconds: int) -> str:
        return datetime.fromtimestamp(epoch_seconds, UTC).strftime(self.index_pattern)

    def _action(self, epoch_seconds: int) -> bytes:
        # Events arrive in time order, mostly within the same second: one strftime per second.
        if epoch_seconds != self._last_second:
            self._last_action = self._action_for(self.index_name(epoch_seconds), None)
            self._last_second = epoch_seconds
        return self._last_action

    def _action_for(self, index: str, pipeline: str | None) -> bytes:
        """The action line for an index (and pipeline); with our ids, up to where the sequence goes."""
        key = (index, pipeline)
        action = self._actions.get(key)
        if action is None:
            if len(self._actions) > 1024:
                self._actions.clear()
            meta: dict[str, str] = {"_index": index}
            if pipeline is not None:
                meta["pipeline"] = pipeline
            if self._id_prefix is None:
                action = orjson.dumps({"index": meta}) + b"\n"
            else:  # the id goes last: {"create":{"_index":"x",...,"_id":"<prefix><sequence>"}}
                action = orjson.dumps({"create": {**meta, "_id": ""}})[:-3] + self._id_prefix
            self._actions[key] = action
        return action

    def encode_many(self, docs: list[dict[str, Any]], epoch_seconds: list[int], sequences: Iterable[int],
                    indices: Sequence[str] | None = None,
                    pipelines: Sequence[str | None] | None = None) -> list[bytes]:
        """Items for documents, their times and their sequence numbers (the ids, when ours), in order.

        ``indices``: each document's index (field references in the pattern, indices.py), instead of the
        one its time names; ``pipelines``: each one's ingest pipeline (None: none)."""
        if indices is not None or pipelines is not None:
            return self._encode_routed(docs, epoch_seconds, sequences, indices, pipelines)
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        prefix = self._id_prefix
        last, action = -1, b""
        items = []
        if prefix is None:
            for doc, seconds in zip(docs, epoch_seconds, strict=True):
                if seconds != last:
                    last, action = seconds, self._action(seconds)
                items.append(action + dumps(doc, option=newline))
            return items
        for doc, seconds, document_id in zip(docs, epoch_seconds, _id_suffixes(sequences), strict=True):
            if seconds != last:
                last, action = seconds, self._action(seconds)
            items.append(b'%s%s"}}\n%s' % (action, document_id, dumps(doc, option=newline)))
        return items

    def _encode_routed(self, docs: list[dict[str, Any]], epoch_seconds: list[int], sequences: Iterable[int],
                       indices: Sequence[str] | None, pipelines: Sequence[str | None] | None) -> list[bytes]:
        dumps, newline, action_for = orjson.dumps, orjson.OPT_APPEND_NEWLINE, self._action_for
        names = indices if indices is not None else [self.index_name(s) for s in epoch_seconds]
        through = pipelines if pipelines is not None else [None] * len(docs)
        if self._id_prefix is None:
            return [action_for(index, pipeline) + dumps(doc, option=newline)
                    for doc, index, pipeline in zip(docs, names, through, strict=True)]
        ids = _id_suffixes(sequences)
        return [b'%s%s"}}\n%s' % (action_for(index, pipeline), document_id, dumps(doc, option=newline))
                for doc, index, pipeline, document_id in zip(docs, names, through, ids, strict=True)]


def gzip_body(body: bytes) -> bytes:
    """A bulk body as a gzip stream (``Content-Encoding: gzip``, which Elasticsearch takes since 5.0)."""
    compressor = zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, _GZIP_WBITS)
    return compressor.compress(body) + compressor.flush()


def decode_item(item: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split an encoded item back into its action and document (for logs and dead letters)."""
    action, _, doc = item.partition(b"\n")
    return orjson.loads(action), orjson.loads(doc)


def _refused_by_pipeline(outcome: Any) -> bool:
    """An ingest pipeline's fail processor answers 500 (``fail_processor_exception``): the document's own
    fault, for good, as a mapping error is; resending would fail again forever."""
    error = outcome.get("error") if isinstance(outcome, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return isinstance(kind, str) and kind.endswith("processor_exception")


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
            if type(status) is not int:
                status = 0  # not an answer we can read: resent, like no answer
            if 200 <= status < 300:
                result.ok += 1
            elif status == 409 and op == "create":
                result.duplicates += 1
            elif (status == 429 or status >= 500 or status == 0) and not _refused_by_pipeline(outcome):
                result.retry.append(position)
            else:
                result.failed.append(ItemFailure(position, status, outcome.get("error")))
        return result
