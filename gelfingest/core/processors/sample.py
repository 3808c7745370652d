"""``sample``: keep one event in ``rate`` (or a ``ratio`` of them) and say so on the events kept.

With ``key_field`` the decision is a hash of that field's value: BLAKE2b of the value's text (a string as
UTF-8, a number as its digits, a boolean as ``true``/``false``, an object or array as its JSON with sorted
keys), the same in every process, on every machine and in every release, so a stream (a container, a
trace id) is kept or dropped whole across the fleet. An event is kept when the hash, read as a 64-bit
number, is below 2^64 / rate: the keys kept at rate 100 are a subset of those kept at rate 10.

Without ``key_field``, or when the event has no value there (missing or null), a counter decides: the
first event and then every rate-th one (with ``ratio``, the events where ``n * ratio`` passes a whole
number). Each worker process counts its own events.

A kept event records the rate it stands for in ``sample_rate`` (``gelf.sample_rate`` with the ECS schema,
the namespace ecs.py gives fields ECS does not define): ``rate`` as given, or ``1 / ratio``. A number
already there (an earlier sample, or the sender's own sampling) is multiplied, so summing ``sample_rate``
over the kept events estimates the events sent.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, ClassVar, Final

import orjson

from gelfingest.core.processors.base import (
    MISSING,
    ConfigError,
    Context,
    Params,
    Processor,
    lookup,
    processor,
    put,
)

RATE_FIELD: Final = {"logstash": "sample_rate", "ecs": "gelf.sample_rate"}
# The hash is a 64-bit number; the personalisation keeps it apart from any other BLAKE2b of the same text.
_HASH_BITS: Final = 64
_PERSON: Final = b"gelfingest-smpl"


def sample_hash(value: Any) -> int | None:
    """The 64-bit hash deciding for ``value``, or None when it has no stable text (then the counter
    decides)."""
    kind = type(value)
    if kind is str:
        data = value.encode("utf-8", "surrogatepass")
    elif kind is bool:
        data = b"true" if value else b"false"
    elif kind is int:
        data = hex(value).encode() if value.bit_length() > 4096 else str(value).encode()
    elif kind is float:
        data = (str(int(value)) if value.is_integer() else repr(value)).encode()
    elif kind is dict or kind is list:
        try:
            data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            return None
    else:
        return None
    digest = hashlib.blake2b(data, digest_size=_HASH_BITS // 8, person=_PERSON).digest()
    return int.from_bytes(digest, "big")


class SampleProcessor(Processor):
    name: ClassVar[str] = "sample"
    tag: ClassVar[str] = "_samplefailure"

    def __init__(self, rate: int | None, ratio: float | None, key_field: str | None, rate_field: str) -> None:
        self.key_field = key_field
        self.rate_field = rate_field
        self._rate = rate
        self._ratio = ratio
        # The rate a kept event stands for, and the hash below which a key is kept.
        self.recorded: int | float = rate if rate is not None else 1 / (ratio or 1)
        self._threshold = (1 << _HASH_BITS) // rate if rate is not None else int((ratio or 1) * (1 << _HASH_BITS))
        self._count = 0
        self.kept = 0
        self.dropped = 0

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        keep = self._by_key(doc) if self.key_field is not None else None
        if keep is None:
            keep = self._by_count()
        if not keep:
            self.dropped += 1
            return None
        self.kept += 1
        self._record(doc)
        return doc

    def _by_key(self, doc: dict[str, Any]) -> bool | None:
        value = lookup(doc, self.key_field or "")
        if value is MISSING or value is None:
            return None
        digest = sample_hash(value)
        return None if digest is None else digest < self._threshold

    def _by_count(self) -> bool:
        n = self._count
        if self._rate is not None:
            self._count = (n + 1) % self._rate
            return n == 0
        self._count = n + 1
        ratio = self._ratio or 1
        return math.floor(n * ratio) != math.floor((n - 1) * ratio)

    def _record(self, doc: dict[str, Any]) -> None:
        before = lookup(doc, self.rate_field)
        rate = self.recorded
        if type(before) in (int, float) and before > 0:
            rate = before * rate
        put(doc, self.rate_field, rate)


@processor("sample")
def build_sample(p: Params, ctx: Context) -> Processor:
    if p.has("rate") == p.has("ratio"):
        raise ConfigError(p.line, "sample takes one of 'rate' (keep one event in rate) or 'ratio' (keep this "
                          "share of events)")
    rate = p.integer("rate", None, low=1)
    ratio = p.number("ratio", None)
    if ratio is not None and not 0 < ratio <= 1:
        p.fail("ratio", f"must be more than 0 and at most 1, not {ratio}")
    key_field = p.string("key_field", None)
    return SampleProcessor(rate, None if ratio is None else float(ratio), key_field,
                           RATE_FIELD.get(ctx.schema, RATE_FIELD["logstash"]))
