"""Conditions as Filebeat writes them (``when:`` and ``if:``): ``equals``, ``contains``, ``regexp``, ``range``,
``network``, ``has_fields``, ``and``, ``or``, ``not``.

``build_condition`` checks a condition once, when the file is read, and returns a function of the event that
answers True or False; that function never raises, whatever the event holds. The semantics are Filebeat's
(libbeat/conditions): a field that is missing makes a condition false (and its ``not`` true), several fields
inside one condition must all hold, and a value of the wrong type does not match. Where Filebeat accepts a
file that cannot mean what it says (two conditions in one mapping, of which it reads only the first; an
``equals: {}`` or ``has_fields: []`` that always holds; a list of networks that is empty), the file is
refused with its line instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Final

import re2

from gelfingest.core.processors.base import (
    MISSING,
    ConfigError,
    Context,
    Node,
    compile_regex,
    kind_name,
    line_of,
    lookup,
)

Condition = Callable[[dict[str, Any]], bool]

# ``and``/``or``/``not`` nested deeper than this are refused: a condition is called once per event and
# recursively, and no rule a person writes needs more (Filebeat's own module configurations use three or four).
MAX_CONDITION_DEPTH: Final = 32
# The longest text an IP address can be (``0000:0000:0000:0000:0000:ffff:255.255.255.255``): anything longer
# is not an address, so it is neither parsed nor kept in the cache below.
MAX_IP_TEXT: Final = 45
# Parsed addresses kept: the same few source addresses come again and again, and parsing one costs more
# than the rest of the condition. Keys are at most MAX_IP_TEXT characters, so the cache stays under 1 MiB.
IP_CACHE_SIZE: Final = 4096

RANGE_OPERATORS: Final = ("gt", "gte", "lt", "lte")

# Filebeat's range reads a quoted number too (``gte: "400"``): decimal notation only.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

Builder = Callable[[Any, int, Context, int], Condition]


def build_condition(node: Any, line: int, ctx: Context) -> Condition:
    """The condition ``node`` describes (``{equals: {field: value}}`` and so on), or ConfigError with the line
    of what is wrong. ``line`` is where the condition is given (the ``when:`` or ``if:`` key)."""
    return _build(node, line, ctx, 0)


def _build(node: Any, line: int, ctx: Context, depth: int) -> Condition:
    """``depth``: how many and/or/not hold this condition."""
    line = line_of(node, line) or line
    if depth > MAX_CONDITION_DEPTH:
        raise ConfigError(line, f"conditions nested deeper than {MAX_CONDITION_DEPTH} levels of and/or/not")
    if not isinstance(node, dict):
        raise ConfigError(line, f"a condition must be a mapping such as 'equals: {{field: value}}', not "
                          f"{_kind(node)}")
    if not node:
        raise ConfigError(line, f"an empty condition: it needs one of {_KNOWN}")
    if len(node) > 1:
        names = " and ".join(f"'{key}'" for key in node)
        second = list(node)[1]
        raise ConfigError(_key_line(node, second, line), f"one condition per mapping, not {names} (put several "
                          f"under 'and:' or 'or:')")
    name, params = next(iter(node.items()))
    key_line = _key_line(node, name, line)
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ConfigError(key_line, f"unknown condition '{name}' (known: {_KNOWN})")
    return builder(params, key_line, ctx, depth)


def _kind(value: Any) -> str:
    """What ``value`` is, for a message (``kind_name``, saying also when a list is empty and what a date is)."""
    if isinstance(value, (list, dict)) and not value:
        return f"an empty {'list' if isinstance(value, list) else 'mapping'}"
    if isinstance(value, datetime.date):
        return "a date"
    return kind_name(value)


def _key_line(node: dict[str, Any], key: str, default: int) -> int:
    return node.line_of(key) if isinstance(node, Node) else default


# ---- fields: one condition may name several, all must hold


def _fields(name: str, params: Any, line: int, lists: bool) -> list[tuple[str, Any, int]]:
    """The fields of an ``equals``/``contains``/``regexp``/``range``/``network`` condition, as (path, value,
    line). Nested mappings are flattened into dotted paths as Filebeat does (``{http: {code: 200}}`` is
    ``http.code``). A list is a value only where ``lists`` says so (network); elsewhere it is refused."""
    if not isinstance(params, dict):
        raise ConfigError(line, f"{name} takes a mapping of fields, such as '{name}: {{message: ...}}', not "
                          f"{_kind(params)}")
    if not params:
        raise ConfigError(line, f"{name} names no field")
    out: list[tuple[str, Any, int]] = []
    seen: dict[str, int] = {}
    # Walked with a stack, not recursion: how deep the file nests costs no Python frames.
    stack: list[tuple[str, dict[str, Any], int]] = [("", params, line)]
    while stack:
        prefix, mapping, mapping_line = stack.pop()
        entries: list[tuple[str, dict[str, Any], int]] = []
        for key, value in mapping.items():
            key_line = _key_line(mapping, key, mapping_line)
            if not key:
                raise ConfigError(key_line, f"{name}: a field name must not be empty")
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if not value:
                    raise ConfigError(key_line, f"{name}: '{path}' is an empty mapping")
                entries.append((path, value, key_line))
                continue
            if isinstance(value, list) and not lists:
                raise ConfigError(key_line, f"{name}: '{path}' must be a single value, not a list (use 'or:' "
                                  f"for several)")
            if path in seen:
                raise ConfigError(key_line, f"{name}: '{path}' is given twice (first on line {seen[path]})")
            seen[path] = key_line
            out.append((path, value, key_line))
        stack.extend(reversed(entries))
    return out


def _all_of(checks: list[Condition]) -> Condition:
    """One condition true when every one of ``checks`` is (in order, stopping at the first false)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda doc: first(doc) and second(doc)
    every = tuple(checks)

    def all_of(doc: dict[str, Any]) -> bool:
        for check in every:  # noqa: SIM110 (a loop: no generator made per event)
            if not check(doc):
                return False
        return True
    return all_of


