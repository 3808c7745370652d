"""Conditions as Filebeat writes them (libbeat/conditions): each kind, missing fields, mismatched types, every
refusal with its line, and properties: no event makes a condition raise, no file makes building one crash.

Conditions are written in YAML as Filebeat's documentation writes them, read with the processors loader.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import pytest
import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gelfingest.core.processors.base import MAX_PATTERN_LENGTH, ConfigError, Context, compile_regex
from gelfingest.core.processors.conditions import (
    IP_CACHE_SIZE,
    MAX_CONDITION_DEPTH,
    MAX_IP_TEXT,
    NAMED_NETWORKS,
    Condition,
    _parse_address,
    address,
    build_condition,
    finder,
)
from gelfingest.core.processors.loader import parse


def condition(text: str, line: int = 1) -> Condition:
    return build_condition(parse(textwrap.dedent(text)), line, Context())


def refused(text: str, line: int = 1) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        condition(text, line)
    return info.value


# ---------------------------------------------------------------------------------------------------------
# Filebeat's documented examples, as its documentation writes them.


def test_equals_as_filebeat_documents_it() -> None:
    check = condition("""\
        equals:
          http.response.code: 200
        """)
    assert check({"http": {"response": {"code": 200}}})
    assert check({"http.response.code": 200})  # a key holding dots is found as it is
    assert not check({"http": {"response": {"code": 404}}})
    assert not check({"http": {"response": {"code": "200"}}})
    assert not check({"http": {"response": {"code": 200.0}}})
    assert not check({"http": {"response": {}}})
    assert not check({})


def test_contains_as_filebeat_documents_it() -> None:
    check = condition("""\
        contains:
          status: "Specific error"
        """)
    assert check({"status": "A Specific error happened"})
    assert not check({"status": "a specific error happened"})  # case matters
    assert not check({"status": "Specific"})
    assert not check({})


def test_regexp_as_filebeat_documents_it() -> None:
    check = condition("""\
        regexp:
          system.process.name: "^foo.*"
        """)
    assert check({"system": {"process": {"name": "foobar"}}})
    assert not check({"system": {"process": {"name": "barfoo"}}})
    assert not check({"system": {"process": {"name": 7}}})


@pytest.mark.parametrize("text", [
    "range:\n  http.response.code:\n    gte: 400\n",
    "range:\n  http.response.code.gte: 400\n",
])
def test_range_as_filebeat_documents_it_in_both_spellings(text: str) -> None:
    check = condition(text)
    assert check({"http": {"response": {"code": 400}}})
    assert check({"http": {"response": {"code": 503}}})
    assert not check({"http": {"response": {"code": 399}}})
    assert not check({"http": {"response": {"code": "500"}}})


def test_range_with_two_bounds_on_one_field_as_filebeat_documents_it() -> None:
    check = condition("""\
        range:
          system.cpu.user.pct.gte: 0.5
          system.cpu.user.pct.lt: 0.8
        """)

    def cpu(value: Any) -> dict[str, Any]:
        return {"system": {"cpu": {"user": {"pct": value}}}}
    assert check(cpu(0.5))
    assert check(cpu(0.79))
    assert not check(cpu(0.8))
    assert not check(cpu(0.49))
    assert not check(cpu(1))


def test_network_as_filebeat_documents_it() -> None:
    assert condition("network:\n  source.ip: private\n")({"source": {"ip": "192.168.1.7"}})
    assert not condition("network:\n  source.ip: private\n")({"source": {"ip": "8.8.8.8"}})
    one = condition("network:\n  destination.ip: '192.168.1.0/24'\n")
    assert one({"destination": {"ip": "192.168.1.255"}})
    assert not one({"destination": {"ip": "192.168.2.1"}})
    several = condition("network:\n  destination.ip: ['192.168.1.0/24', '10.0.0.0/8', loopback]\n")
    for ip in ("192.168.1.9", "10.200.3.4", "127.0.0.1", "::1"):
        assert several({"destination": {"ip": ip}}), ip
    assert not several({"destination": {"ip": "172.16.0.1"}})


def test_has_fields_as_filebeat_documents_it() -> None:
    check = condition("has_fields: ['http.response.code']\n")
    assert check({"http": {"response": {"code": 200}}})
    assert not check({"http": {"response": {}}})


def test_or_and_not_as_filebeat_documents_them() -> None:
    either = condition("""\
        or:
          - equals:
              http.response.code: 304
          - equals:
              http.response.code: 404
        """)
    assert either({"http": {"response": {"code": 304}}})
    assert either({"http": {"response": {"code": 404}}})
    assert not either({"http": {"response": {"code": 200}}})
    both = condition("""\
        and:
          - equals:
              http.response.code: 200
          - equals:
              status: OK
        """)
    assert both({"http": {"response": {"code": 200}}, "status": "OK"})
    assert not both({"http": {"response": {"code": 200}}, "status": "KO"})
    assert not both({"status": "OK"})
    negated = condition("""\
        not:
          equals:
            status: OK
        """)
    assert negated({"status": "KO"})
    assert not negated({"status": "OK"})
    assert negated({})  # a missing field is false, so its negation is true


def test_or_of_an_and_as_filebeat_documents_it() -> None:
    check = condition("""\
        or:
          - equals:
              container_name: web
          - and:
            - contains:
                message: error
            - range:
                level.lte: 3
        """)
    assert check({"container_name": "web"})
    assert check({"container_name": "db", "message": "an error", "level": 3})
    assert not check({"container_name": "db", "message": "an error", "level": 6})
    assert not check({"container_name": "db", "level": 3})


def test_a_when_inside_a_processors_file_reports_the_files_lines() -> None:
    text = textwrap.dedent("""\
        processors:
          - drop_event:
              when:
                and:
                  - equals:
                      container_name: web
                  - regexp:
                      message: '(?=probe)'
        """)
    doc = parse(text)
    params = doc["processors"][0]["drop_event"]
    with pytest.raises(ConfigError) as info:
        build_condition(params["when"], params.line_of("when"), Context())
    assert info.value.line == 8
    assert "regexp: 'message'" in info.value.problem


# ---------------------------------------------------------------------------------------------------------
# equals: Filebeat compares integers with integers, strings with strings, booleans with booleans.


@pytest.mark.parametrize(("given", "value", "expected"), [
    ("3", 3, True), ("3", 4, False), ("3", 3.0, False), ("3", True, False), ("3", "3", False), ("3", [3], False),
    ("3", None, False), ("-1", -1, True), ("0", False, False), ("1", True, False),
    ("web", "web", True), ("web", "Web", False), ("web", ["web"], False), ("web", {"web": 1}, False),
    ("'3'", "3", True), ("'3'", 3, False), ("''", "", True), ("''", None, False),
    ("true", True, True), ("true", 1, False), ("true", "true", False), ("false", False, True),
    ("false", 0, False), ("false", None, False), ("false", [], False),
])
def test_equals_compares_only_values_of_the_same_type(given: str, value: Any, expected: bool) -> None:
    check = condition(f"equals:\n  field: {given}\n")
    assert check({"field": value}) is expected
    assert check({}) is False


def test_equals_with_several_fields_needs_all_of_them() -> None:
    check = condition("equals:\n  container_name: web\n  level: 3\n")
    assert check({"container_name": "web", "level": 3})
    assert not check({"container_name": "web", "level": 4})
    assert not check({"container_name": "web"})


def test_equals_flattens_a_nested_mapping_into_a_dotted_field_as_filebeat_does() -> None:
    check = condition("equals:\n  container:\n    name: web\n    image:\n      name: nginx\n")
    assert check({"container": {"name": "web", "image": {"name": "nginx"}}})
    assert not check({"container": {"name": "web", "image": {"name": "redis"}}})


def test_equals_reads_the_logstash_and_the_ecs_names() -> None:
    assert condition("equals: {level: 3}")({"level": 3, "container_name": "web"})
    assert condition("equals: {log.level: info}")({"log": {"level": "info"}})
    assert not condition("equals: {log.level: info}")({"log": "info"})


# ---------------------------------------------------------------------------------------------------------
# contains and regexp: a string, or any string of a list; nothing else.


@pytest.mark.parametrize(("value", "expected"), [
    ("GET /healthz", True), ("healthz", True), ("health", False), (["a", "GET /healthz"], True),
    (["a", 5, None, {"x": "healthz"}], False), ([5, "healthz"], True), ([], False), (5, False), (None, False),
    ({"message": "healthz"}, False), (True, False),
])
def test_contains_finds_a_substring_of_a_string_or_of_any_string_in_a_list(value: Any, expected: bool) -> None:
    check = condition("contains:\n  message: healthz\n")
    assert check({"message": value}) is expected


def test_contains_an_empty_string_matches_only_an_empty_value_as_filebeat_does() -> None:
    check = condition("contains:\n  message: ''\n")
    assert check({"message": ""})
    assert check({"message": ["x", ""]})
    assert not check({"message": "anything"})
    assert not check({})


@pytest.mark.parametrize(("value", "expected"), [
    ("GET /healthz HTTP/1.1", True), ("kube-probe/1.29", True), ("GET /index", False),
    (["GET /index", "kube-probe/1.29"], True), (["GET /index"], False), (200, False), (None, False),
    ("\ud800 kube-probe", False),  # a lone surrogate: no match, never an exception
])
def test_regexp_searches_anywhere_in_a_string_or_any_string_of_a_list(value: Any, expected: bool) -> None:
    check = condition("regexp:\n  message: 'kube-probe|/healthz'\n")
    assert check({"message": value}) is expected


def test_regexp_anchors_and_flags_are_re2s() -> None:
    check = condition("regexp:\n  message: '(?i)^error\\b'\n")
    assert check({"message": "ERROR: disk full"})
    assert not check({"message": "no error"})
    assert not condition("regexp:\n  message: 'a.b'\n")({"message": "a\nb"})  # '.' stops at a newline


def test_regexp_several_fields_must_all_match() -> None:
    check = condition("regexp:\n  message: '^GET'\n  container_name: '^web-'\n")
    assert check({"message": "GET /", "container_name": "web-1"})
    assert not check({"message": "GET /", "container_name": "db-1"})


def test_re2_refuses_look_around_with_its_reason_and_the_line() -> None:
    error = refused("regexp:\n  message: 'x(?=y)'\n")
    assert error.line == 2
    assert "regexp: 'message'" in error.problem
    assert "look-around" in error.problem


def test_re2_refuses_a_back_reference_with_its_reason_and_the_line() -> None:
    error = refused("and:\n  - equals: {a: 1}\n  - regexp:\n      message: '(a)\\1'\n")
    assert error.line == 4
    assert "back-references" in error.problem
    assert "\\1" in error.problem


@pytest.mark.parametrize(("text", "says"), [
    ("regexp:\n  message: ''\n", "non-empty string"),
    ("regexp:\n  message: '(unclosed'\n", "missing )"),
    ("regexp:\n  message: 5\n", "not an integer"),
    (f"regexp:\n  message: '{'a' * (MAX_PATTERN_LENGTH + 1)}'\n", f"at most {MAX_PATTERN_LENGTH}"),
])
def test_a_regexp_that_cannot_run_is_refused_at_its_line(text: str, says: str) -> None:
    error = refused(text)
    assert error.line == 2
    assert says in error.problem


def test_finder_takes_re2s_direct_way_with_the_installed_library() -> None:
    # If an upgrade of google-re2 removes it, conditions fall back to search: correct, twice as slow.
    regex = compile_regex("x", 1, "test")
    assert callable(getattr(regex._regexp, "Match", None))
    assert hasattr(re2._Anchor, "UNANCHORED")


@settings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(["a", "^a", "a$", "(?i)é+", "[0-9]{2,}", "\\bword\\b", "x|yz", "(a)(b)?", "^$"]),
       text=st.text(max_size=40))
def test_finder_agrees_with_search(pattern: str, text: str) -> None:
    regex = compile_regex(pattern, 1, "test")
    assert finder(regex)(text) is (regex.search(text) is not None)


# ---------------------------------------------------------------------------------------------------------
# range: numbers only.


@pytest.mark.parametrize(("bounds", "inside", "outside"), [
    ("{gt: 3}", [3.5, 4, 10**30], [3, 2.9, -1]),
    ("{gte: 3}", [3, 3.0, 4], [2, 2.999]),
    ("{lt: 3}", [2, 2.99, -10**30], [3, 3.0, 4]),
    ("{lte: 3}", [3, 2], [3.01, 4]),
    ("{gte: 200, lt: 300}", [200, 299, 250.5], [199, 300, 300.0]),
    ("{gt: 1, gte: 2, lt: 5, lte: 4}", [2, 4], [1.5, 4.5]),
    ("{gte: -.inf, lt: .inf}", [0, -1e308, 10**400], []),
    ("{gte: '400'}", [400, 401.0], [399]),  # Filebeat reads a quoted number too
    ("{gte: '1.5e2'}", [150], [149.9]),
])
def test_range_bounds(bounds: str, inside: list[Any], outside: list[Any]) -> None:
    check = condition(f"range:\n  code: {bounds}\n")
    for value in inside:
        assert check({"code": value}) is True, value
    for value in outside:
        assert check({"code": value}) is False, value


@pytest.mark.parametrize("value", [True, False, "500", None, [500], {"v": 500}])
def test_range_refuses_what_is_not_a_number(value: Any) -> None:
    check = condition("range:\n  code: {gte: 0}\n")
    assert check({"code": value}) is False
    assert check({}) is False


def test_range_on_several_fields_needs_all_of_them() -> None:
    check = condition("range:\n  level: {lte: 3}\n  bytes.gt: 1000\n")
    assert check({"level": 2, "bytes": 5000})
    assert not check({"level": 2, "bytes": 10})
    assert not check({"level": 2})


def test_range_of_a_nan_value_passes_the_bounds_as_in_filebeat() -> None:
    # Go and Python both answer false to every comparison with NaN; Filebeat's checks reject on a true one.
    assert condition("range:\n  x: {gte: 0}\n")({"x": math.nan}) is True


# ---------------------------------------------------------------------------------------------------------
# network: addresses in a string (or a list), CIDRs and Filebeat's named ranges.


@pytest.mark.parametrize(("name", "inside", "outside"), [
    ("private", ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1", "fd12::1", "::ffff:10.1.2.3"],
     ["172.32.0.1", "11.0.0.1", "8.8.8.8", "fc00::1", "127.0.0.1", "::1"]),
    ("public", ["8.8.8.8", "2001:4860::8888", "239.1.2.3", "100.64.0.1", "fc00::1", "172.32.0.1"],
     ["10.0.0.1", "127.0.0.1", "::1", "0.0.0.0", "::", "255.255.255.255", "169.254.1.1", "fe80::1",
      "224.0.0.251", "ff02::1", "ff01::1", "fd00::1", "::ffff:192.168.1.1"]),
    ("loopback", ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"], ["128.0.0.1", "::2", "10.0.0.1"]),
    ("unspecified", ["0.0.0.0", "::", "::ffff:0.0.0.0"], ["0.0.0.1", "::1"]),
    ("multicast", ["224.0.0.1", "239.255.255.255", "ff02::1", "ff0e::1"], ["223.255.255.255", "240.0.0.1",
                                                                          "fe80::1"]),
    ("link_local_unicast", ["169.254.0.1", "fe80::1", "febf::1"], ["169.253.0.1", "fec0::1", "10.0.0.1"]),
    ("link_local_multicast", ["224.0.0.251", "ff02::fb", "ff12::1"], ["224.0.1.1", "ff05::1", "ff01::1"]),
    ("interface_local_multicast", ["ff01::1", "ff11::2"], ["ff02::1", "224.0.0.1", "::1"]),
    ("global_unicast", ["8.8.8.8", "10.0.0.1", "2001:db8::1", "fd00::1"],
     ["127.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "169.254.1.1", "fe80::1", "::1", "ff02::1"]),
    ("unicast", ["8.8.8.8", "192.168.1.1"], ["127.0.0.1", "239.0.0.1"]),
])
def test_named_networks_as_go_defines_them(name: str, inside: list[str], outside: list[str]) -> None:
    check = condition(f"network:\n  ip: {name}\n")
    for ip in inside:
        assert check({"ip": ip}) is True, ip
    for ip in outside:
        assert check({"ip": ip}) is False, ip


def test_every_named_network_filebeat_knows_is_known() -> None:
    assert set(NAMED_NETWORKS) == {
        "loopback", "global_unicast", "unicast", "link_local_unicast", "interface_local_multicast",
        "link_local_multicast", "multicast", "unspecified", "private", "public"}


@pytest.mark.parametrize(("network", "inside", "outside"), [
    ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255", "::ffff:10.9.9.9"], ["11.0.0.0", "9.255.255.255", "::a00:1"]),
    ("10.1.2.3/8", ["10.200.0.1"], ["11.0.0.1"]),  # host bits are ignored, as Go's ParseCIDR does
    ("192.0.2.7", ["192.0.2.7"], ["192.0.2.8"]),  # an address is a network of one
    ("2001:db8::/32", ["2001:db8::1", "2001:db8:ffff::"], ["2001:db9::1", "10.0.0.1"]),
    ("0.0.0.0/0", ["1.2.3.4", "255.255.255.255"], ["::1", "2001:db8::1"]),
    ("::/0", ["::1", "2001:db8::1"], ["1.2.3.4"]),
    ("::ffff:10.0.0.0/104", ["10.1.1.1", "::ffff:10.2.2.2"], ["11.0.0.1"]),
])
def test_a_cidr_holds_its_addresses_of_its_own_family(network: str, inside: list[str], outside: list[str]) -> None:
    check = condition(f"network:\n  ip: '{network}'\n")
    for ip in inside:
        assert check({"ip": ip}) is True, ip
    for ip in outside:
        assert check({"ip": ip}) is False, ip


@pytest.mark.parametrize("value", [
    "not an address", "10.0.0.256", "10.0.0", "010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "fe80::1%eth0", "", "::g",
    "10.0.0.1/32", 167772161, None, True, {"ip": "10.0.0.1"}, [], [5, None], "1" * 1000, "\ud800",
])
def test_network_on_what_is_not_an_address_is_false(value: Any) -> None:
    assert condition("network:\n  ip: 0.0.0.0/0\n")({"ip": value}) is False
    assert condition("network:\n  ip: 0.0.0.0/0\n")({}) is False


def test_network_on_a_list_holds_when_any_address_of_it_does() -> None:
    check = condition("network:\n  ip: private\n")
    assert check({"ip": ["8.8.8.8", "junk", 7, "10.0.0.1"]})
    assert not check({"ip": ["8.8.8.8", "junk"]})


def test_network_with_several_fields_needs_all_of_them() -> None:
    check = condition("network:\n  source.ip: private\n  destination.ip: public\n")
    assert check({"source": {"ip": "10.0.0.1"}, "destination": {"ip": "1.1.1.1"}})
    assert not check({"source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.2"}})
    assert not check({"source": {"ip": "10.0.0.1"}})


def test_addresses_too_long_to_be_one_are_neither_parsed_nor_cached() -> None:
    longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
    assert len(longest) == MAX_IP_TEXT
    assert address(longest) == (4, 0xFFFFFFFF)
    before = _parse_address.cache_info().currsize
    assert address("1" * (MAX_IP_TEXT + 1)) is None
    assert _parse_address.cache_info().currsize == before
    assert _parse_address.cache_info().maxsize == IP_CACHE_SIZE


# ---------------------------------------------------------------------------------------------------------
# has_fields, and, or, not.


def test_has_fields_needs_every_field_and_a_null_value_is_there() -> None:
    check = condition("has_fields: [container_name, 'http.response.code', tags]\n")
    assert check({"container_name": None, "http": {"response": {"code": 0}}, "tags": []})
    assert not check({"container_name": "web", "http": {"response": {"code": 0}}})
    assert not check({"container_name": "web", "http": {"response": 200}, "tags": []})
    assert condition("has_fields: message\n")({"message": ""})  # a single name stands for a list of one


def test_a_missing_field_is_false_for_every_condition_and_true_under_not() -> None:
    for text in ("equals: {f: 1}", "equals: {f: x}", "equals: {f: false}", "contains: {f: x}", "regexp: {f: x}",
                 "range: {f.gte: 0}", "network: {f: public}", "has_fields: [f]"):
        assert condition(text)({"g": 1}) is False, text
        assert condition(f"not: {{{text}}}")({"g": 1}) is True, text


def test_and_or_with_three_conditions() -> None:
    every = condition("and:\n  - has_fields: [a]\n  - equals: {a: 1}\n  - not: {equals: {b: 2}}\n")
    assert every({"a": 1})
    assert not every({"a": 1, "b": 2})
    some = condition("or:\n  - equals: {a: 1}\n  - equals: {a: 2}\n  - equals: {a: 3}\n")
    assert some({"a": 3})
    assert not some({"a": 4})


def test_nesting_up_to_the_bound_builds_and_runs() -> None:
    levels = MAX_CONDITION_DEPTH
    lines = ["  " * i + "not:" for i in range(levels)] + ["  " * levels + "equals: {a: 1}"]
    check = condition("\n".join(lines) + "\n")
    assert check({"a": 1}) is (levels % 2 == 0)


def test_nesting_past_the_bound_is_refused_at_the_innermost_line() -> None:
    levels = MAX_CONDITION_DEPTH + 1
    lines = ["  " * i + "not:" for i in range(levels)] + ["  " * levels + "equals: {a: 1}"]
    error = refused("\n".join(lines) + "\n")
    assert error.line == levels + 1
    assert f"deeper than {MAX_CONDITION_DEPTH}" in error.problem


# ---------------------------------------------------------------------------------------------------------
# Every refusal, with its line.


@pytest.mark.parametrize(("text", "line", "says"), [
    ("foo:\n  a: 1\n", 1, "unknown condition 'foo' (known: equals, contains, regexp, range, network, has_fields, "
                          "and, or, not)"),
    ("Equals:\n  a: 1\n", 1, "unknown condition 'Equals'"),
    ("{}\n", 1, "an empty condition"),
    ("equals:\n  a: 1\ncontains:\n  b: x\n", 3, "one condition per mapping, not 'equals' and 'contains'"),
    ("and:\n  - equals: {a: 1}\n  - bogus: {b: 2}\n", 3, "unknown condition 'bogus'"),
    ("and:\n  - equals: {a: 1}\n    contains: {b: x}\n", 3, "one condition per mapping"),
    ("and: []\n", 1, "'and' takes a non-empty list of conditions, not an empty list"),
    ("or: []\n", 1, "'or' takes a non-empty list of conditions, not an empty list"),
    ("or:\n  equals: {a: 1}\n", 1, "'or' takes a non-empty list of conditions, not a mapping"),
    ("and:\n", 1, "'and' takes a non-empty list of conditions, not nothing"),
    ("not:\n  - equals: {a: 1}\n", 1, "'not' takes one condition (a mapping), not a list"),
    ("not: {}\n", 1, "an empty condition"),
    ("or:\n  - equals: {a: 1}\n  - 5\n", 2, "a condition must be a mapping"),
    ("equals: web\n", 1, "equals takes a mapping of fields"),
    ("equals: {}\n", 1, "equals names no field"),
    ("equals:\n  a: 1\n  b: 1.5\n", 3, "'b' must be a string, an integer or a boolean"),
    ("equals:\n  a: ~\n", 2, "not nothing"),
    ("equals:\n  day: 2024-01-01\n", 2, "not a date (quote it to compare text)"),
    ("equals:\n  tags: [a, b]\n", 2, "'tags' must be a single value, not a list"),
    ("equals:\n  a: {}\n", 2, "'a' is an empty mapping"),
    ("equals:\n  a.b: 1\n  a:\n    b: 2\n", 4, "'a.b' is given twice (first on line 2)"),
    ("equals:\n  '': 1\n", 2, "a field name must not be empty"),
    ("contains:\n  message: 5\n", 2, "contains: 'message' must be a string, not an integer"),
    ("contains:\n  message: [a]\n", 2, "must be a single value"),
    ("range:\n  code: 5\n", 2, "range: 'code' needs one of gt, gte, lt, lte"),
    ("range:\n  code:\n    ge: 5\n", 3, "range: 'code.ge' needs one of gt, gte, lt, lte"),
    ("range:\n  gte: 5\n", 2, "range: 'gte' needs one of"),
    ("range:\n  code:\n    gte: high\n", 3, "range: 'code.gte' must be a number, not a string 'high'"),
    ("range:\n  code:\n    gte: true\n", 3, "must be a number, not a boolean"),
    ("range:\n  code:\n    gte: .nan\n", 3, "must be a number"),
    ("range:\n  code:\n    gte: 'nan'\n", 3, "must be a number"),
    ("range:\n  code.gte: 1\n  code:\n    gte: 2\n", 4, "'code.gte' is given twice"),
    ("network:\n  ip: privat\n", 2, "'privat' is not a CIDR such as '192.0.2.0/24'"),
    ("network:\n  ip: 10.0.0.0/33\n", 2, "'10.0.0.0/33' is not a CIDR"),
    ("network:\n  ip: 'fe80::/10%eth0'\n", 2, "is not a CIDR"),
    ("network:\n  ip: 42\n", 2, "must be a network or a list of them, not an integer"),
    ("network:\n  ip: []\n", 2, "'ip' is an empty list"),
    ("network:\n  ip: [10.0.0.0/8, 7]\n", 2, "not an integer"),
    ("network:\n  ip:\n    - 10.0.0.0/8\n    - 300.0.0.0/8\n", 3, "'300.0.0.0/8' is not a CIDR"),
    ("has_fields: []\n", 1, "has_fields takes a non-empty list of field names, not an empty list"),
    ("has_fields: {a: 1}\n", 1, "not a mapping"),
    ("has_fields: [a, 5]\n", 1, "a field name must be a non-empty string, not an integer"),
    ("has_fields: [a, '']\n", 1, "a field name must be a non-empty string"),
])
def test_a_condition_that_cannot_run_is_refused_with_its_line(text: str, line: int, says: str) -> None:
    error = refused(text)
    assert says in error.problem
    assert error.line == line, error


def test_a_condition_that_is_not_a_mapping_is_refused_at_the_line_given() -> None:
    for node in ("equals", None, 5, ["equals"]):
        with pytest.raises(ConfigError) as info:
            build_condition(node, 7, Context())
        assert info.value.line == 7
        assert "a condition must be a mapping such as 'equals: {field: value}'" in info.value.problem


def test_a_plain_dict_builds_too() -> None:
    check = build_condition({"equals": {"container": {"name": "web"}}}, 3, Context())
    assert check({"container": {"name": "web"}})
    with pytest.raises(ConfigError) as info:
        build_condition({"equals": {"a": 1.5}}, 3, Context())
    assert info.value.line == 3


# ---------------------------------------------------------------------------------------------------------
# Properties: no event makes a condition raise; no configuration makes building one crash.

FIELDS = ["message", "level", "source_host", "tags", "ip", "code", "status", "a", "a.b", "http", "response",
          "http.response.code", "container_name", "f"]
text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)  # lone surrogates included
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.integers() | st.floats() | text | \
    st.sampled_from(["10.0.0.1", "::1", "fe80::1%eth0", "::ffff:8.8.8.8", "healthz", "web", "OK", "", "GET /"])
keys = st.sampled_from(FIELDS) | text
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner,
                                                                                               max_size=4),
                         max_leaves=20)
events = st.dictionaries(keys, json_like, max_size=8)

CONDITIONS = [condition(source) for source in (
    "equals: {level: 3}", "equals: {message: web}", "equals: {a.b: true}", "equals: {http.response.code: 200}",
    "contains: {message: healthz}", "contains: {tags: ''}", "regexp: {message: '(?i)^get|z$'}",
    "regexp: {a.b: '[0-9]+'}", "range: {code: {gte: 0, lt: 500}}", "range: {level.lte: 3.5}",
    "network: {source_host: private}", "network: {ip: [public, '10.0.0.0/8', 'fe80::/10']}",
    "network: {a.b: '::/0'}", "has_fields: [message, a.b]",
    "or: [{equals: {status: OK}}, {not: {has_fields: [tags]}}, {range: {http.response.code.gte: 400}}]",
    "and: [{contains: {f: x}}, {network: {f: loopback}}, {regexp: {f: '.'}}]",
    "not: {and: [{equals: {f: 1}}, {equals: {f: x}}]}",
)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events)
def test_no_event_makes_a_condition_raise(event: dict[str, Any]) -> None:
    for check in CONDITIONS:
        assert type(check(event)) is bool


# Conditions mostly well made, each part sometimes wrong: most build, and every refusal is met.
config_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(
    ["10.0.0.0/8", "private", "public", "^a", "(?=a)", "(a)\\1", "2001:db8::/32", "400", "x", "web", ""])
junk = st.recursive(config_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["equals", "and", "gte", *FIELDS]), inner, max_size=3), max_leaves=8)
field_names = st.sampled_from(FIELDS)


def fields_of(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(field_names, st.one_of(values, values, values, junk), min_size=1, max_size=3)


numbers = st.integers() | st.floats(allow_nan=False) | st.sampled_from(["400", "1.5e2"])
networks = st.sampled_from(["10.0.0.0/8", "private", "public", "loopback", "::/0", "192.0.2.1", "fe80::/10"])
leaves = st.one_of(
    st.builds(lambda fields: {"equals": fields}, fields_of(st.integers() | st.booleans() | st.text(max_size=8))),
    st.builds(lambda fields: {"contains": fields}, fields_of(st.text(max_size=8))),
    st.builds(lambda fields: {"regexp": fields}, fields_of(st.sampled_from(["^a", "b$", "(?i)web", "[0-9]+", "."]))),
    st.builds(lambda fields: {"range": fields}, fields_of(st.dictionaries(
        st.sampled_from(["gt", "gte", "lt", "lte"]), numbers, min_size=1, max_size=4))),
    st.builds(lambda fields: {"network": fields}, fields_of(networks | st.lists(networks, min_size=1, max_size=3))),
    st.builds(lambda fields: {"has_fields": fields}, st.lists(field_names, min_size=1, max_size=3)),
    st.builds(lambda name, fields: {name: fields}, st.sampled_from(["equals", "range", "has_fields", "bogus"]),
              junk),
)
conditions = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(lambda name, items: {name: items}, st.sampled_from(["and", "or"]),
              st.lists(inner, min_size=1, max_size=4)),
    st.builds(lambda inner_condition: {"not": inner_condition}, inner)), max_leaves=10)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=conditions, event=events)
def test_no_configuration_makes_building_crash_and_what_builds_runs(config: Any, event: dict[str, Any]) -> None:
    try:
        check = build_condition(config, 5, Context())
    except ConfigError as error:
        assert error.line == 5
        assert error.problem
        return
    assert type(check(event)) is bool
