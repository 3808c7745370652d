"""OTLP logs in, Elasticsearch documents out: an ``ExportLogsServiceRequest`` (protobuf or OTLP/JSON) becomes one
document per ``LogRecord``, in the form the GELF decoder makes (gelf.py), so that processors, routing, sequencing
and the ECS form treat it like a GELF message.

The Logstash form of a record (the ``logstash`` schema):

==============================================  =================================================================
``@timestamp``                                  ``time_unix_nano``, else ``observed_time_unix_nano``, else the
                                                receive time (0 is "unknown"); ISO 8601 UTC, rounded to the
                                                millisecond, as GELF documents have it
``message``                                     a string body as it is; any other body as its JSON text (``""``
                                                when the record has none)
``body``                                        a map or array body, as the value it is (besides its JSON in
                                                ``message``)
``level``                                       ``severity_number`` on the syslog levels GELF uses: 1-8 (TRACE,
                                                DEBUG) 7, 9-12 (INFO) 6, 13-16 (WARN) 4, 17-20 (ERROR) 3, 21-24
                                                (FATAL) 2; left out for 0 (unspecified) and for numbers outside
                                                1-24, so that an unknown severity never passes for ``info``
``severity_number``, ``severity_text``          as sent, when set (``severity_number`` not 0)
``trace_id``, ``span_id``                       lowercase hex, left out when empty or all zeros (the specification:
                                                "not associated with a trace"); one of the wrong length (or not hex,
                                                in JSON) is left out and counted (``trace_id_invalid``,
                                                ``span_id_invalid``)
``trace_flags``                                 the W3C trace flags (``flags & 0xff``), when not 0
``event_name``                                  when set
``host``                                        the resource's ``host.name`` (a non-blank string), else the sender's
                                                address
``source_host``                                 the sender's address, as in GELF documents
``scope.name``, ``scope.version``               the instrumentation scope's, when set
``scope.<key>``                                 the scope's attributes
``resource.<key>``                              the resource's attributes (``resource.service.name``)
``<key>``                                       the record's attributes, at the top level as GELF's additional
                                                fields are
==============================================  =================================================================

Names. A record's attribute names go through the field-name rule of GELF's additional fields (``extra_name``;
gelf.py spells it out), with the names above taken as ours too: a name that breaks the rule is dropped
(``field_name_invalid``); one that is a field of ours (``message``, ``level``, ``trace_id``, ``resource``,
``scope``, ``_id`` ...) is dropped (``field_reserved``); a dotted one under one of ours takes a ``_`` for its
first dot (``host.name`` -> ``host_name``, ``resource.x`` -> ``resource_x``). Dotted names are kept as the keys
they are (``http.method``; Elasticsearch reads the dots as objects), as GELF's are: one below an attribute that
holds a value (``a`` and ``a.b``) is dropped, and so is the second of two attributes of one name
(``field_name_clash``). ``--dedot-fields`` turns the dots of the record's attribute names into ``_``; the
resource's and the scope's keep theirs (they sit under their own prefix, and the ECS form needs the
semantic-convention names). A resource or scope attribute name must keep the rule too (or it is dropped,
counted with every record it would have been in); under its prefix no name of ours can be hit. Attribute values:
strings, booleans, integers, doubles as they are; bytes as base64 text (what OTLP/JSON sends); arrays as lists,
maps (``kvlistValue``) as objects; an empty value as null.

Bounds (``Limits``, as GELF's): a record is refused on its own (``OtlpResult.rejected``, answered as
``partial_success``) when its document would hold more than ``max_fields`` fields (every attribute of the
record, of its resource and of its scope, the four fields every document has, and each nested object or array
with the keys of each nested object: counted before any value is walked, so a million attributes cost a
``len``), nests deeper than ``max_depth`` (an attribute's own value at depth 2, as in a GELF message; never
deeper than MAX_ENCODED_DEPTH, which orjson can write, whatever ``max_depth`` says), has an attribute or map key
longer than ``max_field_name``, takes more than ``max_message_size`` bytes (the record with its resource and
scope, as encoded; in JSON measured only when the whole body is larger than that), or does not decode (a value
of the wrong type in JSON, bytes that are no ``LogRecord`` in protobuf, or nesting past upb's own bound of 100
messages: ``invalid_record``). A resource or scope past a bound refuses its records. The whole body is refused
(``DecodeError``: the listener answers 400, or 413 for the two counts) when it does not parse as a request (its
envelope: the lists of resources, scopes and records), holds more than ``max_records`` records, resources or
scopes (``too_many_records``), holds more than ``max_values`` attributes and nested values (``too_many_values``;
each list counted before it is walked: the two bound a request's CPU whatever its size), or, as JSON, more
nested objects and arrays than one for every MIN_CONTAINER_BYTES of its bytes (``too_many_fields``, counted in C
before it is parsed, as ``load_object`` does for GELF). Memory: protobuf is parsed one level at a time (the
request, a resource's and a scope's logs read with their lists as bytes), so upb never builds more than one
record at once; orjson builds a JSON body whole, its containers bounded as said. The walks keep a stack of their
own, so no bound meets Python's recursion limit.

The ECS form (``--schema ecs``; ``OtlpEcsMapper`` below) follows Elastic's own mapping of OTLP logs, the
``ecs`` mapping mode of the OpenTelemetry Collector's Elasticsearch exporter:

==============================================  =================================================================
``@timestamp``, ``message``                     as in the Logstash form (Elastic keeps only a string body; we
                                                keep a structured one's JSON in ``message``)
``log.level``                                   ``severity_text``; when there is none, the syslog keyword of
                                                ``level``, so that every record with a severity has one
``log.syslog.severity.code``, ``.name``         from ``level``, as GELF's ECS documents have them (ours)
``event.severity``                              ``severity_number``
``event.action``                                ``event_name`` (else the ``event.name`` attribute, as Elastic
                                                maps it)
``trace.id``, ``span.id``                       ``trace_id``, ``span_id``
``log.logger``                                  the scope's name (ours: OpenTelemetry's logging bridges name the
                                                scope after the logger)
``host.name``                                   ``host`` (the resource's ``host.name``, else the sender)
``source.address``, ``source.ip``               the sender, as for GELF
``agent.name``, ``agent.version``               ``telemetry.sdk.name``/``language`` (and ``telemetry.distro.name``),
                                                default ``otlp``; ``telemetry.distro.version`` else
                                                ``telemetry.sdk.version``
``host.os.type``                                from ``os.type``/``os.name`` (``linux``, ``windows``, ``macos``,
                                                ``unix``, ``android``, ``ios``)
``event.sequence``, ``event.ingested``,         ours, as for GELF
``ecs.version``
resource attributes                             renamed by RESOURCE_TO_ECS (``service.instance.id`` ->
                                                ``service.node.name``, ``deployment.environment`` ->
                                                ``service.environment``, ``host.name`` -> ``host.hostname`` too,
                                                ``k8s.pod.name`` -> ``kubernetes.pod.name`` ...), the
                                                ``telemetry.*`` ones left out (they make ``agent.*``), every other
                                                by its own name (``service.name``, ``container.id``,
                                                ``cloud.region`` ...)
scope attributes                                by their own names
record attributes                               renamed by RECORD_TO_ECS (``exception.message`` ->
                                                ``error.message``, ``exception.stacktrace`` ->
                                                ``error.stack_trace`` ...), every other by its own name
==============================================  =================================================================

Left out of the ECS form, as Elastic leaves them out: a structured body's value (its JSON is ``message``),
``trace_flags`` and the scope's version. A field of ours wins over an attribute of the same name (Elastic writes
its own last); an attribute whose name is the parent of another name (``event`` beside ``event.sequence``,
``a`` beside ``a.b``) moves to ``<name>.value``, as Elastic's exporter moves it; one below a value of ours
(``host.name.x``) is left out. Attributes are written as the dotted keys they are (Elasticsearch maps
``service.name`` and ``{"service": {"name": ...}}`` alike), our fields as objects. ``ecs.py``'s ``EcsMapper``
maps GELF's documents and knows nothing of these: its plans stay as fast as they were, and the input that
decodes OTLP maps its documents with this one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

import orjson

from gelfingest.core.decompress import DEFAULT_MAX_MESSAGE_SIZE
from gelfingest.core.ecs import ECS_VERSION, SEVERITIES
from gelfingest.core.errors import DecodeError, GelfError, Reason
from gelfingest.core.fields import (
    DroppedField,
    FieldNotes,
    Limits,
    Timestamps,
    epoch_millis,
    extra_name,
    load_object,
    place_dotted,
)
from gelfingest.core.routing import is_ip_address


class OtlpReason:
    """Reasons of the OTLP decoder besides the core's (``Reason``): stable names, counted and logged."""

    # The body is not an ExportLogsServiceRequest in protobuf.
    INVALID_PROTOBUF: Final = "invalid_protobuf"
    # JSON, but not an ExportLogsServiceRequest: a list or object of the request where another type is.
    NOT_A_REQUEST: Final = "not_an_otlp_request"
    # More records (or resources, or scopes) than ``max_records`` in one request.
    TOO_MANY_RECORDS: Final = "too_many_records"
    # More attributes and nested values (map entries, array items) than ``max_values`` in one request.
    TOO_MANY_VALUES: Final = "too_many_values"
    # One record: a field or value of the wrong type (OTLP/JSON).
    INVALID_RECORD: Final = "invalid_record"


