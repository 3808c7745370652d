"""``redact``: each detector with what it must find and the near misses it must leave, user patterns,
``keys`` anywhere in the event, the keyed hash, failing closed, a line at the size limit, every refusal with
its line, and the property that a planted secret never reaches the serialised event.

Pipelines are built from YAML text as a user writes it.
"""

from __future__ import annotations

import random
import re
import textwrap
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gelfingest.core.processors import redact as redact_module
from gelfingest.core.processors.base import MAX_REPLACEMENTS, ConfigError, Context
from gelfingest.core.processors.pipeline import Pipeline, build
from gelfingest.core.processors.redact import (
    KEY_MARKER,
    MAX_MISSES,
    MAX_WALK_DEPTH,
    UNSCANNED,
    RedactProcessor,
    luhn,
)

KEY = b"0123456789abcdef0123456789abcdef"
OTHER_KEY = b"fedcba9876543210fedcba9876543210"
HASH = re.compile(r"\[HASH:[0-9a-f]{16}\]")
CARD = "[REDACTED:credit_card]"
JWT_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
             "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")


def pipeline(text: str, ctx: Context | None = None) -> Pipeline:
    return build(textwrap.dedent(text), ctx or Context())


def redactor(pipe: Pipeline) -> RedactProcessor:
    processor = pipe.steps[0].processor
    assert isinstance(processor, RedactProcessor)
    return processor


def redact_message(message: Any, params: str = "{}", ctx: Context | None = None) -> Any:
    doc = {"message": message, "host": "h"}
    out = pipeline(f"processors:\n  - redact: {params}\n", ctx).run(doc)
    assert out is not None
    return out["message"]


