"""``redact``: secrets and personal data taken out of events before anything stores them.

What is scanned: the strings under ``fields`` (default ``message`` and ``full_message``; with the ECS
schema ``message`` and ``gelf.full_message``, where ECS keeps GELF's ``full_message``), objects and
arrays walked with their keys kept, and the numbers there (a card number sent as a JSON number is a card
number: when its digits hold a secret the number is replaced by the marker, a string, which a field
Elasticsearch maps as a number refuses as a mapping conflict). Every match of the user's ``patterns``
(RE2) and of the built-in ``detectors`` (all by default, ``detectors: []`` for none):

- ``credit_card``: 13 to 19 digits, single spaces or dashes allowed between them, starting with 2 to 6
  (the card networks' ranges: Mastercard, Amex, Diners, JCB, Visa, Maestro, Discover, UnionPay) and passing
  the Luhn check; a number that runs on into more digits is not a card. Numbers starting with 0, 1, 7, 8 or
  9 are left alone: epoch timestamps in ms, us or ns and snowflake ids start with 1, and one in ten of
  them would pass Luhn.
- ``us_ssn``: ``AAA-GG-SSSS`` without the numbers the SSA never issues (area 000, 666, 900-999; group
  00; serial 0000).
- ``email``: ``local@domain.tld``.
- ``bearer``: the credential after ``Bearer`` (at least 8 characters) and after ``Basic`` when it is
  base64 of ``user:password``; the scheme word is kept (``Authorization: Bearer [REDACTED:bearer]``).
- ``aws_access_key``: ``AKIA`` or ``ASIA`` and 16 more capitals or digits.
- ``jwt``: three base64url segments, the first starting ``eyJ`` (``{"`` encoded).

``keys`` is an RE2 pattern searched in every field name (each name, not its dotted path) of the whole
event, nested objects and arrays included: the value of a matching field is replaced whole, whatever it is
(``(?i)password|secret|token``). In the text under ``fields`` it also finds such a name printed beside its
value (``password=x``, ``token: x``, ``"secret": "x"``, as a JSON line or a log line prints them): the value
is redacted, the name and the quotes kept, so a JSON line stays JSON when its values are strings.

The marker says what was found: ``[REDACTED:credit_card]``, ``[REDACTED:pattern]`` (the user's patterns),
``[REDACTED:key]`` (a value under ``keys``). With ``redactor: hash`` each secret becomes
``[HASH:<16 hex>]``, the first 64 bits of HMAC-SHA256 under the key in ``key_file``: equal secrets give equal
hashes in every event and on every instance with the same key, so they can still be counted and
correlated, and nobody without the key can test a guess. The key file's bytes are the key, blanks around
them stripped (``echo`` and ``printf`` give the same key); fewer than MIN_KEY_BYTES are refused. A value
under ``keys`` that is an object, an array or null has nothing to correlate and gets ``[REDACTED:key]``
with either redactor.

It fails closed: a value it cannot scan whole (longer than ``--max-message-size``, more than
MAX_REPLACEMENTS secrets, more than MAX_MISSES near misses, not encodable as UTF-8, or nested deeper than
MAX_WALK_DEPTH) becomes ``[REDACTED:unscanned]``. It never fails an event: a failure would keep the event
as it was, secrets and all. ``redacted`` and ``unscanned`` count what it replaced, for the daemon's metrics.

One RE2 program holds every pattern and detector, so each string is read once: at each position the
detectors that redact every match are tried first, then the user's patterns, then the two that check what
they matched (``Basic`` credentials, card numbers); a candidate that fails its check is skipped and the
search goes on from the next place anything could start. A search reads at most SEARCH_WINDOW (32 KiB)
ahead when that settles the match: the result is the whole value's for every secret shorter than 16 KiB.
Nothing matched is kept: no cache, no message.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from gelfingest.core.processors.base import (
    MAX_PATTERN_LENGTH,
    MAX_REPLACEMENTS,
    MISSING,
    ConfigError,
    Context,
    Params,
    Processor,
    compile_regex,
    lookup,
    processor,
    put,
)

DETECTORS: Final = ("credit_card", "us_ssn", "email", "bearer", "aws_access_key", "jwt")
DEFAULT_FIELDS: Final = {"logstash": ("message", "full_message"), "ecs": ("message", "gelf.full_message")}

# Candidates that failed their check (card numbers failing Luhn, ``Basic`` words that are not credentials)
# in one value: past this the value is digits or noise, not a log line, and each further candidate would
# cost a Python call per few bytes; it is redacted whole instead.
MAX_MISSES: Final = 4 * MAX_REPLACEMENTS
# Nesting walked under ``fields`` and for ``keys``: decoded events are at most --max-json-depth (20 by
# default) deep; anything deeper is redacted whole rather than walked.
MAX_WALK_DEPTH: Final = 64
# Bytes one search reads before settling for what it found there. RE2 returns the leftmost match, so a
# search reads on while any candidate that started earlier is alive, and a candidate that never matches (an
# e-mail's local part over a megabyte of ``a4111111111111111a-``, with a card in each piece) would make
# every search read to the end: a thousand searches of a megabyte. A match found in the window's first half
# that ends inside it is the one the whole value gives unless a longer one (over half the window) started
# before it; otherwise the search reads the rest of the value. Secrets are far shorter than 16 KiB (an
# HTTP header line is at most 8 KiB in most servers).
SEARCH_WINDOW: Final = 32 << 10
# The user's patterns in one redact: they run as one program, whose size RE2 also bounds.
MAX_PATTERNS: Final = 64
# Field names remembered as matching ``keys`` or not (names, never values); past this names are checked
# each time, so a sender inventing names costs time, not memory.
MAX_KEY_CACHE: Final = 4096
# Hex digits of the HMAC kept: 64 bits, so two different secrets share a hash only among billions.
HASH_HEX_DIGITS: Final = 16
# A shorter key is a password, not a key: ``openssl rand -hex 32 > key`` makes a good one.
MIN_KEY_BYTES: Final = 16
# Strings shorter than the shortest thing a detector finds (``a@b.cd``) are skipped when there are no
# user patterns.
_SHORTEST_DETECTED: Final = 6
# The fewest digits a card number has: a shorter number holds nothing a detector finds.
_SHORTEST_CARD: Final = 13
# Strings a user pattern must not match as an empty string: one that does would "redact" between letters.
_EMPTY_PROBES: Final = ("", " ", "a", "ab", "a b", "0", "\n", "a\nb", "-")

UNSCANNED: Final = "[REDACTED:unscanned]"
KEY_MARKER: Final = "[REDACTED:key]"

# Each alternative holds exactly one capturing group: the text it redacts (the whole match, or the
# credential after its scheme word).
#
# No counted part ({1,64}) where candidates can start at many places, and no first character narrower than
# the ones after it (a card's first digit, 2 to 6, is checked in Python): either makes RE2's DFA track which
# of many overlapping candidates are alive, its states outgrow the memory bound and RE2 falls back to its
# NFA. A megabyte of random digits, dashes and ``@`` took 0.5 s with the e-mail's parts bounded as RFC 5321
# bounds them and 1 ms without; a card starting [2-6] made the same line 3.5 times slower to redact.
_FIRST: Final = (
    ("bearer", r"\b(?i:bearer)\s+([A-Za-z0-9._~+/-]{8,}=*)"),
    ("jwt", r"\b(eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*)"),
    ("aws_access_key", r"\b((?:AKIA|ASIA)[A-Z0-9]{16})\b"),
    ("email", r"\b([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"),
    ("us_ssn", r"\b((?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-(?:0[1-9]|[1-9]\d)"
               r"-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3}))\b"),
)
# Tried last, because a candidate they reject is skipped from its first character on: nothing tried
# before them matched there, and they cannot both start at one place (a letter, a digit).
_BASIC: Final = r"\b(?i:basic)\s+([A-Za-z0-9+/]{4,}={0,2})"
_CARD: Final = r"(\d(?:[ -]?\d){12,18})"

_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _is_digit(byte: int) -> bool:
    return 48 <= byte <= 57


def luhn(digits: list[int]) -> bool:
    """The Luhn check card numbers carry in their last digit."""
    total = 0
    for i, digit in enumerate(reversed(digits)):
        total += _DOUBLED[digit] if i & 1 else digit
    return total % 10 == 0


def _card_end(data: bytes, start: int, end: int) -> int:
    """The end of the longest card number at ``start`` within the candidate ``[start, end)``, or -1. A card
    starts with 2 to 6 after a non-digit and ends where its digits do (a space, a dash or no digit next)."""
    if not 50 <= data[start] <= 54 or (start > 0 and _is_digit(data[start - 1])):  # 2-6, after a non-digit
        return -1
    digits: list[int] = []
    ends: list[tuple[int, int]] = []
    size = len(data)
    for i in range(start, end):
        byte = data[i]
        if _is_digit(byte):
            digits.append(byte - 48)
            if len(digits) >= 13 and (i + 1 == size or not _is_digit(data[i + 1])):
                ends.append((len(digits), i + 1))
    for count, cut in reversed(ends):
        if luhn(digits[:count]):
            return cut
    return -1


def _basic_end(data: bytes, start: int, end: int) -> int:
    """``end`` when ``[start, end)`` is base64 of ``user:password`` (RFC 7617), else -1."""
    token = data[start:end].rstrip(b"=")
    try:
        decoded = base64.b64decode(token + b"=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return -1
    return end if b":" in decoded else -1


def _next_group(data: bytes, start: int, end: int) -> int:
    """Where a rejected card candidate's next digit group starts (the candidate's end if it has none)."""
    i = start + 1
    while i < end and _is_digit(data[i]):
        i += 1
    return i + 1 if i < end else end


@dataclass(frozen=True, slots=True)
class _Alternative:
    group: int
    marker: bytes
    # None: every match is redacted; else "card" or "basic", checked first.
    check: str | None
    # Another group this alternative redacts when ``group`` took no part (a key's value: quoted or not).
    other: int = -1


class RedactProcessor(Processor):
    name: ClassVar[str] = "redact"
    # Kept for the pipeline's bookkeeping; redact never fails an event (that would keep its secrets).
    tag: ClassVar[str] = "_redactfailure"

    def __init__(self, fields: list[str], program: Any, alternatives: tuple[_Alternative, ...],
                 user_patterns: bool, keys: Any, key: bytes | None, max_size: int) -> None:
        self.fields = fields
        self._program = program
        self._alternatives = alternatives
        self._user_patterns = user_patterns
        self._needed: frozenset[str] = frozenset()
        # The program also finds ``name=value`` in text for ``keys`` (_key_value).
        self._keys_in_text = keys is not None and program is not None
        self._keys = keys
        self._key = key
        self._max_size = max_size
        self._key_cache: dict[str, bool] = {}
        # Secrets and values replaced (each match, each value under ``keys``, each value failed closed),
        # and of those the values replaced whole because they could not be scanned.
        self.redacted = 0
        self.unscanned = 0

    def run(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        if self._program is not None:
            for path in self.fields:
                value = lookup(doc, path)
                if value is MISSING:
                    continue
                new = self._value(value, 0)
                if new is not value:
                    put(doc, path, new)
        if self._keys is not None:
            self._redact_keys(doc)
        return doc

    # ---- values under ``fields``

    def _value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.scan(value)
        if kind is int or kind is float:
            return self._number(value)
        if kind is dict or kind is list:
            if depth >= MAX_WALK_DEPTH:
                return self._unscanned()
            items = value.items() if kind is dict else enumerate(value)
            for name, inner in items:
                new = self._value(inner, depth + 1)
                if new is not inner:
                    value[name] = new
        return value

    def _number(self, value: int | float) -> Any:
        text = _number_text(value)
        if text is None:
            return self._unscanned()
        if not self._user_patterns and len(text) < _SHORTEST_CARD:
            return value  # only a card can be a number (the rest need letters, dashes or a separator)
        out = self.scan(text)
        return value if out is text else out

    def scan(self, text: str) -> str:
        """``text`` with every secret replaced (the same object when there was none)."""
        if len(text) > self._max_size:
            return self._unscanned()
        if len(text) < _SHORTEST_DETECTED and not self._user_patterns and (
                not self._keys_in_text or ("=" not in text and ":" not in text)):
            return text
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: RE2 cannot read it, so it cannot be scanned
            return self._unscanned()
        if len(data) > self._max_size:
            return self._unscanned()
        search = self._search
        pieces: list[bytes] = []
        pos = last = found = misses = 0
        while (match := search(data, pos)) is not None:
            start, end = match.span()
            alternative = self._which(match)
            cut_start, cut_end = match.span(alternative.group)
            if cut_start < 0:
                cut_start, cut_end = match.span(alternative.other)
            check = alternative.check
            if check is not None:
                cut_end = _card_end(data, cut_start, cut_end) if check == "card" else \
                    _basic_end(data, cut_start, cut_end)
                if cut_end < 0:
                    misses += 1
                    if misses > MAX_MISSES:
                        return self._unscanned()
                    # Past a rejected card's first digit group nothing but a user pattern can start.
                    pos = _next_group(data, start, end) if check == "card" and not (
                        self._user_patterns or self._keys_in_text) \
                        else start + 1
                    continue
                end = cut_end
            elif cut_start == cut_end:  # a user pattern matching nothing here: nothing to redact
                misses += 1
                if misses > MAX_MISSES:
                    return self._unscanned()
                pos = max(end, start + 1)
                continue
            found += 1
            if found > MAX_REPLACEMENTS:
                return self._unscanned()
            pieces.append(data[last:cut_start])
            pieces.append(self._marker(alternative.marker, data, cut_start, cut_end))
            last = cut_end
            pos = end
        if not found:
            return text
        pieces.append(data[last:])
        try:
            out = b"".join(pieces).decode("utf-8")
        except UnicodeDecodeError:  # a user pattern with \C cut a character in two
            return self._unscanned()
        self.redacted += found
        return out

    def _search(self, data: bytes, pos: int) -> Any:
        """The program's next match from ``pos``, reading at most SEARCH_WINDOW bytes when that settles it."""
        window = pos + SEARCH_WINDOW
        if window < len(data):
            match = self._program.search(data, pos, window)
            if match is not None and match.end() < window and match.start() < pos + SEARCH_WINDOW // 2:
                return match
        return self._program.search(data, pos)

    def _which(self, match: Any) -> _Alternative:
        for alternative in self._alternatives:
            if match.span(alternative.group)[0] >= 0 or (alternative.other >= 0
                                                          and match.span(alternative.other)[0] >= 0):
                return alternative
        raise AssertionError("a match of the program matched none of its alternatives")

    def _marker(self, marker: bytes, data: bytes, start: int, end: int) -> bytes:
        return marker if self._key is None else self._hash(data[start:end])

    def _hash(self, secret: bytes) -> bytes:
        digest = hmac.digest(self._key or b"", secret, "sha256")
        return b"[HASH:" + digest.hex()[:HASH_HEX_DIGITS].encode() + b"]"

    def _unscanned(self) -> str:
        self.redacted += 1
        self.unscanned += 1
        return UNSCANNED

    # ---- values under ``keys``, anywhere in the event

    def _redact_keys(self, doc: dict[str, Any]) -> None:
        stack: list[tuple[Any, int]] = [(doc, 0)]
        while stack:
            node, depth = stack.pop()
            items = node.items() if type(node) is dict else enumerate(node)
            for name, inner in items:
                if depth == 0 and name in self._needed:
                    continue  # @timestamp, host ...: gelfingest's own, never a secret of the sender's
                if type(name) is str and self._key_matches(name):
                    node[name] = self._key_value(inner)
                elif type(inner) is dict or type(inner) is list:
                    if depth + 1 >= MAX_WALK_DEPTH:
                        node[name] = self._unscanned()
                    else:
                        stack.append((inner, depth + 1))

    def _key_matches(self, name: str) -> bool:
        known = self._key_cache.get(name)
        if known is None:
            known = self._keys.search(name) is not None
            if len(self._key_cache) < MAX_KEY_CACHE:
                self._key_cache[name] = known
        return known

    def _key_value(self, value: Any) -> str:
        self.redacted += 1
        if self._key is None:
            return KEY_MARKER
        # Hashed as the text it would be scanned as, so a secret hashes alike in a string and a number.
        kind = type(value)
        text: str | None = None
        if kind is str:
            text = value
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is int or kind is float:
            text = _number_text(value)
        if text is None:  # an object, an array, null: nothing to correlate
            return KEY_MARKER
        return self._hash(text.encode("utf-8", "surrogatepass")).decode()


