"""The Elastic Common Schema form of a document (``--schema ecs``).

The decoders build the Logstash-shaped document (gelf.py, logspout.py); this maps a finished one, with
its sequence number and the time it was received, into ECS:

- ``@timestamp`` and ``message`` stay; ``ecs.version`` says which ECS the fields follow;
- ``level`` (syslog severity 0..7) becomes ``log.level``, the syslog keyword (``emerg`` ... ``debug``),
  with ``log.syslog.severity.code`` and ``.name``; a level outside 0..7 is kept as ``log.level`` text;
- ``host`` becomes ``host.name``; ``source_host`` (the sender's address) ``source.address``, and
  ``source.ip`` when it is an IP address;
- the sequence number becomes ``event.sequence``, the receive time ``event.ingested``;
- additional fields with an ECS home go there when their value has the type ECS gives it (``EXTRAS``:
  Docker's ``container.id``, ``container.name``, ``container.image.name``; graypy's ``process.pid``,
  ``process.name``, ``process.thread.name``, ``log.logger``, ``log.origin.function``; logspout's
  ``container.labels`` and ``tags``);
- everything else (``full_message``, ``facility``, ``version``, Docker's ``command``, ``image_id``,
  ``tag``, ``created``, the labels and environment it was told to add, any other additional field, and
  a field whose value has the wrong type for its ECS home) goes under one namespace, ``gelf``, by the
  name the Logstash form gives it (``_foo`` -> ``gelf.foo``).

Nothing a sender writes can land outside ``gelf`` except through ``EXTRAS``: no client field collides
with an ECS field it does not mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

from gelfingest.core.routing import is_ip_address

# The ECS release whose field definitions these follow (every field used here is in ECS since 1.x).
ECS_VERSION: Final = "8.17.0"
NAMESPACE: Final = "gelf"
# Syslog severities: the keyword (syslog.conf's, what log.level carries) and RFC 5424's name.
SEVERITIES: Final = (
    ("emerg", "Emergency"), ("alert", "Alert"), ("crit", "Critical"), ("err", "Error"),
    ("warning", "Warning"), ("notice", "Notice"), ("info", "Informational"), ("debug", "Debug"),
)
# Additional fields (as named in the Logstash form) with an ECS home, and the type the value must have.
EXTRAS: Final[dict[str, tuple[tuple[str, ...], type]]] = {
    "container_id": (("container", "id"), str),
    "container_name": (("container", "name"), str),
    "image_name": (("container", "image", "name"), str),
    "labels": (("container", "labels"), dict),
    "tags": (("tags",), list),
    "pid": (("process", "pid"), int),
    "process_name": (("process", "name"), str),
    "thread_name": (("process", "thread", "name"), str),
    "logger_name": (("log", "logger"), str),
    "function": (("log", "origin", "function"), str),
    # GELF's own (deprecated but sent: graypy's source location); an additional field named file or line
    # takes these names, and then GELF's own are gelf_file and gelf_line (see _homes).
    "file": (("log", "origin", "file", "name"), str),
    "line": (("log", "origin", "file", "line"), int),
}
_IP_CACHE_SIZE: Final = 4096


# Distinct document shapes remembered with their plan (as gelf.py's decoder does for message shapes).
_PLAN_CACHE_SIZE: Final = 256
# The document's own fields, mapped one by one; every other key is an additional field.
_OWN: Final = frozenset({"@timestamp", "message", "sequence", "level", "host", "source_host"})


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to map every document of one shape (its keys, in order): ``rest`` go under ``gelf`` as they
    are (picked in C), ``homed`` go to their ECS home when their value has its type."""

    rest: tuple[str, ...]
    get_rest: Callable[[dict[str, Any]], Any] | None
    homed: tuple[tuple[str, tuple[str, ...], type], ...]
    level: bool
    host: bool
    source: bool


def _homes(shape: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], type]]:
    """EXTRAS for this shape: when GELF's own file or line is there as gelf_<name> (an additional field
    took the name), GELF's own goes to the ECS home and the sender's field under ``gelf``."""
    homes = EXTRAS
    for name in ("file", "line"):
        if f"gelf_{name}" in shape:
            homes = dict(homes)
            homes[f"gelf_{name}"] = homes.pop(name)
    return homes


def _plan(shape: tuple[str, ...]) -> _Plan:
    homes = _homes(shape)
    rest = tuple(key for key in shape if key not in _OWN and key not in homes)
    get_rest = None
    if len(rest) == 1:
        only = rest[0]
        get_rest = lambda doc: (doc[only],)  # noqa: E731 (itemgetter of one key returns no tuple)
    elif rest:
        get_rest = itemgetter(*rest)
    homed = tuple((key, *homes[key]) for key in shape if key in homes)
    return _Plan(rest, get_rest, homed, "level" in shape, "host" in shape, "source_host" in shape)


class EcsMapper:
    """Maps finished Logstash-shaped documents into ECS; remembers which sender addresses are IPs."""

    def __init__(self) -> None:
        self._ips: dict[str, bool] = {}
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def document(self, doc: dict[str, Any], sequence: int, ingested: str) -> dict[str, Any]:
        """The ECS form of ``doc``; ``ingested``: the receive time as an ISO 8601 UTC string."""
        shape = tuple(doc)
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[shape] = _plan(shape)
        out: dict[str, Any] = {"@timestamp": doc["@timestamp"], "message": doc["message"],
                               "ecs": {"version": ECS_VERSION}}
        extra = dict(zip(plan.rest, plan.get_rest(doc))) if plan.get_rest is not None else {}  # noqa: B905
        if plan.level:
            value = doc["level"]
            if type(value) is not int:
                extra["level"] = value
            elif 0 <= value < 8:
                keyword, name = SEVERITIES[value]
                out["log"] = {"level": keyword, "syslog": {"severity": {"code": value, "name": name}}}
            else:
                out["log"] = {"level": str(value)}
        if plan.host:
            value = doc["host"]
            if type(value) is str:
                out["host"] = {"name": value}
            else:
                extra["host"] = value
        if plan.source:
            value = doc["source_host"]
            if type(value) is str:
                out["source"] = {"address": value, "ip": value} if self._ip(value) else {"address": value}
            else:
                extra["source_host"] = value
        for key, path, kind in plan.homed:
            value = doc[key]
            if type(value) is not kind or (kind is list and not all(type(item) is str for item in doc[key])):
                extra[key] = value
            elif len(path) == 2:
                node = out.get(path[0])
                if node is None:
                    out[path[0]] = {path[1]: value}
                else:
                    node[path[1]] = value
            else:
                _put(out, path, value)
        out["event"] = {"sequence": sequence, "ingested": ingested}
        if "multiline_lines" in doc:  # lines joined into one event (streams.py), as Filebeat marks them
            log = out.get("log")
            if log is None:
                out["log"] = {"flags": ["multiline"]}
            else:
                log["flags"] = ["multiline"]
        if extra:
            out[NAMESPACE] = extra
        return out

    def _ip(self, text: str) -> bool:
        ips = self._ips
        known = ips.get(text)
        if known is None:
            if len(ips) >= _IP_CACHE_SIZE:
                ips.clear()
            known = ips[text] = is_ip_address(text)
        return known


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path`` in ``out``, within the objects already there."""
    node = out
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value