def refused(text: str, ctx: Context | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        pipeline(text, ctx)
    return info.value


def card_number(prefix: str, length: int, rng: random.Random) -> str:
    """A Luhn-valid number of ``length`` digits starting with ``prefix``."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for last in "0123456789":
        if luhn([int(c) for c in body + last]):
            return body + last
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------------------
# Detectors


@pytest.mark.parametrize("card", [
    "4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500 0000 0000 0004",
    "378282246310005", "3714 496353 98431", "6011000990139424", "4222222222222", "6250941006528599",
    "2223000048400011", "6759649826438453", "4111111111111111110",
])
def test_card_numbers_are_redacted(card: str) -> None:
    assert luhn([int(c) for c in card if c.isdigit()])
    assert redact_message(f"paid with {card}, thanks") == f"paid with {CARD}, thanks"
    assert redact_message(f"card={card};") == f"card={CARD};"
    assert redact_message(card) == CARD


def test_a_card_is_found_beside_other_numbers() -> None:
    # the expiry and the CVV after it, a number before it, several in one line
    assert redact_message("4111-1111-1111-1111 12/25 cvv 123") == f"{CARD} 12/25 cvv 123"
    assert redact_message("4111 1111 1111 1111 123") == f"{CARD} 123"
    assert redact_message("1234 4111 1111 1111 1111") == f"1234 {CARD}"
    assert redact_message("order 77 card 4111111111111111 and 5500000000000004") == \
        f"order 77 card {CARD} and {CARD}"
    assert redact_message("x4111111111111111y") == f"x{CARD}y"


@pytest.mark.parametrize("text", [
    "4111111111111112",  # fails Luhn
    "4111 1111 1111 1112",
    "411111111111",  # 12 digits
    "41111111111111111111111",  # 23 digits: an id, not a card with digits on
    "14111111111111111",  # a Luhn-valid card inside a longer number
    "41111111111111110",  # and with a digit after it
    "4111  1111 1111 1111",  # two spaces are not a card's separator
    "1700000000003",  # epoch milliseconds: no card network starts with 1
    "9111111111111111",
    "2024-06-01 12:00:00",
])
def test_near_misses_are_not_cards(text: str) -> None:
    assert redact_message(text) == text


def test_numbers_starting_with_1_or_7_to_9_are_not_cards_even_when_luhn_valid() -> None:
    rng = random.Random(7)
    for first in "01789":
        number = card_number(first, 16, rng)
        assert redact_message(number) == number
    for first in "23456":
        assert redact_message(card_number(first, 16, rng)) == CARD


def test_a_card_sent_as_a_number_is_redacted() -> None:
    assert redact_message(4111111111111111) == CARD
    assert redact_message(4111111111111111.0) == CARD
    assert redact_message(4111111111111112) == 4111111111111112
    assert redact_message(1.5) == 1.5
    assert redact_message(True) is True
    assert redact_message(None) is None


@pytest.mark.parametrize("ssn", ["078-05-1120", "123-45-6789", "001-01-0001", "899-99-9999", "665-12-3456",
                                 "667-12-3456"])
def test_social_security_numbers_are_redacted(ssn: str) -> None:
    assert redact_message(f"ssn {ssn}.") == "ssn [REDACTED:us_ssn]."


@pytest.mark.parametrize("text", ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567",
                                  "123-45-0000", "1078-05-1120", "078-05-11201", "078 05 1120", "07-805-1120"])
def test_numbers_never_issued_are_not_social_security_numbers(text: str) -> None:
    assert redact_message(f"ssn {text}") == f"ssn {text}"


def test_email_addresses_are_redacted() -> None:
    assert redact_message("from bob.smith+tag@mail.example.co.uk to x") == "from [REDACTED:email] to x"
    assert redact_message("<a_b-c%d@ex-ample.io>") == "<[REDACTED:email]>"
    for text in ("user@localhost", "@handle", "a@b", "not an @ address", "x@y.z"):
        assert redact_message(text) == text


def test_bearer_and_basic_credentials_lose_the_credential_and_keep_the_scheme() -> None:
    assert redact_message("Authorization: Bearer abc.DEF-123_xyz~+/=") == \
        "Authorization: Bearer [REDACTED:bearer]"
    assert redact_message('{"authorization":"bearer 0123456789abcdef"}') == \
        '{"authorization":"bearer [REDACTED:bearer]"}'
    assert redact_message("Authorization: Basic dXNlcjpwYXNzd29yZA==") == "Authorization: Basic [REDACTED:bearer]"
    assert redact_message("curl -H 'Authorization: Basic dXNlcjpwYXNz'") == \
        "curl -H 'Authorization: Basic [REDACTED:bearer]'"
    # a jwt after Bearer is redacted as the credential
    assert redact_message(f"Bearer {JWT_TOKEN}") == "Bearer [REDACTED:bearer]"


@pytest.mark.parametrize("text", ["the Bearer expired", "Bearer abc", "using basic authentication",
                                  "Basic c2VjcmV0", "Basic !!!!", "basic"])
def test_words_that_are_not_credentials_are_kept(text: str) -> None:
    # "c2VjcmV0" is base64 of "secret": no colon, so not user:password
    assert redact_message(text) == text


def test_aws_access_keys_are_redacted() -> None:
    assert redact_message("key AKIAIOSFODNN7EXAMPLE used") == "key [REDACTED:aws_access_key] used"
    assert redact_message("ASIAY34FZKBOKMUTVV7A") == "[REDACTED:aws_access_key]"
    for text in ("AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPLEX", "XAKIAIOSFODNN7EXAMPLE", "AKIAiosfodnn7example"):
        assert redact_message(text) == text


def test_jwts_are_redacted() -> None:
    assert redact_message(f"token={JWT_TOKEN}&x=1") == "token=[REDACTED:jwt]&x=1"
    assert redact_message("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.") == "[REDACTED:jwt]"
    for text in ("eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.only-two", "xeyJhbGci.eyJzdWIi.sig"):
        assert redact_message(text) == text


def test_detectors_can_be_chosen_or_turned_off() -> None:
    line = "bob@example.com, 4111111111111111, 078-05-1120"
    assert redact_message(line, "{detectors: [email]}") == "[REDACTED:email], 4111111111111111, 078-05-1120"
    assert redact_message(line, "{detectors: credit_card}") == f"bob@example.com, {CARD}, 078-05-1120"
    assert redact_message(line, "{detectors: [], patterns: ['\\d{3}-\\d{2}-\\d{4}']}") == \
        "bob@example.com, 4111111111111111, [REDACTED:pattern]"


# ---------------------------------------------------------------------------------------------------------
# Fields, patterns, keys


def test_fields_default_to_message_and_full_message_and_walk_objects_and_arrays() -> None:
    doc = {"message": "bob@example.com", "full_message": "trace for bob@example.com", "other": "bob@example.com"}
    out = pipeline("processors:\n  - redact: {}\n").run(doc)
    assert out == {"message": "[REDACTED:email]", "full_message": "trace for [REDACTED:email]",
                   "other": "bob@example.com"}
    doc = {"message": "m", "json": {"user": {"mail": "bob@example.com", "ok": 1},
                                    "cards": ["4111111111111111", 5500000000000004, True, None]}}
    out = pipeline("processors:\n  - redact: {fields: [json]}\n").run(doc)
    assert out == {"message": "m", "json": {"user": {"mail": "[REDACTED:email]", "ok": 1},
                                            "cards": [CARD, CARD, True, None]}}
    # a dotted path to a nested field, the keys of objects kept
    doc = {"message": "m", "json": {"bob@example.com": "bob@example.com"}}
    out = pipeline("processors:\n  - redact: {fields: [json.bob@example.com]}\n").run(doc)
    assert out == {"message": "m", "json": {"bob@example.com": "[REDACTED:email]"}}


def test_ecs_default_fields_are_message_and_gelf_full_message() -> None:
    doc = {"message": "bob@example.com", "gelf": {"full_message": "bob@example.com", "x": "bob@example.com"}}
    out = pipeline("processors:\n  - redact: {}\n", Context(schema="ecs")).run(doc)
    assert out == {"message": "[REDACTED:email]",
                   "gelf": {"full_message": "[REDACTED:email]", "x": "bob@example.com"}}


def test_user_patterns_replace_every_match() -> None:
    params = r"{patterns: ['(?i)session=[a-z0-9]+', 'pin:\s*(\d{4})'], detectors: []}"
    assert redact_message("SESSION=ab12 then session=cd34, pin: 1234", params) == \
        "[REDACTED:pattern] then [REDACTED:pattern], [REDACTED:pattern]"
    # the user's own groups (named, even with names like ours) do not confuse which alternative matched
    params = r"{patterns: ['(?P<x>a)(b)(c)-(?P<x>d)']}"
    assert redact_message("abc-d bob@example.com 4111111111111111", params) == \
        f"[REDACTED:pattern] [REDACTED:email] {CARD}"


def test_keys_redact_values_whole_anywhere_in_the_event() -> None:
    doc: dict[str, Any] = {
        "message": "login", "password": "hunter2", "level": 6,
        "json": {"user": {"name": "bob", "Secret": {"a": 1, "b": [1, 2]}},
                 "list": [{"x": [{"api_token": 12345}, {"nothing": "here"}]}, "s"],
                 "deep": {"a": {"b": {"c": {"d": {"e": {"PASSWORD": True}}}}}}},
        "tokens": ["t1", "t2"], "empty": None,
    }
    out = pipeline("processors:\n  - redact: {keys: '(?i)password|secret|token', detectors: []}\n").run(doc)
    assert out == {
        "message": "login", "password": KEY_MARKER, "level": 6,
        "json": {"user": {"name": "bob", "Secret": KEY_MARKER},
                 "list": [{"x": [{"api_token": KEY_MARKER}, {"nothing": "here"}]}, "s"],
                 "deep": {"a": {"b": {"c": {"d": {"e": {"PASSWORD": KEY_MARKER}}}}}}},
        "tokens": KEY_MARKER, "empty": None,
    }


def test_keys_alone_need_no_fields_or_detectors() -> None:
    out = pipeline("processors:\n  - redact: {keys: '^pw$', fields: []}\n").run(
        {"message": "bob@example.com", "pw": "x", "pwd": "y"})
    assert out == {"message": "bob@example.com", "pw": KEY_MARKER, "pwd": "y"}


# ---------------------------------------------------------------------------------------------------------
# The keyed hash


def hashing(key: bytes = KEY, extra: str = "") -> Pipeline:
    ctx = Context(keys={"/etc/gelfingest/redact.key": key})
    return pipeline(f"""\
        processors:
          - redact:
              redactor: hash
              key_file: /etc/gelfingest/redact.key
              keys: (?i)password
              {extra}
        """, ctx)


def test_the_hash_redactor_keeps_equal_secrets_equal_and_depends_on_the_key() -> None:
    line = "card 4111111111111111 and 4111111111111111, mail bob@example.com; Authorization: Bearer 0123456789abcdef"
    first = hashing().run({"message": line, "password": "hunter2"})
    second = hashing().run({"message": line, "password": "hunter2"})
    other = hashing(OTHER_KEY).run({"message": line, "password": "hunter2"})
    assert first is not None and second is not None and other is not None
    assert first == second
    hashes = HASH.findall(first["message"])
    assert len(hashes) == 4
    assert hashes[0] == hashes[1] and len(set(hashes)) == 3
    assert first["message"].startswith("card [HASH:") and "Authorization: Bearer [HASH:" in first["message"]
    assert HASH.fullmatch(first["password"])
    assert set(HASH.findall(other["message"])).isdisjoint(hashes)
    assert other["password"] != first["password"]
    for secret in ("4111111111111111", "bob@example.com", "0123456789abcdef", "hunter2"):
        assert secret not in orjson.dumps(first).decode()


def test_a_secret_hashes_alike_in_a_string_a_number_and_under_keys() -> None:
    pipe = hashing(extra="fields: [message, n]")
    out = pipe.run({"message": "4111111111111111", "n": 4111111111111111, "password": 4111111111111111})
    assert out is not None
    assert HASH.fullmatch(out["message"]) and out["message"] == out["n"] == out["password"]
    # objects under keys have nothing to correlate
    out = pipe.run({"message": "m", "password": {"a": "b"}})
    assert out is not None and out["password"] == KEY_MARKER


def test_the_key_is_read_through_the_daemon() -> None:
    asked: list[str] = []

    def read_key(path: str) -> bytes:
        asked.append(path)
        return KEY + b"\n"

    ctx = Context(read_key=read_key)
    pipe = pipeline("processors:\n  - redact: {redactor: hash, key_file: /k}\n", ctx)
    assert asked == ["/k"]
    assert pipe.run({"message": "bob@example.com"}) == hashing().run({"message": "bob@example.com"})

    def cannot(path: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", path)

    error = refused("processors:\n  - redact:\n      redactor: hash\n      key_file: /nope\n",
                    Context(read_key=cannot))
    assert error.line == 4 and "key_file" in error.problem and "/nope" in error.problem


# ---------------------------------------------------------------------------------------------------------
# Failing closed


def test_a_value_longer_than_the_message_limit_is_replaced_whole() -> None:
    ctx = Context(max_message_size=100)
    pipe = pipeline("processors:\n  - redact: {}\n", ctx)
    out = pipe.run({"message": "x" * 101, "full_message": "é" * 60})
    assert out == {"message": UNSCANNED, "full_message": UNSCANNED}
    out = pipe.run({"message": "x" * 100})
    assert out == {"message": "x" * 100}
    assert redactor(pipe).unscanned == 2


def test_more_matches_than_the_bound_replace_the_value_whole() -> None:
    pipe = pipeline("processors:\n  - redact: {}\n")
    many = " ".join(["bob@example.com"] * (MAX_REPLACEMENTS + 1))
    assert pipe.run({"message": many}) == {"message": UNSCANNED}
    enough = " ".join(["bob@example.com"] * MAX_REPLACEMENTS)
    assert pipe.run({"message": enough}) == {"message": " ".join(["[REDACTED:email]"] * MAX_REPLACEMENTS)}
    assert redactor(pipe).redacted == 1 + MAX_REPLACEMENTS


def test_more_near_misses_than_the_bound_replace_the_value_whole() -> None:
    # every candidate fails Luhn
    misses = " x ".join(["4111111111111112"] * (MAX_MISSES + 1))
    assert redact_message(misses) == UNSCANNED
    fewer = " x ".join(["4111111111111112"] * 100)
    assert redact_message(fewer) == fewer


def test_values_that_cannot_be_read_whole_are_replaced() -> None:
    # a lone surrogate (json.loads makes them) cannot be given to RE2
    assert redact_message("bob@example.com \ud800") == UNSCANNED
    deep: Any = "bob@example.com"
    for _ in range(MAX_WALK_DEPTH + 1):
        deep = [deep]
    out = pipeline("processors:\n  - redact: {fields: [json]}\n").run({"message": "m", "json": deep})
    assert out is not None and "bob@example.com" not in orjson.dumps(out).decode()
    out = pipeline("processors:\n  - redact: {keys: nothing}\n").run({"message": "m", "json": {"a": deep}})
    assert out is not None and "bob@example.com" not in orjson.dumps(out).decode()
    assert redact_message(4 * 10**5000) == UNSCANNED


def test_a_line_at_the_size_limit_costs_bounded_time() -> None:
    size = 1 << 20
    rng = random.Random(11)
    words = ["GET", "/api/v1/items", "200", "bob@example.com", "4111 1111 1111 1111", "078-05-1120", "user=42",
             "Bearer 0123456789abcdef", "latency=12ms", "ok", "4111111111111112"]
    text = ""
    while len(text) < size - 40:
        text += rng.choice(words) + " "
    lines = [
        text[:size],
        "4" * size,
        "4 " * (size // 2),
        "4-" * (size // 2),
        "a@" * (size // 2),
        ("a" * 63 + "@") * (size // 64),
        "Basic " * (size // 6),
        "eyJ" * (size // 3),
        "é" * (size // 2),
        # an e-mail's local part and a JWT's header alive across the whole line, a card in every piece
        ("a4111111111111111a-" * (size // 19)),
        ("-eyJa4111111111111111a" * (size // 22)),
        "".join(rng.choice("0123456789 -@.a") for _ in range(size)),
    ]
    pipe = pipeline("processors:\n  - redact: {patterns: ['secret=\\S+']}\n")
    for line in lines:
        out = pipe.run({"message": line})
        assert out is not None
        assert "4111 1111 1111 1111" not in out["message"] and "bob@example.com" not in out["message"]


WORDS = ["bob@example.com", "4111 1111 1111 1111", "4111111111111111", "4111111111111112", "078-05-1120",
         "000-12-3456", "AKIAIOSFODNN7EXAMPLE", "Bearer", "Bearer 0123456789abcdef", "Basic dXNlcjpwYXNz",
         "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "eyJhbGciOiJub25lIn0.eyJ4111111111111111x.c2ln", "eyJ",
         "secret=abcdefgh", "x", "@", "-", "1234", "é", "a.b"]
# Secrets sparse enough that a window often reaches past the next one.
FILLERS = ["lorem", "ipsum", "dolor", "sit", "amet", "GET", "/api/v1/items", "200", "ok", "took", "12ms"] * 4


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.tuples(st.sampled_from(WORDS + FILLERS), st.sampled_from([" ", " ", ", ", "\n", "  "])),
                      max_size=400),
       patterns=st.booleans())
def test_the_search_window_gives_the_whole_value_s_result(words: list[tuple[str, str]], patterns: bool) -> None:
    # every match here is shorter than 64 bytes: a window of 128 must change nothing
    text = "".join(word + sep for word, sep in words)
    params = "{patterns: ['secret=\\S+']}" if patterns else "{}"
    processor = redactor(pipeline(f"processors:\n  - redact: {params}\n"))
    whole = processor.scan(text)
    saved = redact_module.SEARCH_WINDOW
    redact_module.SEARCH_WINDOW = 128  # type: ignore[misc]
    try:
        windowed = processor.scan(text)
    finally:
        redact_module.SEARCH_WINDOW = saved  # type: ignore[misc]
    assert windowed == whole


@pytest.mark.parametrize("secret", [w for w in WORDS if redact_message(w) != w])
def test_a_secret_across_the_window_s_edge_is_redacted_whole(secret: str) -> None:
    processor = redactor(pipeline("processors:\n  - redact: {patterns: ['secret=\\S+']}\n"))
    saved = redact_module.SEARCH_WINDOW
    for offset in range(0, 140):
        for before in ("", "4111111111111112 "):  # a rejected candidate first: the next search starts later
            text = f"{before}{'x' * offset} {secret} {'y ' * 100}"
            whole = processor.scan(text)
            redact_module.SEARCH_WINDOW = 64  # type: ignore[misc]
            try:
                assert processor.scan(text) == whole, offset
            finally:
                redact_module.SEARCH_WINDOW = saved  # type: ignore[misc]
            assert secret not in whole


def test_a_secret_longer_than_the_window_is_redacted_whole() -> None:
    token = "a" * 20_000
    jwt = "eyJhbGciOiJub25lIn0." + "b" * 40_000 + ".sig"
    text = "x " * 30_000 + f"Bearer {token} and {jwt} " + "y " * 30_000
    out = redact_message(text)
    assert out == "x " * 30_000 + "Bearer [REDACTED:bearer] and [REDACTED:jwt] " + "y " * 30_000


# ---------------------------------------------------------------------------------------------------------
# Refusals


@pytest.mark.parametrize(("text", "line", "words"), [
    ("processors:\n  - redact:\n      detectors: [email, phone]\n", 3, "unknown detector 'phone'"),
    ("processors:\n  - redact:\n      detectors: []\n", 3, "nothing to do"),
    ("processors:\n  - redact:\n      fields: []\n", 3, "nothing to do"),
    ("processors:\n  - redact:\n      patterns: ['(?<=x)y']\n", 3, "look-around"),
    ("processors:\n  - redact:\n      patterns: ['a*']\n", 3, "empty string"),
    ("processors:\n  - redact:\n      patterns: ['x|']\n", 3, "empty string"),
    ("processors:\n  - redact:\n\n      keys: '(unclosed'\n", 4, "cannot be used"),
    ("processors:\n  - redact:\n      redactor: hash\n", 3, "key_file"),
    ("processors:\n  - redact:\n      redactor: sha1\n", 3, "must be one of full, hash"),
    ("processors:\n  - redact:\n      key_file: /k\n", 3, "is for 'redactor: hash'"),
    ("processors:\n  - redact:\n      redactor: hash\n      key_file: /missing\n", 4, "no key was read"),
    ("processors:\n  - redact:\n      detector: [email]\n", 3, "unknown parameter 'detector'"),
    ("processors:\n  - redact:\n      fields: message\n      patterns: 12\n", 4, "list of strings"),
])
def test_bad_configurations_are_refused_with_their_line(text: str, line: int, words: str) -> None:
    error = refused(text)
    assert error.line == line, error
    assert words in error.problem


def test_a_short_key_is_refused() -> None:
    error = refused("processors:\n  - redact:\n      redactor: hash\n      key_file: /k\n",
                    Context(keys={"/k": b"password\n"}))
    assert error.line == 4 and "at least 16" in error.problem


# ---------------------------------------------------------------------------------------------------------
# Property: a planted secret never reaches the serialised event


def _luhn_card(digits: list[int]) -> str:
    for last in range(10):
        if luhn([*digits, last]):
            return "".join(map(str, digits)) + str(last)
    raise AssertionError("unreachable")


@st.composite
def secrets(draw: st.DrawFn) -> tuple[str, str]:
    """A secret as planted, and its essential text (a card's digits, a credential)."""
    kind = draw(st.sampled_from(["card", "aws", "jwt", "bearer", "email", "ssn"]))
    if kind == "card":
        length = draw(st.sampled_from([13, 15, 16, 19]))
        first = draw(st.sampled_from([2, 3, 4, 5, 6]))
        digits = [first, *draw(st.lists(st.integers(0, 9), min_size=length - 2, max_size=length - 2))]
        card = _luhn_card(digits)
        sep = draw(st.sampled_from(["", " ", "-"]))
        planted = sep.join(card[i:i + 4] for i in range(0, len(card), 4))
        return planted, card
    if kind == "aws":
        body = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16))
        planted = draw(st.sampled_from(["AKIA", "ASIA"])) + body
        return planted, planted
    if kind == "jwt":
        seg = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=4, max_size=40)
        planted = f"eyJ{draw(seg)}.{draw(seg)}.{draw(seg)}"
        return planted, planted
    if kind == "bearer":
        token = draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789._~+/-", min_size=12, max_size=60))
        return f"Bearer {token}", token
    if kind == "email":
        local = draw(st.text("abcdefghij0123456789._+-", min_size=1, max_size=20).filter(lambda s: s[0].isalnum()))
        planted = f"{local}@example.org"
        return planted, planted
    planted = f"{draw(st.integers(1, 665)):03d}-{draw(st.integers(1, 99)):02d}-{draw(st.integers(1, 9999)):04d}"
    return planted, planted


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
LEAVES = TEXT | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none() | st.floats(allow_nan=False)
TREES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                     max_leaves=20)