def _number_text(value: int | float) -> str | None:
    """A number as its digits (an integral float as an integer, as it was most likely sent); None for an
    integer longer than Python will print (sys.int_info.default_max_str_digits)."""
    if type(value) is float:
        return str(int(value)) if value.is_integer() else repr(value)
    try:
        return str(value)
    except ValueError:
        return None


def _read_key(p: Params, ctx: Context, path: str) -> bytes:
    line = p.line_of("key_file")
    try:
        key = ctx.read_key(path) if ctx.read_key is not None else ctx.keys.get(path)
    except ConfigError as exc:
        raise ConfigError(line, f"redact: 'key_file' {path!r}: {exc.problem}") from None
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(line, f"redact: 'key_file' cannot be read: {exc}") from None
    if key is None:
        raise ConfigError(line, f"redact: 'key_file' {path!r}: no key was read from it")
    key = bytes(key).strip()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(line, f"redact: 'key_file' {path!r} holds {len(key)} bytes; a key is at least "
                          f"{MIN_KEY_BYTES} (openssl rand -hex 32 makes one)")
    return key


def _user_patterns(p: Params) -> list[Any]:
    patterns = p.strings("patterns", [])
    line = p.line_of("patterns")
    if len(patterns) > MAX_PATTERNS:
        p.fail("patterns", f"holds {len(patterns)} patterns (at most {MAX_PATTERNS})")
    compiled = []
    for pattern in patterns:
        program = compile_regex(pattern, line, "redact: 'patterns'")
        for probe in _EMPTY_PROBES:
            if any(m.start() == m.end() for m in program.finditer(probe)):
                raise ConfigError(line, f"redact: 'patterns': {pattern!r} matches the empty string "
                                  f"(there is nothing in an empty match to redact)")
        compiled.append(program)
    return compiled