class _Overloaded(Exception):
    """More values than ``max_values``: the whole request is refused (raised past the records' own
    refusals)."""


class OtlpDroppedField:
    """Reasons a field of a record is left out while the record is kept (counted in ``dropped_fields``)."""

    TRACE_ID_INVALID: Final = "trace_id_invalid"
    SPAN_ID_INVALID: Final = "span_id_invalid"


# Records, resources and scopes in one request, at most. The SDKs export 512 records a request (their batch
# processors' default), the Collector's batch processor 8192; a body of empty records costs 2 bytes a record on
# the wire and half a KiB a document here, so past this the request is refused whole (the listener answers 413,
# which no client retries: the sender must send smaller batches).
DEFAULT_MAX_RECORDS: Final = 100_000
# Attributes and nested values (map entries and array items, each walked in Python) in one request, at most. A
# record of ten attributes is ten; the Collector's batch of 8192 records of 30 attributes is 250 000. An
# attribute costs 1 µs or less to walk and takes 2 bytes at least on the wire, so without this a body of
# tiny attributes would cost half a second of CPU a MiB; with it, a request costs at most about a second
# whatever its size.
DEFAULT_MAX_VALUES: Final = 1_000_000
# An OTLP/JSON body may hold one nested object or array for every this many bytes, at most. The smallest value
# that holds anything, ``{"intValue":1},``, takes 15; degenerate bodies (``[{},{},...]``, 3 bytes an object) are
# refused before orjson builds them, so parsing costs memory in proportion to a body's bytes as for real ones.
MIN_CONTAINER_BYTES: Final = 12
# The deepest document orjson writes (it stops at 255 levels), where the bulk encoder writes every document: a
# value nested deeper is refused like one past max_depth, whatever max_depth says.
MAX_ENCODED_DEPTH: Final = 250
# Distinct attribute names remembered with their verdict, and distinct shapes of a record's attributes (its
# keys, in order) with their plan, as gelf.py's decoder remembers names and message shapes; a record of more
# attributes than _PLAN_MAX_KEYS is placed without a plan.
_NAME_CACHE_SIZE: Final = 4096
_PLAN_CACHE_SIZE: Final = 256
_PLAN_MAX_KEYS: Final = 64

# Fields of the OTLP document besides GELF's own (fields.RESERVED_FIELDS, which extra_name keeps): a record's
# attribute may not take these names, and a dotted one below them takes a "_" for its first dot.
OTLP_FIELDS: Final = frozenset({"severity_text", "severity_number", "trace_id", "span_id", "trace_flags",
                                "event_name", "body", "resource", "scope"})
RESOURCE_PREFIX: Final = "resource."
SCOPE_PREFIX: Final = "scope."
# The fields every document has (counted against max_fields with the attributes).
_ALWAYS: Final = 4  # @timestamp, message, host, source_host

# OTLP's severity numbers (1..24, four to a level) on syslog's levels (gelf.py's ``level``).
SYSLOG_LEVELS: Final = (None, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2)
# The enum's names, which OTLP/JSON must not send but protobuf's own JSON parsers take (as we do).
_SEVERITY_NAMES: Final = {
    f"SEVERITY_NUMBER_{name}{n if n > 1 else ''}": 4 * i + n
    for i, name in enumerate(("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")) for n in range(1, 5)
} | {"SEVERITY_NUMBER_UNSPECIFIED": 0}
_INT32: Final = range(-(2**31), 2**31)
_INT64: Final = range(-(2**63), 2**63)
_UINT64_MAX: Final = 2**64 - 1
_UINT32_MAX: Final = 2**32 - 1
_ZERO_TRACE: Final = bytes(16)
_ZERO_SPAN: Final = bytes(8)

# OTLP/JSON's AnyValue keys (and the proto names, which protobuf's JSON parsers take too) by kind.
_STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES, _STRINDEX = range(8)
_NESTED: Final = (_ARRAY, _KVLIST)
_JSON_KINDS: Final = {
    "stringValue": _STRING, "boolValue": _BOOL, "intValue": _INT, "doubleValue": _DOUBLE,
    "arrayValue": _ARRAY, "kvlistValue": _KVLIST, "bytesValue": _BYTES, "stringValueStrindex": _STRINDEX,
    "string_value": _STRING, "bool_value": _BOOL, "int_value": _INT, "double_value": _DOUBLE,
    "array_value": _ARRAY, "kvlist_value": _KVLIST, "bytes_value": _BYTES, "string_value_strindex": _STRINDEX,
}
_DOUBLE_WORDS: Final = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


@dataclass(slots=True)
class OtlpResult:
    """What one request decoded into: the documents with their index time in whole epoch seconds, in the order
    of the request; the records refused one by one, counted by reason with the first reason's detail."""

    documents: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    # Log records in the request (accepted and refused).
    records: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)

    def refuse(self, err: GelfError, count: int = 1) -> None:
        self.rejected[err.reason] += count
        self.details.setdefault(err.reason, err.detail)

    @property
    def rejected_count(self) -> int:
        return self.rejected.total()

    def error_message(self) -> str:
        """``partial_success.error_message``: why records were refused ("" when none was)."""
        if not self.rejected:
            return ""
        reasons = "; ".join(f"{count} {reason}" + (f" (first: {self.details[reason]})" if self.details[reason]
                                                    else "") for reason, count in self.rejected.most_common())
        return f"{self.rejected_count} of {self.records} log records rejected: {reasons}"


@dataclass(frozen=True, slots=True)
class _Protobuf:
    """The message types the protobuf decoder parses with. The request, a resource's logs and a scope's logs
    are read shallow: their lists as the bytes they are (a message and ``bytes`` share protobuf's wire type),
    so that each resource, scope and record is parsed on its own once its size is known, and what upb builds
    at once stays within one record (upb takes about 25 times the bytes of a body of tiny attributes)."""

    request: Any
    resource_logs: Any
    scope_logs: Any
    resource: Any
    scope: Any
    record: Any
    error: type[Exception]