def _plant(tree: Any, text: str, choice: int) -> Any:
    """``tree`` with ``text`` planted in one of its strings (or added to a list or object), chosen by ``choice``."""
    holders: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if type(node) is dict:
            for key, value in node.items():
                holders.append((node, key))
                walk(value)
        elif type(node) is list:
            for i, value in enumerate(node):
                holders.append((node, i))
                walk(value)

    root = [tree]
    walk(root)
    strings = [(node, key) for node, key in holders if type(node[key]) is str]
    if not strings:
        return [tree, text]
    node, key = strings[choice % len(strings)]
    node[key] = f"{node[key]} {text} {node[key]}"
    return root[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets(), tree=TREES, where=st.sampled_from(["message", "full_message", "json"]),
       choice=st.integers(0, 100), hashed=st.booleans())
def test_a_planted_secret_never_survives(secret: tuple[str, str], tree: Any, where: str, choice: int,
                                         hashed: bool) -> None:
    planted, essential = secret
    assume(essential not in orjson.dumps(tree).decode())
    doc: dict[str, Any] = {"message": "m", "full_message": "f", "json": {"k": "v"}, "host": "h"}
    doc[where] = _plant(tree, planted, choice)
    params = "{fields: [message, full_message, json]" + (", redactor: hash, key_file: /k}" if hashed else "}")
    pipe = pipeline(f"processors:\n  - redact: {params}\n", Context(keys={"/k": KEY}))
    out = pipe.run(doc)
    assert out is not None
    body = orjson.dumps(out).decode()
    assert planted not in body
    assert essential not in body