@processor("redact")
def build_redact(p: Params, ctx: Context) -> Processor:
    fields = p.strings("fields", list(DEFAULT_FIELDS.get(ctx.schema, DEFAULT_FIELDS["logstash"])))
    user = _user_patterns(p)
    detectors = p.strings("detectors", list(DETECTORS))
    for name in detectors:
        if name not in DETECTORS:
            p.fail("detectors", f"names an unknown detector '{name}' (known: {', '.join(DETECTORS)})")
    keys_pattern = p.string("keys", None)
    keys = compile_regex(keys_pattern, p.line_of("keys"), "redact: 'keys'") if keys_pattern is not None \
        else None
    redactor = p.choice("redactor", ("full", "hash"), "full")
    key_file = p.string("key_file", None)
    if redactor == "hash" and key_file is None:
        p.fail("redactor", "is hash, which needs 'key_file' (a file holding the HMAC key)")
    if redactor == "full" and key_file is not None:
        p.fail("key_file", "is for 'redactor: hash'")
    scans = bool(user or detectors or keys is not None) and bool(fields)
    if not scans and keys is None:
        raise ConfigError(p.line, "redact has nothing to do: give 'fields' with 'patterns' or 'detectors', "
                          "or 'keys'")
    key = _read_key(p, ctx, key_file) if key_file is not None else None
    program, alternatives = _program(user, set(detectors), p.line_of("patterns"), keys) if scans else (None, ())
    redact = RedactProcessor(fields, program, alternatives, bool(user), keys, key, ctx.max_message_size)
    redact._needed = ctx.required_fields - {"message"}
    return redact


