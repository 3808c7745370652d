"""The JSON lines of logspout's logstash adapter, mapped into the same document as GELF.

What the adapter sends, one object a line (over UDP or TCP):
``{"message": "...", "stream": "stdout", "docker": {"name": "/web-1", "id": "...", "image": "...",
"hostname": "...", "labels": {...}}, "tags": [...], ...LOGSTASH_FIELDS}``; when the container's own line
was JSON, its fields stand at the top level instead of ``message``.

Mapped to: ``message``, ``container_name`` (without the leading slash), ``container_id``, ``image_name``,
``host`` (the container's hostname), ``stream``, ``level`` (6 for stdout, 3 for stderr, as Docker's gelf
driver sets it), ``labels``, ``tags``, ``source_host``, and the other top-level fields under the same
field-name rule as GELF's additional fields. ``@timestamp`` from the line's ``@timestamp``/``time``/
``timestamp`` when it has one (ISO 8601 or epoch seconds), else the receive time.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from gelfingest.core.errors import DecodeError, Reason
from gelfingest.core.fields import (
    DroppedField,
    FieldNotes,
    Limits,
    Timestamps,
    check_bounds,
    epoch_millis,
    extra_name,
    load_object,
)

_STREAM_LEVEL: Final = {"stdout": 6, "stderr": 3}
_MESSAGE_KEYS: Final = ("message", "msg", "log")
_TIME_KEYS: Final = ("@timestamp", "time", "timestamp")
_HANDLED: Final = frozenset({"docker", "stream", "tags", *_MESSAGE_KEYS, *_TIME_KEYS})


def _epoch(value: Any) -> float | None:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            # A time without a zone is UTC (as Logstash reads it), never this machine's local time.
            return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


class LogspoutDecoder:
    """Decodes logspout's JSON lines; counts what it drops from lines it keeps in ``dropped_fields``."""

    def __init__(self, limits: Limits | None = None, dedot: bool = False) -> None:
        """``dedot``: dots in the names of the line's own fields become ``_`` (``--dedot-fields``)."""
        self.limits = limits or Limits()
        self.dedot = dedot
        self.dropped_fields: Counter[str] = Counter()
        self.notes = FieldNotes()
        self.iso = Timestamps().iso

    def decode(self, payload: bytes, source_host: str, now: float) -> tuple[dict[str, Any], int]:
        """Return the document and its time in whole epoch seconds (for the index name)."""
        msg = load_object(payload, self.limits.max_fields)
        check_bounds(msg, self.limits)
        text = next((msg[k] for k in _MESSAGE_KEYS if type(msg.get(k)) is str and msg[k]), None)
        if text is None:
            raise DecodeError(Reason.MISSING_SHORT_MESSAGE, "no message, msg or log string")
        ts = next((t for k in _TIME_KEYS if (t := _epoch(msg.get(k))) is not None), now)
        seconds, millis = epoch_millis(ts, now)
        doc: dict[str, Any] = {"@timestamp": self.iso(seconds, millis), "message": text}
        docker = msg.get("docker")
        if isinstance(docker, dict):
            name = docker.get("name")
            if type(name) is str:
                doc["container_name"] = name.lstrip("/")
            for key, field in (("id", "container_id"), ("image", "image_name"), ("hostname", "host"),
                               ("labels", "labels")):
                if key in docker:
                    doc[field] = docker[key]
        stream = msg.get("stream")
        if type(stream) is str:
            doc["stream"] = stream
            if stream in _STREAM_LEVEL:
                doc["level"] = _STREAM_LEVEL[stream]
        if "tags" in msg:
            doc["tags"] = msg["tags"]
        doc["source_host"] = source_host
        for key, value in msg.items():
            if key in _HANDLED:
                continue
            extra = extra_name("_" + key)
            if extra and self.dedot:
                extra = extra.replace(".", "_")
            if extra is not None and extra and extra not in doc:
                doc[extra] = value
                continue
            reason = DroppedField.INVALID_NAME if extra is None else DroppedField.RESERVED
            self.dropped_fields[reason] += 1
            self.notes.note(reason, f"dropped field {key[:80]!r}", source_host)
        return doc, seconds