@settings(max_examples=100, deadline=None)
@given(tree=TREES, value=LEAVES | TREES, name=st.sampled_from(["password", "db_PASSWORD", "x.password"]),
       choice=st.integers(0, 100))
def test_a_value_under_a_secret_key_never_survives(tree: Any, value: Any, name: str, choice: int) -> None:
    marker = "s3cr3t-\u00e9-value"
    planted = {name: [value, marker]}
    doc: dict[str, Any] = {"message": "m", "json": _plant(tree, "x", choice)}
    # hang the secret object somewhere in the tree
    holder = doc["json"]
    while True:
        if type(holder) is dict and holder:
            holder = holder[sorted(holder)[choice % len(holder)]]
        elif type(holder) is list and holder:
            holder = holder[choice % len(holder)]
        else:
            break
    if type(holder) is dict:
        holder["nested"] = planted
    elif type(holder) is list:
        holder.append(planted)
    else:
        doc["json"] = [doc["json"], planted]
    out = pipeline("processors:\n  - redact: {keys: '(?i)password', detectors: []}\n").run(doc)
    assert out is not None
    assert marker not in orjson.dumps(out).decode()


@pytest.mark.parametrize(("text", "expected"), [
    ('{"user": "ann", "password": "s3cret! x"}', '{"user": "ann", "password": "[REDACTED:key]"}'),
    ("db_password=abc123 other=1", "db_password=[REDACTED:key] other=1"),
    ("api_token: 'two words' ok", "api_token: '[REDACTED:key]' ok"),
    ("PASSWORD = hunter2; next", "PASSWORD = [REDACTED:key]; next"),
    ('{"secret": "a\\"b", "x": 1}', '{"secret": "[REDACTED:key]", "x": 1}'),
    ("my secret is safe", "my secret is safe"),  # a name without a value is not a secret
    ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer [REDACTED:key]"),
    ("authorization=Basic dXNlcjpwYXNz next", "authorization=Basic [REDACTED:key] next"),
    ('{"Authorization": "Bearer abc.def"}', '{"Authorization": "[REDACTED:key]"}'),
])
def test_keys_redact_a_named_value_inside_the_text_too(text: str, expected: str) -> None:
    from gelfingest.core.processors import Context, build

    p = build("processors:\n  - redact:\n      fields: [message]\n      detectors: []\n"
              "      keys: '(?i)passw(or)?d|secret|token|authorization'\n", Context())
    assert p.run({"message": text}) == {"message": expected}