def _any_of(checks: list[Condition]) -> Condition:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda doc: first(doc) or second(doc)
    some = tuple(checks)

    def any_of(doc: dict[str, Any]) -> bool:
        for check in some:  # noqa: SIM110 (a loop: no generator made per event)
            if check(doc):
                return True
        return False
    return any_of


# ---- equals: integers, strings and booleans, each only against its own type


def _equals(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    return _all_of([_equals_field(path, value, key_line)
                    for path, value, key_line in _fields("equals", params, line, lists=False)])


def _equals_field(path: str, expected: Any, line: int) -> Condition:
    # Filebeat: a string matches only a string, an integer only an integer (never a float, never a boolean),
    # a boolean only a boolean. In Python True == 1 and 1 == 1.0, so the type is checked first.
    if type(expected) is bool:
        return lambda doc: lookup(doc, path) is expected
    if type(expected) is int:
        def equals_int(doc: dict[str, Any]) -> bool:
            value = lookup(doc, path)
            return type(value) is int and value == expected
        return equals_int
    if type(expected) is str:
        # a string is never equal to anything but a string
        return lambda doc: lookup(doc, path) == expected
    hint = " (use range to compare other numbers)" if type(expected) is float else _quote_hint(expected)
    raise ConfigError(line, f"equals: '{path}' must be a string, an integer or a boolean (the values Filebeat "
                      f"compares), not {_kind(expected)}{hint}")


def _quote_hint(value: Any) -> str:
    # YAML reads an unquoted 2024-01-01 as a date; Filebeat's YAML keeps it as text.
    return " (quote it to compare text)" if isinstance(value, (datetime.date, float, int)) else ""


# ---- contains and regexp: a string field, or any string of a list


def _contains(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    checks = []
    for path, value, key_line in _fields("contains", params, line, lists=False):
        if type(value) is not str:
            raise ConfigError(key_line, f"contains: '{path}' must be a string, not {_kind(value)}"
                              f"{_quote_hint(value)}")
        checks.append(_contains_field(path, value))
    return _all_of(checks)


def _contains_field(path: str, part: str) -> Condition:
    if not part:
        # Filebeat's matcher for an empty string matches only an empty value, not every value.
        return _string_test(path, lambda text: not text)

    def contains(doc: dict[str, Any]) -> bool:
        value = lookup(doc, path)
        if type(value) is str:
            return part in value
        if type(value) is list:
            for item in value:
                if type(item) is str and part in item:
                    return True
        return False
    return contains


def _regexp(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    checks = []
    for path, value, key_line in _fields("regexp", params, line, lists=False):
        checks.append(_string_test(path, finder(compile_regex(value, key_line, f"regexp: '{path}'"))))
    return _all_of(checks)


def finder(regex: Any) -> Callable[[str], bool]:
    """Whether ``regex`` is found anywhere in a text (Filebeat's regexp is a search, not a full match).

    google-re2's ``search`` builds a match object with every group's position in characters; a condition
    needs only yes or no, and asking RE2 directly costs half as much. Its ``_regexp.Match`` is not public, so
    the direct way is taken only when this version of the library has it, and ``search`` otherwise."""
    match = getattr(getattr(regex, "_regexp", None), "Match", None)
    unanchored = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if match is None or unanchored is None:
        search = regex.search

        def search_found(text: str) -> bool:
            try:
                return search(text) is not None
            except ValueError:  # a lone surrogate cannot be encoded for RE2: no match, never an exception
                return False
        return search_found

    def found(text: str) -> bool:
        try:
            data = text.encode()
        except ValueError:  # as above
            return False
        return bool(match(unanchored, data, 0, len(data))[0][0] >= 0)
    return found


def _string_test(path: str, test: Callable[[str], bool]) -> Condition:
    """True when the field is a string that passes ``test``, or a list holding one (Filebeat's matchers)."""
    def string_test(doc: dict[str, Any]) -> bool:
        value = lookup(doc, path)
        if type(value) is str:
            return test(value)
        if type(value) is list:
            for item in value:
                if type(item) is str and test(item):
                    return True
        return False
    return string_test


# ---- range: numbers only, with gt/gte/lt/lte (several per field)


def _range(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    bounds: dict[str, dict[str, float | int]] = {}
    for key, value, key_line in _fields("range", params, line, lists=False):
        field, _, operator = key.rpartition(".")
        if operator not in RANGE_OPERATORS or not field:
            raise ConfigError(key_line, f"range: '{key}' needs one of {', '.join(RANGE_OPERATORS)} after the "
                              f"field, as in 'http.response.code: {{gte: 400}}' or 'http.response.code.gte: 400'")
        bounds.setdefault(field, {})[operator] = _range_number(key, value, key_line)
    return _all_of([_range_field(field, ops) for field, ops in bounds.items()])


def _range_number(key: str, value: Any, line: int) -> float | int:
    if type(value) is str and _DECIMAL.fullmatch(value):
        value = float(value)
    if type(value) is int:
        return value
    if type(value) is float and not math.isnan(value):
        return value
    raise ConfigError(line, f"range: '{key}' must be a number, not {_kind(value)} {value!r}"[:300])


def _range_field(path: str, ops: dict[str, float | int]) -> Condition:
    gt, gte, lt, lte = (ops.get(op) for op in RANGE_OPERATORS)

    def in_range(doc: dict[str, Any]) -> bool:
        value = lookup(doc, path)
        kind = type(value)
        if kind is not int and kind is not float:  # not a boolean, not a numeric string: Filebeat's rule
            return False
        # Written as Filebeat writes them, so a NaN value passes the same bounds it does there.
        if gte is not None and value < gte:
            return False
        if gt is not None and value <= gt:
            return False
        if lte is not None and value > lte:
            return False
        return not (lt is not None and value >= lt)
    return in_range


# ---- network: CIDRs, addresses and Filebeat's named ranges

# An address as (version, integer). An IPv6 address holding an IPv4 one (``::ffff:10.0.0.1``) is that IPv4
# address, as Go's net.IP treats it.
Address = tuple[int, int]
_V4_BROADCAST: Final = 0xFFFFFFFF


def _loopback(ip: Address) -> bool:
    return ip[1] >> 24 == 127 if ip[0] == 4 else ip[1] == 1


def _unspecified(ip: Address) -> bool:
    return ip[1] == 0


def _multicast(ip: Address) -> bool:
    return ip[1] >> 28 == 0xE if ip[0] == 4 else ip[1] >> 120 == 0xFF


def _link_local_unicast(ip: Address) -> bool:
    return ip[1] >> 16 == 0xA9FE if ip[0] == 4 else ip[1] >> 118 == 0x3FA  # 169.254/16, fe80::/10


def _link_local_multicast(ip: Address) -> bool:
    # 224.0.0.0/24; ff02::/16 with any flags (Go reads the scope nibble only)
    return ip[1] >> 8 == 0xE00000 if ip[0] == 4 else ip[1] >> 120 == 0xFF and (ip[1] >> 112) & 0xF == 2


def _interface_local_multicast(ip: Address) -> bool:
    return ip[0] == 6 and ip[1] >> 120 == 0xFF and (ip[1] >> 112) & 0xF == 1


def _global_unicast(ip: Address) -> bool:
    return not ((ip[0] == 4 and ip[1] == _V4_BROADCAST) or _unspecified(ip) or _loopback(ip) or _multicast(ip)
                or _link_local_unicast(ip))


def _private(ip: Address) -> bool:
    # RFC 1918, and fd00::/8 of RFC 4193 (Filebeat's choice: not the whole fc00::/7)
    n = ip[1]
    if ip[0] == 4:
        return n >> 24 == 10 or n >> 20 == 0xAC1 or n >> 16 == 0xC0A8
    return n >> 120 == 0xFD


def _public(ip: Address) -> bool:
    return not (_private(ip) or _loopback(ip) or _unspecified(ip) or (ip[0] == 4 and ip[1] == _V4_BROADCAST)
                or _link_local_unicast(ip) or _link_local_multicast(ip) or _interface_local_multicast(ip))


NAMED_NETWORKS: Final[dict[str, Callable[[Address], bool]]] = {
    "loopback": _loopback,
    "global_unicast": _global_unicast,
    "unicast": _global_unicast,
    "link_local_unicast": _link_local_unicast,
    "interface_local_multicast": _interface_local_multicast,
    "link_local_multicast": _link_local_multicast,
    "multicast": _multicast,
    "unspecified": _unspecified,
    "private": _private,
    "public": _public,
}


def address(text: str) -> Address | None:
    """The address ``text`` spells (IPv4 dotted or IPv6, no zone), or None."""
    if len(text) > MAX_IP_TEXT:
        return None
    return _parse_address(text)


@lru_cache(maxsize=IP_CACHE_SIZE)
def _parse_address(text: str) -> Address | None:
    if "%" in text:  # a zone (fe80::1%eth0) is not an address to Go's ParseIP
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return 4, int(ip.ipv4_mapped)
    return ip.version, int(ip)


def _network_matcher(path: str, text: Any, line: int) -> Callable[[Address], bool]:
    if type(text) is not str:
        raise ConfigError(line, f"network: '{path}' must be a network or a list of them, not {_kind(text)}")
    named = NAMED_NETWORKS.get(text)
    if named is not None:
        return named
    try:
        if "%" in text:
            raise ValueError(text)
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(line, f"network: '{path}': {text!r} is not a CIDR such as '192.0.2.0/24' or "
                          f"'2001:db8::/32', an IP address, or one of {', '.join(NAMED_NETWORKS)}"[:500]) from None
    version, prefix, base = net.version, net.prefixlen, net.network_address
    if isinstance(base, ipaddress.IPv6Address) and base.ipv4_mapped is not None and prefix >= 96:
        # ::ffff:10.0.0.0/104 is 10.0.0.0/8, as the addresses it holds are IPv4 ones (see Address)
        version, prefix, base_int = 4, prefix - 96, int(base.ipv4_mapped)
    else:
        base_int = int(base)
    bits = 32 if version == 4 else 128
    mask = ((1 << prefix) - 1) << (bits - prefix)
    network = base_int & mask
    return lambda ip: ip[0] == version and ip[1] & mask == network


def _network(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    checks = []
    for path, value, key_line in _fields("network", params, line, lists=True):
        if isinstance(value, list):
            if not value:
                raise ConfigError(key_line, f"network: '{path}' is an empty list")
            matchers = [_network_matcher(path, item, line_of(value, key_line)) for item in value]
            checks.append(_network_field(path, _any_network(matchers)))
        else:
            checks.append(_network_field(path, _network_matcher(path, value, key_line)))
    return _all_of(checks)


def _any_network(matchers: list[Callable[[Address], bool]]) -> Callable[[Address], bool]:
    if len(matchers) == 1:
        return matchers[0]
    every = tuple(matchers)

    def any_network(ip: Address) -> bool:
        for matcher in every:  # noqa: SIM110 (a loop: no generator made per event)
            if matcher(ip):
                return True
        return False
    return any_network


def _network_field(path: str, contains: Callable[[Address], bool]) -> Condition:
    def in_network(doc: dict[str, Any]) -> bool:
        value = lookup(doc, path)
        if type(value) is str:
            ip = address(value)
            return ip is not None and contains(ip)
        if type(value) is list:  # any address of the list (text that is no address is skipped)
            for item in value:
                if type(item) is str:
                    ip = address(item)
                    if ip is not None and contains(ip):
                        return True
        return False
    return in_network


# ---- has_fields, and, or, not


def _has_fields(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    fields = [params] if isinstance(params, str) else params
    if not isinstance(fields, list) or not fields:
        raise ConfigError(line, f"has_fields takes a non-empty list of field names, not {_kind(params)}")
    for field in fields:
        if not isinstance(field, str) or not field:
            raise ConfigError(line_of(fields, line), f"has_fields: a field name must be a non-empty string, not "
                              f"{_kind(field)}")
    paths = tuple(fields)
    if len(paths) == 1:
        only = paths[0]
        return lambda doc: lookup(doc, only) is not MISSING

    def has_fields(doc: dict[str, Any]) -> bool:
        for path in paths:  # noqa: SIM110 (a loop: no generator made per event)
            if lookup(doc, path) is MISSING:
                return False
        return True
    return has_fields


def _conditions(name: str, params: Any, line: int, ctx: Context, depth: int) -> Iterator[Condition]:
    if not isinstance(params, list) or not params:
        raise ConfigError(line, f"'{name}' takes a non-empty list of conditions, not {_kind(params)}")
    items_line = line_of(params, line)
    for item in params:
        yield _build(item, items_line, ctx, depth + 1)


def _and(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    return _all_of(list(_conditions("and", params, line, ctx, depth)))


def _or(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    return _any_of(list(_conditions("or", params, line, ctx, depth)))


def _not(params: Any, line: int, ctx: Context, depth: int) -> Condition:
    if not isinstance(params, dict):
        raise ConfigError(line, f"'not' takes one condition (a mapping), not {_kind(params)}")
    inner = _build(params, line, ctx, depth + 1)
    return lambda doc: not inner(doc)


_BUILDERS: Final[dict[str, Builder]] = {
    "equals": _equals,
    "contains": _contains,
    "regexp": _regexp,
    "range": _range,
    "network": _network,
    "has_fields": _has_fields,
    "and": _and,
    "or": _or,
    "not": _not,
}
_KNOWN: Final = ", ".join(_BUILDERS)