@functools.cache
def _protobuf() -> _Protobuf:
    """Imported on first use: the core without OTLP never loads protobuf (typed ``Any``: the generated modules'
    stubs need protobuf's own, which are not installed)."""
    logs: Any = importlib.import_module("opentelemetry.proto.logs.v1.logs_pb2")
    common: Any = importlib.import_module("opentelemetry.proto.common.v1.common_pb2")
    resource: Any = importlib.import_module("opentelemetry.proto.resource.v1.resource_pb2")
    descriptors: Any = importlib.import_module("google.protobuf.descriptor_pb2")
    pools: Any = importlib.import_module("google.protobuf.descriptor_pool")
    factory: Any = importlib.import_module("google.protobuf.message_factory")
    message: Any = importlib.import_module("google.protobuf.message")
    field_type = descriptors.FieldDescriptorProto
    shallow = descriptors.FileDescriptorProto(name="gelfingest/otlp_shallow.proto", package="gelfingest.otlp",
                                              syntax="proto3")
    # ExportLogsServiceRequest, ResourceLogs and ScopeLogs, by the field numbers of logs.proto and
    # logs_service.proto (their other fields, schema_url, are left unknown).
    for name, fields in (("Request", ((1, "resource_logs", True),)),
                         ("ResourceLogs", ((1, "resource", False), (2, "scope_logs", True))),
                         ("ScopeLogs", ((1, "scope", False), (2, "log_records", True)))):
        shallow_type = shallow.message_type.add(name=name)
        for number, field_name, repeated in fields:
            shallow_type.field.add(name=field_name, number=number, type=field_type.TYPE_BYTES,
                                   label=field_type.LABEL_REPEATED if repeated else field_type.LABEL_OPTIONAL)
    pool = pools.DescriptorPool()
    pool.Add(shallow)
    request, resource_logs, scope_logs = (factory.GetMessageClass(pool.FindMessageTypeByName(f"gelfingest.otlp.{name}"))
                                          for name in ("Request", "ResourceLogs", "ScopeLogs"))
    return _Protobuf(request, resource_logs, scope_logs, resource.Resource, common.InstrumentationScope,
                     logs.LogRecord, message.DecodeError)


def protobuf_runtime() -> str:
    """The protobuf runtime in use: ``upb`` (C), ``cpp``, or ``python`` (several times slower: worth a word at
    start)."""
    implementation: Any = importlib.import_module("google.protobuf.internal.api_implementation")
    return str(implementation.Type())


def _record_verdict(key: str, dedot: bool) -> str | tuple[str] | None:
    """The document name of a record attribute: ``extra_name``'s verdict (None: breaks the rule; "": a field of
    ours), with the OTLP document's own fields taken as ours too. A dotted name comes back in a tuple, to be
    placed with care (below no attribute that holds a value); with ``dedot`` its dots become ``_`` instead."""
    name = extra_name("_" + key)
    if not name:
        return name
    if name in OTLP_FIELDS:
        return ""
    root, dot, rest = name.partition(".")
    if dot and root in OTLP_FIELDS:
        name = f"{root}_{rest}"
    if "." in name:
        return name.replace(".", "_") if dedot else (name,)
    return name


def _valid_name(key: str) -> bool:
    """A resource or scope attribute name keeps the field-name rule (under its prefix, none is ours)."""
    return extra_name("_" + key) is not None


def _too_long(key: str, limit: int) -> DecodeError:
    return DecodeError(Reason.FIELD_NAME_TOO_LONG, f"a {len(key)}-character attribute name (at most {limit})")


def _invalid(what: str) -> DecodeError:
    return DecodeError(OtlpReason.INVALID_RECORD, what)