def test_short_values_are_skipped_only_where_nothing_could_match() -> None:
    from gelfingest.core.processors import Context, build

    p = build("processors:\n  - redact:\n      fields: [message, n]\n      keys: '(?i)pw'\n", Context())
    assert p.run({"message": "pw=x", "n": 4111111111111111}) == {"message": "pw=[REDACTED:key]",
                                                                   "n": "[REDACTED:credit_card]"}
    assert p.run({"message": "ok", "n": 12}) == {"message": "ok", "n": 12}


def test_keys_find_names_in_json_printed_inside_a_string_and_ruby_hashes_and_spare_gelfingest_s_own() -> None:
    from gelfingest.core.processors import Context, build

    p = build("processors:\n  - redact:\n      fields: [message]\n      detectors: []\n"
              "      keys: '(?i)password|time|host'\n", Context())
    out = p.run({"message": '{"body": "{\\"password\\": \\"hunter2\\"}"} and {"password"=>"hunter3"}',
                 "@timestamp": "2026-01-01T00:00:00.000Z", "host": "web-1", "hostname": "x"})
    assert out is not None
    assert "hunter2" not in out["message"] and "hunter3" not in out["message"]
    assert out["@timestamp"] == "2026-01-01T00:00:00.000Z" and out["host"] == "web-1"
    assert out["hostname"] == "[REDACTED:key]"