def _key_value(keys: Any) -> str:
    """A pattern for ``name=value``, ``name: value`` and ``"name": "value"`` in text, where the name matches
    ``keys``: a JSON line or a log line printing a secret beside its name has the value redacted in the text
    too, the name and the quotes kept (a JSON line stays JSON). Three groups after the keys' own: the value
    inside double quotes, inside single quotes, or up to a blank or a separator; a credential's scheme word
    before the last (``Authorization: Bearer x``) is kept and the credential redacted, never the word alone."""
    # ``\\?`` before a quote: a JSON line printed inside a string (``{\"password\": \"x\"}``); ``=>``: Ruby's.
    return (rf"[A-Za-z0-9_.\-]*(?:{keys.pattern})[A-Za-z0-9_.\-]*\\?[\"']?[ \t]*(?:=>|[:=])[ \t]*\\?"
            r"""(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)'|"""
            r"""(?:(?i:bearer|basic|token|digest|negotiate|apikey)[ \t]+)?([^\s"',;&}\]]+))""")


def _program(user: list[Any], detectors: set[str], line: int, keys: Any = None,
             ) -> tuple[Any, tuple[_Alternative, ...]]:
    """One RE2 program for every pattern and detector, with the group each alternative redacts. Group
    numbers are counted, not named: RE2 lets a user's pattern reuse a name."""
    # Each part: its pattern, its marker, its check, and the groups it holds besides its own, which
    # comes first in it (the user's groups follow inside the group around all their patterns).
    parts: list[tuple[str, bytes, str | None, int]] = []
    if keys is not None:
        parts.append((_key_value(keys), b"[REDACTED:key]", None, keys.groups + 3))
    for name, pattern in _FIRST:
        if name in detectors:
            parts.append((pattern, f"[REDACTED:{name}]".encode(), None, 0))
    if user:
        joined = "|".join(f"(?:{u.pattern})" for u in user)
        parts.append((f"({joined})", b"[REDACTED:pattern]", None, sum(u.groups for u in user)))
    if "bearer" in detectors:
        parts.append((_BASIC, b"[REDACTED:bearer]", "basic", 0))
    if "credit_card" in detectors:
        parts.append((_CARD, b"[REDACTED:credit_card]", "card", 0))
    alternatives = []
    group = 1
    for i, (_, marker, check, inner) in enumerate(parts):
        if i == 0 and keys is not None:  # its groups: the keys' own, then the value quoted, single-quoted, bare
            first = group + keys.groups
            alternatives.append(_Alternative(first, marker, check, first + 2))
            alternatives.append(_Alternative(first + 1, marker, check))
            group += inner
            continue
        alternatives.append(_Alternative(group, marker, check))
        group += 1 + inner
    text = "|".join(f"(?:{pattern})" for pattern, _, _, _ in parts)
    bound = MAX_PATTERNS * (MAX_PATTERN_LENGTH + 8) + 4096
    try:
        program = compile_regex(text, line, "redact", max_length=bound)
    except ConfigError as exc:  # each part compiled alone; together they outgrow RE2's memory bound
        reason = exc.problem.rsplit("cannot be used: ", 1)[-1]
        raise ConfigError(line, f"redact: the patterns and detectors together cannot be compiled: {reason} "
                          f"(use fewer or smaller patterns)") from None
    return program, tuple(alternatives)