# Converts a list of attributes (protobuf's or JSON's) into their keys and their values.
_Convert = Callable[[Any], tuple[list[str], list[Any]]]


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where the attributes of one shape go: the document names of those kept, picked from the values in C
    (``pick``: None when all are kept), the reasons of those dropped, (name, parent) for each name below
    another attribute, and the error that refuses every record of this shape (a name too long)."""

    names: tuple[str, ...]
    pick: Callable[[list[Any]], Any] | None
    counted: tuple[str, ...]
    below: tuple[tuple[str, str], ...]
    error: GelfError | None = None


@dataclass(slots=True)
class _Group:
    """What the records of one resource and scope share: their fields, how many fields they count for, the
    host, the reasons of what was dropped from them (counted with each record), their encoded size (in JSON only
    when records are measured) and, when they break a bound, the error that refuses every record."""

    fields: dict[str, Any]
    count: int
    host: str | None
    dropped: tuple[str, ...] = ()
    size: int = 0
    error: GelfError | None = None

    def join(self, scope: _Group) -> _Group:
        return _Group({**self.fields, **scope.fields}, self.count + scope.count, self.host,
                      self.dropped + scope.dropped, self.size + scope.size, self.error or scope.error)


class OtlpDecoder:
    """Decodes OTLP logs requests; counts the fields it drops from records it keeps in ``dropped_fields`` (by
    reason, as GELF's decoder does; ``notes`` keeps the first of each reason for the daemon to log).

    One decoder a worker: it remembers attribute names with their verdicts, and the last second it wrote."""

    def __init__(self, limits: Limits | None = None, dedot: bool = False,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, max_records: int = DEFAULT_MAX_RECORDS,
                 max_values: int = DEFAULT_MAX_VALUES) -> None:
        self.limits = limits or Limits()
        self.dedot = dedot
        self.max_message_size = max_message_size
        self.max_records = max_records
        self.max_values = max_values
        self.dropped_fields: Counter[str] = Counter()
        self.notes = FieldNotes()
        self.iso = Timestamps().iso
        self._names: dict[str, str | tuple[str] | None] = {}
        self._plans: dict[tuple[str, ...], _Placement] = {}
        self._valid: dict[str, bool] = {}
        # Fields the record being decoded may still take (nested ones counted as its values are walked), and
        # values the request may still hold.
        self._budget = 0
        self._values_left = 0
        self._max_depth = min(self.limits.max_depth, MAX_ENCODED_DEPTH)

    # ---- protobuf

    def decode_protobuf(self, body: bytes, source: str, now: float) -> OtlpResult:
        """A binary ``ExportLogsServiceRequest`` from ``source`` (the sender's address) received at ``now``
        (epoch seconds). DecodeError when the body cannot be one (the listener answers 400), or holds too many
        records or values (413)."""
        pb = _protobuf()
        try:
            entries = pb.request.FromString(body).resource_logs
            self._check_count(len(entries), "resources")
            resources = [pb.resource_logs.FromString(entry) for entry in entries]
            self._check_count(sum(len(rl.scope_logs) for rl in resources), "scopes")
            groups = [(rl.resource, [pb.scope_logs.FromString(entry) for entry in rl.scope_logs])
                      for rl in resources]
        except pb.error as exc:
            raise DecodeError(OtlpReason.INVALID_PROTOBUF, str(exc)[:200]) from None
        del entries, resources
        result = OtlpResult(records=sum(len(sl.log_records) for _, scopes in groups for sl in scopes))
        self._check_count(result.records, "log records")
        self._values_left = self.max_values
        try:
            self._decode_pb(pb, groups, result, source, now)
        except _Overloaded:
            raise self._overloaded() from None
        return result

    def _decode_pb(self, pb: _Protobuf, groups: list[tuple[bytes, list[Any]]], result: OtlpResult, source: str,
                   now: float) -> None:
        documents = result.documents
        for resource, scopes in groups:
            if not any(sl.log_records for sl in scopes):
                continue
            try:
                attributes = pb.resource.FromString(resource).attributes
            except pb.error as exc:
                shared = _Group({}, 0, None, error=_invalid(f"a resource that is not protobuf: {exc}"[:200]))
            else:
                shared = self._group(RESOURCE_PREFIX, attributes, self._pb_attributes, source)
            shared.size = len(resource)
            for sl in scopes:
                records = sl.log_records
                if not records:
                    continue
                try:
                    scope = pb.scope.FromString(sl.scope)
                except pb.error as exc:
                    group = _Group({}, 0, None, error=_invalid(f"a scope that is not protobuf: {exc}"[:200]))
                else:
                    group = shared.join(self._scope(scope.name, scope.version, scope.attributes,
                                                    self._pb_attributes, source))
                    group.size += len(sl.scope)
                if group.error is not None:
                    result.refuse(group.error, len(records))
                    continue
                for raw in records:
                    try:
                        documents.append(self._pb_record(pb, raw, group, source, now))
                    except GelfError as err:
                        result.refuse(err)

    def _pb_record(self, pb: _Protobuf, raw: bytes, group: _Group, source: str,
                   now: float) -> tuple[dict[str, Any], int]:
        size = len(raw) + group.size
        if size > self.max_message_size:
            raise DecodeError(Reason.TOO_LARGE, f"a record of {size} bytes with its resource and scope (at most "
                              f"{self.max_message_size})")
        try:
            rec = pb.record.FromString(raw)
        except pb.error as exc:
            raise _invalid(f"a log record that is not protobuf: {exc}"[:200]) from None
        attributes = rec.attributes
        self._start(len(attributes), group)
        trace = span = None
        ident = rec.trace_id
        if ident and ident != _ZERO_TRACE:
            if len(ident) == 16:
                trace = ident.hex()
            else:
                self._bad_id(OtlpDroppedField.TRACE_ID_INVALID, source)
        ident = rec.span_id
        if ident and ident != _ZERO_SPAN:
            if len(ident) == 8:
                span = ident.hex()
            else:
                self._bad_id(OtlpDroppedField.SPAN_ID_INVALID, source)
        body = rec.body
        kind = body.WhichOneof("value")
        body_value = body.string_value if kind == "string_value" else self._pb_value(body, kind, 2)
        keys, values = self._pb_attributes(attributes)
        return self._document(rec.time_unix_nano, rec.observed_time_unix_nano, rec.severity_number,
                              rec.severity_text, trace, span, rec.flags, rec.event_name,
                              body_value, keys, values, group, source, now)

    def _pb_attributes(self, attributes: Iterable[Any]) -> tuple[list[str], list[Any]]:
        """The attributes' keys, and their values converted (the keys' lengths are checked where they are
        placed)."""
        keys = []
        values = []
        for kv in attributes:
            keys.append(kv.key)
            value = kv.value
            kind = value.WhichOneof("value")
            values.append(value.string_value if kind == "string_value" else self._pb_value(value, kind, 2))
        return keys, values

    def _pb_value(self, value: Any, kind: str | None, depth: int) -> Any:
        """An AnyValue of ``kind`` as a document value, at ``depth`` (an attribute's own value: 2)."""
        if kind == "string_value":
            return value.string_value
        if kind == "int_value":
            return value.int_value
        if kind == "double_value":
            return value.double_value
        if kind == "bool_value":
            return value.bool_value
        if kind == "bytes_value":
            return base64.b64encode(value.bytes_value).decode("ascii")
        if kind == "kvlist_value" or kind == "array_value":
            return self._pb_nested(value, kind, depth)
        return None  # no value, or string_value_strindex (the profiling signal's alone)

    def _pb_nested(self, value: Any, kind: str, depth: int) -> Any:
        """A map or array value, walked with a stack of its open maps and arrays (not one Python call a level):
        each bounded in depth, and counted with its keys against the record's fields."""
        root, entries = self._pb_open(value, kind, depth)
        max_name = self.limits.max_field_name
        stack = [(iter(entries), root, depth)]
        key = ""
        while stack:
            pending, out, depth = stack[-1]
            for entry in pending:
                if isinstance(out, dict):
                    key = entry.key
                    if len(key) > max_name:
                        raise _too_long(key, max_name)
                    entry = entry.value
                inner = entry.WhichOneof("value")
                if inner == "kvlist_value" or inner == "array_value":
                    child, child_entries = self._pb_open(entry, inner, depth + 1)
                    if isinstance(out, dict):
                        out[key] = child
                    else:
                        out.append(child)
                    stack.append((iter(child_entries), child, depth + 1))
                    break
                item = entry.string_value if inner == "string_value" else self._pb_value(entry, inner, depth + 1)
                if isinstance(out, dict):
                    out[key] = item
                else:
                    out.append(item)
            else:
                stack.pop()
        return root

    def _pb_open(self, value: Any, kind: str, depth: int) -> tuple[dict[str, Any] | list[Any], Any]:
        """A new map or array at ``depth``, and the entries to fill it with."""
        self._check_depth(depth)
        if kind == "kvlist_value":
            entries = value.kvlist_value.values
            self._take(1 + len(entries))
        else:
            entries = value.array_value.values
            self._take(1)
        self._spend(len(entries))
        return ({} if kind == "kvlist_value" else []), entries

    # ---- OTLP/JSON

    def decode_json(self, body: bytes, source: str, now: float) -> OtlpResult:
        """An OTLP/JSON ``ExportLogsServiceRequest`` (lowerCamelCase keys, as the specification says; the proto
        names too, as protobuf's JSON parsers and the Collector take them), as ``decode_protobuf``."""
        request = load_object(body, max(len(body) // MIN_CONTAINER_BYTES, self.limits.max_fields))
        groups = _json_list(request.get("resourceLogs") or request.get("resource_logs"), "resourceLogs")
        result = OtlpResult(records=self._check_json(groups))
        self._values_left = self.max_values
        try:
            self._decode_json(groups, result, source, now, len(body) > self.max_message_size)
        except _Overloaded:
            raise self._overloaded() from None
        return result

    def _decode_json(self, groups: list[Any], result: OtlpResult, source: str, now: float, measure: bool) -> None:
        documents = result.documents
        for rl in groups:
            scopes = _json_scopes(rl)
            if not scopes:
                continue
            resource = rl.get("resource") or {}
            try:
                attributes = _json_list(resource.get("attributes"), "attributes", OtlpReason.INVALID_RECORD)
                shared = self._group(RESOURCE_PREFIX, attributes, self._json_attributes, source)
            except GelfError as err:
                shared = _Group({}, 0, None, error=err)
            if measure:
                shared.size = len(orjson.dumps(resource))
            for sl in scopes:
                records = _json_records(sl)
                if not records:
                    continue
                group = shared.join(self._json_scope(sl.get("scope") or {}, source))
                if measure:
                    group.size += len(orjson.dumps(sl.get("scope")))
                if group.error is not None:
                    result.refuse(group.error, len(records))
                    continue
                for rec in records:
                    try:
                        documents.append(self._json_record(rec, group, source, now, measure))
                    except GelfError as err:
                        result.refuse(err)

    def _json_scope(self, scope: dict[str, Any], source: str) -> _Group:
        try:
            name = _json_str(scope.get("name"), "scope name")
            version = _json_str(scope.get("version"), "scope version")
            attributes = _json_list(scope.get("attributes"), "attributes", OtlpReason.INVALID_RECORD)
            return self._scope(name, version, attributes, self._json_attributes, source)
        except GelfError as err:
            return _Group({}, 0, None, error=err)

    def _json_record(self, rec: Any, group: _Group, source: str, now: float,
                     measure: bool) -> tuple[dict[str, Any], int]:
        if type(rec) is not dict:
            raise _invalid(f"a log record that is a JSON {type(rec).__name__}")
        if measure:
            size = len(orjson.dumps(rec)) + group.size
            if size > self.max_message_size:
                raise DecodeError(Reason.TOO_LARGE, f"a record of {size} bytes with its resource and scope "
                                  f"(at most {self.max_message_size})")
        get = rec.get
        attributes = _json_list(get("attributes"), "attributes", OtlpReason.INVALID_RECORD)
        self._start(len(attributes), group)
        trace = get("traceId") or get("trace_id")
        if trace:
            trace = _hex_id(trace, 32)
            if trace is None:
                self._bad_id(OtlpDroppedField.TRACE_ID_INVALID, source)
        span = get("spanId") or get("span_id")
        if span:
            span = _hex_id(span, 16)
            if span is None:
                self._bad_id(OtlpDroppedField.SPAN_ID_INVALID, source)
        body = get("body")
        body_value = self._json_value(body, 2) if body is not None else None
        keys, values = self._json_attributes(attributes)
        return self._document(
            _json_uint(get("timeUnixNano") or get("time_unix_nano"), _UINT64_MAX, "timeUnixNano"),
            _json_uint(get("observedTimeUnixNano") or get("observed_time_unix_nano"), _UINT64_MAX,
                       "observedTimeUnixNano"),
            _json_severity(get("severityNumber") or get("severity_number")),
            _json_str(get("severityText") or get("severity_text"), "severityText"),
            trace or None, span or None, _json_uint(get("flags"), _UINT32_MAX, "flags"),
            _json_str(get("eventName") or get("event_name"), "eventName"), body_value, keys, values, group, source,
            now)

    def _json_attributes(self, attributes: Iterable[Any]) -> tuple[list[str], list[Any]]:
        """As ``_pb_attributes``: a ``{"key": ..., "value": {...}}`` object each."""
        keys = []
        values = []
        for kv in attributes:
            if type(kv) is not dict:
                raise _invalid("an attribute that is not an object")
            key = kv.get("key")
            if type(key) is not str:
                if key is not None:
                    raise _invalid("an attribute key that is not a string")
                key = ""
            value = kv.get("value")
            if type(value) is dict:
                text = value.get("stringValue")
                value = text if type(text) is str and len(value) == 1 else self._json_value(value, 2)
            elif value is not None:
                value = self._json_value(value, 2)
            keys.append(key)
            values.append(value)
        return keys, values

    def _json_value(self, value: Any, depth: int) -> Any:
        """An OTLP/JSON AnyValue (``{"stringValue": ...}``) as a document value, at ``depth``."""
        kind, item = _json_any(value)
        if kind in _NESTED:
            return self._json_nested(item, kind, depth)
        return item

    def _json_nested(self, item: Any, kind: int, depth: int) -> Any:
        """As ``_pb_nested``: a ``{"values": [...]}`` of AnyValues, or of ``{"key": ..., "value": ...}``."""
        root, entries = self._json_open(item, kind, depth)
        max_name = self.limits.max_field_name
        stack = [(iter(entries), root, depth)]
        key = ""
        while stack:
            pending, out, depth = stack[-1]
            for entry in pending:
                if isinstance(out, dict):
                    if type(entry) is not dict:
                        raise _invalid("a kvlistValue entry that is not an object")
                    name = entry.get("key")
                    if type(name) is not str:
                        if name is not None:
                            raise _invalid("a kvlistValue key that is not a string")
                        name = ""
                    key = name
                    if len(key) > max_name:
                        raise _too_long(key, max_name)
                    entry = entry.get("value")
                inner, value = _json_any(entry)
                if inner in _NESTED:
                    child, child_entries = self._json_open(value, inner, depth + 1)
                    if isinstance(out, dict):
                        out[key] = child
                    else:
                        out.append(child)
                    stack.append((iter(child_entries), child, depth + 1))
                    break
                if isinstance(out, dict):
                    out[key] = value
                else:
                    out.append(value)
            else:
                stack.pop()
        return root

    def _json_open(self, item: Any, kind: int, depth: int) -> tuple[dict[str, Any] | list[Any], list[Any]]:
        self._check_depth(depth)
        if type(item) is not dict:
            raise _invalid("an arrayValue or kvlistValue that is not an object")
        entries = _json_list(item.get("values"), "values", OtlpReason.INVALID_RECORD)
        self._take(1 + len(entries) if kind == _KVLIST else 1)
        self._spend(len(entries))
        return ({} if kind == _KVLIST else []), entries

    # ---- shared

    def _check_count(self, count: int, what: str) -> None:
        """DecodeError (``too_many_records``) past ``max_records`` resources, scopes or records in a request:
        counted from the lengths of its lists before any is walked."""
        if count > self.max_records:
            raise DecodeError(OtlpReason.TOO_MANY_RECORDS, f"{count} {what} in one request (at most "
                              f"{self.max_records}: send smaller batches)")

    def _check_json(self, groups: list[Any]) -> int:
        """The records of an OTLP/JSON request, its lists and objects checked for their types (so that nothing
        is refused whole once records are decoded) and counted as ``_check_count`` does."""
        self._check_count(len(groups), "resources")
        self._check_count(sum(len(_json_scopes(rl)) for rl in groups), "scopes")
        records = 0
        for rl in groups:
            _json_object(rl.get("resource"), "resource")
            for sl in _json_scopes(rl):
                if type(sl) is not dict:
                    raise DecodeError(OtlpReason.NOT_A_REQUEST, f"a scopeLogs entry is a JSON {type(sl).__name__}")
                _json_object(sl.get("scope"), "scope")
                records += len(_json_records(sl))
        self._check_count(records, "log records")
        return records

    def _start(self, attributes: int, group: _Group) -> None:
        """A record of ``attributes`` attributes begins: every field it may still take, or TOO_MANY_FIELDS."""
        self._spend(attributes)
        self._budget = self.limits.max_fields - _ALWAYS - group.count - attributes
        if self._budget < 0:
            raise DecodeError(Reason.TOO_MANY_FIELDS, f"{self.limits.max_fields - self._budget} or more fields with "
                              f"the resource's and the scope's (at most {self.limits.max_fields})")

    def _check_depth(self, depth: int) -> None:
        if depth > self._max_depth:
            raise DecodeError(Reason.JSON_TOO_DEEP, f"a value nested deeper than {self._max_depth} levels")

    def _spend(self, values: int) -> None:
        """``values`` more to walk in this request (checked before they are walked)."""
        self._values_left -= values
        if self._values_left < 0:
            raise _Overloaded

    def _overloaded(self) -> DecodeError:
        return DecodeError(OtlpReason.TOO_MANY_VALUES, f"more than {self.max_values} attributes and nested values "
                           f"in one request (send smaller batches)")

    def _take(self, fields: int) -> None:
        """A nested value takes ``fields`` more (itself, and the keys of a map)."""
        self._budget -= fields
        if self._budget < 0:
            raise DecodeError(Reason.TOO_MANY_FIELDS, f"more than {self.limits.max_fields} fields, nested ones "
                              f"counted")

    def _group(self, prefix: str, attributes: Any, convert: _Convert, source: str,
               fields: dict[str, Any] | None = None) -> _Group:
        """The fields of a resource's (or scope's) attributes under ``prefix``; a bound broken here refuses its
        records (``error``)."""
        limits = self.limits
        out = fields if fields is not None else {}
        own = len(out)
        try:
            if len(attributes) + own > limits.max_fields:
                raise DecodeError(Reason.TOO_MANY_FIELDS, f"a {prefix[:-1]} of {len(attributes)} attributes "
                                  f"(at most {limits.max_fields} fields)")
            self._spend(len(attributes))
            self._budget = limits.max_fields - len(attributes) - own
            keys, values = convert(attributes)
            for key in keys:
                if len(key) > limits.max_field_name:
                    raise _too_long(key, limits.max_field_name)
        except GelfError as err:
            return _Group({}, 0, None, error=err)
        count = limits.max_fields - self._budget
        dropped: list[str] = []
        valid = self._valid
        dotted = False
        for key, value in zip(keys, values):  # noqa: B905 (one length by construction)
            try:
                ok = valid[key]
            except KeyError:
                if len(valid) >= _NAME_CACHE_SIZE:
                    valid.clear()
                ok = valid[key] = _valid_name(key)
            if not ok:
                dropped.append(self._dropped(DroppedField.INVALID_NAME, key, source))
                continue
            name = prefix + key
            if name in out:
                dropped.append(self._dropped(DroppedField.CLASH, name, source))
            else:
                out[name] = value
                dotted = dotted or "." in key
        if dotted:  # a name below one that holds a value: Elasticsearch would refuse the document
            start = len(prefix)
            for name in [name for name in out if name.find(".", start) != -1]:
                pos = name.find(".", start)
                while pos != -1:
                    parent = name[:pos]
                    if parent in out and type(out[parent]) is not dict:
                        del out[name]
                        dropped.append(self._dropped(DroppedField.CLASH, name, source))
                        break
                    pos = name.find(".", pos + 1)
        host = out.get("resource.host.name") if prefix == RESOURCE_PREFIX else None
        if type(host) is not str or not host or host.isspace():
            host = None
        return _Group(out, count, host, tuple(dropped))

    def _scope(self, name: str, version: str, attributes: Any, convert: _Convert, source: str) -> _Group:
        fields: dict[str, Any] = {}
        if name:
            fields["scope.name"] = name
        if version:
            fields["scope.version"] = version
        return self._group(SCOPE_PREFIX, attributes, convert, source, fields)

    def _document(self, nanos: int, observed: int, severity: int, text: str, trace: str | None, span: str | None,
                  flags: int, event_name: str, body: Any, keys: list[str], values: list[Any], group: _Group,
                  source: str, now: float) -> tuple[dict[str, Any], int]:
        """One record's document, from its fields (each as its encoding gave it, converted) and its group's."""
        # Unsigned 64-bit nanoseconds end in the year 2554: every one but 0 ("unknown") is an @timestamp.
        if nanos > 0:
            seconds, millis = divmod((nanos + 500_000) // 1_000_000, 1000)
        elif observed > 0:
            seconds, millis = divmod((observed + 500_000) // 1_000_000, 1000)
        else:
            seconds, millis = epoch_millis(now, now)
        kind = type(body)
        if kind is str:
            message = body
        elif body is None:
            message = ""
        else:
            message = orjson.dumps(body).decode()
        doc: dict[str, Any] = {"@timestamp": self.iso(seconds, millis), "message": message}
        if severity:
            if 0 < severity < 25:
                doc["level"] = SYSLOG_LEVELS[severity]
            doc["severity_number"] = severity
        if text:
            doc["severity_text"] = text
        if trace is not None:
            doc["trace_id"] = trace
        if span is not None:
            doc["span_id"] = span
        flags &= 0xFF
        if flags:
            doc["trace_flags"] = flags
        if event_name:
            doc["event_name"] = event_name
        if kind is dict or kind is list:
            doc["body"] = body
        doc["host"] = group.host or source
        doc["source_host"] = source
        doc.update(group.fields)
        if group.dropped:
            for reason in group.dropped:
                self.dropped_fields[reason] += 1
        if keys:
            self._place(doc, keys, values, source)
        return doc, seconds

    def _place(self, doc: dict[str, Any], keys: list[str], values: list[Any], source: str) -> None:
        """A record's attributes into its document, by the field-name rule (see the module's docstring), with
        the plan of their keys: SDKs send the same few shapes, so the names are worked out once a shape."""
        if len(keys) > _PLAN_MAX_KEYS:
            self._place_generally(doc, keys, values, source)
            return
        shape = tuple(keys)
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[shape] = self._plan(shape, source)
        if plan.error is not None:
            raise plan.error
        doc.update(zip(plan.names, values if plan.pick is None else plan.pick(values)))  # noqa: B905
        if plan.counted:
            dropped = self.dropped_fields
            for reason in plan.counted:
                dropped[reason] += 1
        for name, parent in plan.below:
            if parent in doc and type(doc[parent]) is not dict and name in doc:
                del doc[name]
                self.dropped_fields[self._dropped(DroppedField.CLASH, name, source)] += 1

    def _plan(self, shape: tuple[str, ...], source: str) -> _Placement:
        """Where the attributes of this shape go: each kept one's name (the first of two of one name), the
        reasons of the dropped ones, and the dotted names with an attribute above them, which stay only while
        that one holds an object."""
        names: list[str] = []
        kept: list[int] = []
        counted: list[str] = []
        max_name = self.limits.max_field_name
        for i, key in enumerate(shape):
            if len(key) > max_name:
                return _Placement((), None, (), (), _too_long(key, max_name))
            name = self._verdict(key)
            if name is None:
                counted.append(self._dropped(DroppedField.INVALID_NAME, key, source))
            elif not name:
                counted.append(self._dropped(DroppedField.RESERVED, key, source))
            else:
                name = name if type(name) is str else name[0]
                if name in names:
                    counted.append(self._dropped(DroppedField.CLASH, key, source))
                else:
                    names.append(name)
                    kept.append(i)
        placed = set(names)
        below = tuple((name, name[:pos]) for name in names for pos in _dots(name) if name[:pos] in placed)
        pick: Callable[[list[Any]], Any] | None = None
        if len(kept) < len(shape):
            if len(kept) == 1:
                only = kept[0]
                pick = lambda values: (values[only],)  # noqa: E731 (itemgetter of one index returns no tuple)
            else:
                pick = itemgetter(*kept) if kept else lambda values: ()
        return _Placement(tuple(names), pick, tuple(counted), below)

    def _verdict(self, key: str) -> str | tuple[str] | None:
        names = self._names
        try:
            return names[key]
        except KeyError:
            if len(names) >= _NAME_CACHE_SIZE:
                names.clear()
            name = names[key] = _record_verdict(key, self.dedot)
            return name

    def _place_generally(self, doc: dict[str, Any], keys: list[str], values: list[Any], source: str) -> None:
        """As ``_place``, without a plan: a record of more attributes than a plan takes."""
        max_name = self.limits.max_field_name
        careful: list[tuple[str, Any]] | None = None
        for key, value in zip(keys, values):  # noqa: B905 (one length by construction)
            if len(key) > max_name:
                raise _too_long(key, max_name)
            name = self._verdict(key)
            if type(name) is str:
                if not name:
                    self.dropped_fields[self._dropped(DroppedField.RESERVED, key, source)] += 1
                elif name in doc:  # the same name twice, or a_b beside a.b with dedot
                    self.dropped_fields[self._dropped(DroppedField.CLASH, key, source)] += 1
                else:
                    doc[name] = value
            elif name is None:
                self.dropped_fields[self._dropped(DroppedField.INVALID_NAME, key, source)] += 1
            else:
                if careful is None:
                    careful = []
                careful.append((name[0], value))
        if careful is not None:
            self._place_dotted(doc, careful, source)

    def _place_dotted(self, doc: dict[str, Any], careful: list[tuple[str, Any]], source: str) -> None:
        """Dotted names go in after the plain ones: a name already taken is dropped, and so is each one below a
        field that holds a value (as gelf.py places them)."""
        for name in place_dotted(doc, careful):
            self.dropped_fields[self._dropped(DroppedField.CLASH, name, source)] += 1

    def _bad_id(self, reason: str, source: str) -> None:
        """A trace or span id of the wrong length (or not hex): left out, as the specification says."""
        self.dropped_fields[reason] += 1
        self.notes.note(reason, f"dropped {reason.removesuffix('_invalid')!r}", source)

    def _dropped(self, reason: str, key: str, source: str) -> str:
        self.notes.note(reason, f"dropped attribute {key[:80]!r}", source)
        return reason


# ---- OTLP/JSON's values


def _json_any(value: Any) -> tuple[int, Any]:
    """An OTLP/JSON AnyValue: its kind and its value (converted; a map's or array's ``{"values": ...}`` as it is).
    Unknown keys are skipped, the first key of a kind decides, and an empty (or null) value is null."""
    if type(value) is not dict:
        if value is None:
            return _STRINDEX, None
        raise _invalid(f"a value that is a JSON {type(value).__name__}, not an object")
    for key, item in value.items():
        kind = _JSON_KINDS.get(key)
        if kind is None or item is None:
            continue
        if kind == _STRING:
            if type(item) is not str:
                raise _invalid("a stringValue that is not a string")
            return kind, item
        if kind == _INT:
            return kind, _json_int(item)
        if kind == _BOOL:
            if type(item) is not bool:
                raise _invalid("a boolValue that is not a boolean")
            return kind, item
        if kind == _DOUBLE:
            return kind, _json_double(item)
        if kind == _BYTES:
            return kind, _json_bytes(item)
        if kind == _STRINDEX:  # the profiling signal's alone
            return kind, None
        return kind, item
    return _STRINDEX, None


def _json_list(value: Any, what: str, reason: str = OtlpReason.NOT_A_REQUEST) -> list[Any]:
    if type(value) is list:
        return value
    if value is None:
        return []
    raise DecodeError(reason, f"{what} is a JSON {type(value).__name__}, not an array")


def _json_object(value: Any, what: str) -> dict[str, Any]:
    if type(value) is dict:
        return value
    if value is None:
        return {}
    raise DecodeError(OtlpReason.NOT_A_REQUEST, f"{what} is a JSON {type(value).__name__}, not an object")


def _json_scopes(rl: Any) -> list[Any]:
    if type(rl) is not dict:
        raise DecodeError(OtlpReason.NOT_A_REQUEST, f"a resourceLogs entry is a JSON {type(rl).__name__}")
    return _json_list(rl.get("scopeLogs") or rl.get("scope_logs"), "scopeLogs")


def _json_records(sl: dict[str, Any]) -> list[Any]:
    return _json_list(sl.get("logRecords") or sl.get("log_records"), "logRecords")


def _json_str(value: Any, what: str) -> str:
    if type(value) is str:
        return value
    if value is None or value == 0 or value is False:  # absent, or a falsy default passed over by ``or``
        return ""
    raise _invalid(f"{what} is a JSON {type(value).__name__}, not a string")


def _integer(value: Any) -> int | None:
    """A JSON integer as protobuf's JSON parsers read one: a number (an integral double too) or its decimal
    string (how int64s are sent); None when it is neither. At most 21 characters are read (-2**63 has 20)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str and len(value) < 22:
        try:
            return int(value)  # (also " 12", "+12" and "1_2", as Python reads them)
        except ValueError:
            return None
    if kind is float and value.is_integer():
        return int(value)
    return None


def _json_uint(value: Any, limit: int, what: str) -> int:
    """A uint64 (or fixed32) field; 0 when absent (or a falsy default)."""
    number = _integer(value)
    if number is None:
        if not value:
            return 0
        raise _invalid(f"{what} is not an unsigned integer: {str(value)[:40]!r}")
    if not 0 <= number <= limit:
        raise _invalid(f"{what} out of range: {number}")
    return number


def _json_int(value: Any) -> int:
    """An intValue (int64)."""
    number = _integer(value)
    if number is None:
        raise _invalid(f"an intValue that is not an integer: {str(value)[:40]!r}")
    if number not in _INT64:
        raise _invalid(f"an intValue out of the int64 range: {number}")
    return number


def _json_double(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        word = _DOUBLE_WORDS.get(value)
        if word is not None:
            return word
        try:
            return float(value)
        except ValueError:
            pass
    raise _invalid(f"a doubleValue that is not a number: {str(value)[:40]!r}")


def _json_severity(value: Any) -> int:
    if type(value) is int:
        if value not in _INT32:
            raise _invalid(f"severityNumber out of range: {value}")
        return value
    if type(value) is str:
        number = _SEVERITY_NAMES.get(value)
        if number is not None:
            return number
    if not value:
        return 0
    raise _invalid(f"severityNumber is not a severity: {str(value)[:40]!r}")


def _json_bytes(value: Any) -> str:
    """A bytesValue (base64, standard or URL-safe, padded or not) as standard base64 text, as the protobuf
    encoding's bytes are written."""
    if type(value) is str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            try:
                raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            except (binascii.Error, ValueError):
                raise _invalid("a bytesValue that is not base64") from None
        return base64.b64encode(raw).decode("ascii")
    raise _invalid(f"a bytesValue that is a JSON {type(value).__name__}, not a string")


def _hex_id(value: Any, digits: int) -> str | None:
    """A trace or span id in OTLP/JSON's hex (any case) as lowercase hex, "" for all zeros; None when it is
    not one."""
    if type(value) is not str or len(value) != digits:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw.hex() if any(raw) else ""


# ---- the ECS form


# Resource attributes with another name in ECS (None: left out, agent.* says it), as Elastic's exporter maps
# them (its ``resourceAttrsConversionMap``); every other keeps its own name.
RESOURCE_TO_ECS: Final[dict[str, str | None]] = {
    "service.instance.id": "service.node.name",
    "deployment.environment": "service.environment",
    "deployment.environment.name": "service.environment",
    "telemetry.sdk.name": None,
    "telemetry.sdk.language": None,
    "telemetry.sdk.version": None,
    "telemetry.distro.name": None,
    "telemetry.distro.version": None,
    "cloud.platform": "cloud.service.name",
    "container.image.tags": "container.image.tag",
    "host.arch": "host.architecture",
    "process.parent_pid": "process.parent.pid",
    "process.executable.name": "process.title",
    "process.executable.path": "process.executable",
    "process.command_line": "process.args",
    "process.runtime.name": "service.runtime.name",
    "process.runtime.version": "service.runtime.version",
    "os.name": "host.os.name",
    "os.type": "host.os.platform",
    "os.description": "host.os.full",
    "os.version": "host.os.version",
    "client.address": "client.ip",
    "source.address": "source.ip",
    "k8s.deployment.name": "kubernetes.deployment.name",
    "k8s.namespace.name": "kubernetes.namespace",
    "k8s.node.name": "kubernetes.node.name",
    "k8s.pod.name": "kubernetes.pod.name",
    "k8s.pod.uid": "kubernetes.pod.uid",
    "k8s.job.name": "kubernetes.job.name",
    "k8s.cronjob.name": "kubernetes.cronjob.name",
    "k8s.statefulset.name": "kubernetes.statefulset.name",
    "k8s.replicaset.name": "kubernetes.replicaset.name",
    "k8s.daemonset.name": "kubernetes.daemonset.name",
    "k8s.container.name": "kubernetes.container.name",
    "k8s.cluster.name": "orchestrator.cluster.name",
    "faas.instance": "faas.id",
    "faas.trigger": "faas.trigger.type",
}
# Record attributes with another name in ECS (Elastic's exporter, except ``error.stack_trace``: ECS's name,
# where the exporter writes APM's ``error.stacktrace``).
RECORD_TO_ECS: Final[dict[str, str]] = {
    "event.name": "event.action",
    "exception.message": "error.message",
    "exception.stacktrace": "error.stack_trace",
    "exception.type": "error.type",
    "exception.escaped": "event.error.exception.handled",
    "http.response.body.size": "http.response.encoded_body_size",
}
# ``os.type`` (and ``os.name`` for the two it names) as ECS's ``host.os.type``, which takes only these.
_OS_TYPES: Final = {"windows": "windows", "linux": "linux", "darwin": "macos", "aix": "unix", "hpux": "unix",
                    "solaris": "unix"}
_OS_NAMES: Final = {"Android": "android", "iOS": "ios"}
# Logstash-form keys that our own ECS fields come from (not attributes).
_OWN_KEYS: Final = frozenset({"@timestamp", "message", "level", "severity_text", "severity_number", "trace_id",
                              "span_id", "trace_flags", "event_name", "body", "host", "source_host", "scope.name",
                              "scope.version", "sequence"})
# The ECS fields every OTLP document gets, and those it gets when the Logstash form has the key.
_OWN_ALWAYS: Final = ("@timestamp", "message", "ecs.version", "event.sequence", "event.ingested", "host.name",
                      "source.address", "source.ip", "agent.name")
_OWN_WHEN: Final = (("level", ("log.level", "log.syslog.severity.code", "log.syslog.severity.name")),
                    ("severity_text", ("log.level",)), ("severity_number", ("event.severity",)),
                    ("event_name", ("event.action",)), ("trace_id", ("trace.id",)), ("span_id", ("span.id",)),
                    ("scope.name", ("log.logger",)),
                    ("resource.telemetry.sdk.version", ("agent.version",)),
                    ("resource.telemetry.distro.version", ("agent.version",)),
                    ("resource.os.type", ("host.os.type",)), ("resource.os.name", ("host.os.type",)))
_ECS_PLAN_CACHE_SIZE: Final = 256
_IP_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class _EcsPlan:
    """How to map every OTLP document of one shape: the attributes' ECS names and a getter of their values."""

    names: tuple[str, ...]
    get: Callable[[dict[str, Any]], Any] | None
    agent: bool  # telemetry.* attributes to make agent.* of
    os: bool


def _ecs_names(shape: tuple[str, ...]) -> dict[str, str]:
    """The ECS name of each attribute of a document of this shape (Logstash key -> ECS name), names of ours and
    names below one of ours' values taken out, a parent of another name moved to ``<name>.value``."""
    candidates: dict[str, str] = {}  # ECS name -> Logstash key; a later key of one name wins (record last)
    resource, scope, record = [], [], []
    for key in shape:
        if key in _OWN_KEYS:
            continue
        if key.startswith(RESOURCE_PREFIX):
            resource.append(key)
        elif key.startswith(SCOPE_PREFIX):
            scope.append(key)
        else:
            record.append(key)
    for key in resource:
        attribute = key[len(RESOURCE_PREFIX):]
        if attribute == "host.name" and "resource.host.hostname" not in shape:
            candidates["host.hostname"] = key  # and as host.name, which is ours anyway
        target = RESOURCE_TO_ECS.get(attribute, attribute)
        if target is not None:
            candidates[target] = key
    for key in scope:
        candidates[key[len(SCOPE_PREFIX):]] = key
    for key in record:
        candidates[RECORD_TO_ECS.get(key, key)] = key
    own = set(_OWN_ALWAYS)
    for key, names in _OWN_WHEN:
        if key in shape:
            own.update(names)
    # Parents: a name that another (ours or an attribute) continues with a dot.
    every = own | candidates.keys()
    parents = set()
    for name in every:
        pos = name.find(".")
        while pos != -1:
            if name[:pos] in every:
                parents.add(name[:pos])
            pos = name.find(".", pos + 1)
    out: dict[str, str] = {}
    for name, key in candidates.items():
        if name in own or any(name[:pos] in own for pos in _dots(name)):
            continue  # ours wins; below a value of ours there is no room
        if name in parents:
            name += ".value"
            if name in every:
                continue
        out[key] = name
    # A name moved to <name>.value that another continues (a.value beside a.value.b): the latter is left out.
    final = own | set(out.values())
    return {key: name for key, name in out.items() if not any(name[:pos] in final for pos in _dots(name))}


def _dots(name: str) -> list[int]:
    return [pos for pos, char in enumerate(name) if char == "."]


def _ecs_plan(shape: tuple[str, ...]) -> _EcsPlan:
    names = _ecs_names(shape)
    keys = tuple(names)
    get: Callable[[dict[str, Any]], Any] | None = None
    if len(keys) == 1:
        only = keys[0]
        get = lambda doc: (doc[only],)  # noqa: E731 (itemgetter of one key returns no tuple)
    elif keys:
        get = itemgetter(*keys)
    agent = any(key.startswith("resource.telemetry.") for key in shape)
    return _EcsPlan(tuple(names.values()), get, agent,
                    "resource.os.type" in shape or "resource.os.name" in shape)


class OtlpEcsMapper:
    """Maps finished Logstash-form OTLP documents (``OtlpDecoder``'s) into ECS, as ``EcsMapper.document`` does
    GELF's; see the module's docstring for the mapping. The document given is consumed: its objects may end up
    in the ECS one."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, ...], _EcsPlan] = {}
        self._ips: dict[str, bool] = {}

    def document(self, doc: dict[str, Any], sequence: int, ingested: str) -> dict[str, Any]:
        """The ECS form of ``doc``; ``ingested``: the receive time as an ISO 8601 UTC string."""
        shape = tuple(doc)
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= _ECS_PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[shape] = _ecs_plan(shape)
        out: dict[str, Any] = {"@timestamp": doc["@timestamp"], "message": doc["message"],
                               "ecs": {"version": ECS_VERSION}}
        if plan.get is not None:
            out.update(zip(plan.names, plan.get(doc)))  # noqa: B905 (one length by construction)
        event: dict[str, Any] = {"sequence": sequence, "ingested": ingested}
        get = doc.get
        severity = get("severity_number")
        if severity is not None:
            event["severity"] = severity
        action = get("event_name")
        if action is not None:
            event["action"] = action
        out["event"] = event
        log: dict[str, Any] = {}
        level = get("level")
        text = get("severity_text")
        if type(level) is int and 0 <= level < 8:
            keyword, name = SEVERITIES[level]
            log["level"] = keyword
            log["syslog"] = {"severity": {"code": level, "name": name}}
        if text is not None:
            log["level"] = text
        logger = get("scope.name")
        if logger is not None:
            log["logger"] = logger
        if log:
            out["log"] = log
        trace = get("trace_id")
        if trace is not None:
            out["trace"] = {"id": trace}
        span = get("span_id")
        if span is not None:
            out["span"] = {"id": span}
        host: dict[str, Any] = {"name": doc["host"]}
        if plan.os:
            os_type = _OS_NAMES.get(_text(get("resource.os.name"))) or _OS_TYPES.get(_text(get("resource.os.type")))
            if os_type is not None:
                host["os"] = {"type": os_type}
        out["host"] = host
        source = doc["source_host"]
        out["source"] = {"address": source, "ip": source} if self._ip(source) else {"address": source}
        out["agent"] = _agent(doc) if plan.agent else {"name": "otlp"}
        return out

    def _ip(self, text: str) -> bool:
        ips = self._ips
        known = ips.get(text)
        if known is None:
            if len(ips) >= _IP_CACHE_SIZE:
                ips.clear()
            known = ips[text] = is_ip_address(text)
        return known


def _agent(doc: dict[str, Any]) -> dict[str, Any]:
    """``agent.name`` and ``agent.version`` from the resource's telemetry.* attributes, as Elastic's exporter
    makes them: the SDK's name (``otlp`` when unnamed), then its language, then the distribution's name."""
    name = _text(doc.get("resource.telemetry.sdk.name")) or "otlp"
    language = _text(doc.get("resource.telemetry.sdk.language"))
    distro = _text(doc.get("resource.telemetry.distro.name"))
    if distro:
        name = f"{name}/{language or 'unknown'}/{distro}"
    elif language:
        name = f"{name}/{language}"
    agent = {"name": name}
    version = _text(doc.get("resource.telemetry.distro.version")) or _text(doc.get("resource.telemetry.sdk.version"))
    if version:
        agent["version"] = version
    return agent


def _text(value: Any) -> str:
    return value if type(value) is str else ""
