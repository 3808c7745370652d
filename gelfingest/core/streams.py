"""A container's lines as the stream they are: put back in order, Docker's 16 KiB pieces rejoined, stack
traces joined into one event, and a runaway stream held to a rate. No I/O, no clock: time comes in as
``now``.

Each decoded event belongs to a stream (``stream_key``: the container, else the host and tag, else the
sender). When any stream feature is on, the owner of the stream (chosen over the fleet as a chunked
message's owner is) takes every event of it, and this module runs there:

1. **Reorder.** Events arrive stamped with the time and sequence they were given where they were received
   (in clock mode, the kernel's receive time); each stream holds its events ``reorder_window`` seconds and
   lets them go in that order.
2. **Rate.** ``rate_limit`` events a second per stream, with a burst of as many; the rest is dropped and
   counted.
3. **Pieces.** Docker's log copier cuts a line longer than its 16 KiB buffer into pieces of exactly
   16,384 bytes and a last, shorter one, all stamped with the first piece's time, and its gelf driver sends
   each as a message of its own, marked as nothing (moby issue 43162). A message of exactly that size
   (counted in the bytes the copier cut: a multibyte character cut at the boundary reaches us as one
   U+FFFD a byte, from Go's JSON encoder) is held and joined with the stream's next messages of the same
   time until a shorter one ends the line. The characters cut at a boundary cannot be restored: their
   replacement characters become one U+FFFD. ``\\r`` is kept as the copier kept it.
4. **Multiline.** Lines of a stack trace (Java, Python, Go, Node.js, Ruby, or a ``custom`` pair of
   patterns) are joined into one event: ``message`` the lines joined with ``\\n``, ``multiline_lines`` how
   many, the first line's ``@timestamp`` and sequence.

Everything held is bounded: in time (``reorder_window``, ``partial_timeout``, ``multiline_timeout``), in
size (``max_message_size``, ``multiline_max_lines``) and in number (``max_pending_streams``: past it the
stream idle the longest is let go, as it stands). Nothing held is ever dropped: what a bound cuts is
emitted as it stands, and counted.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from gelfingest.core.event import Event

# Docker's log copier's buffer (daemon/logger/copier.go): a longer line is cut into pieces of this size.
PIECE_SIZE: Final = 16 * 1024
_REPLACEMENT: Final = "\ufffd"

DEFAULT_REORDER_WINDOW: Final = 0.05
DEFAULT_MAX_REORDER_WINDOW: Final = 1.0
# The window is widened to the longest recent delay of a forwarded event times DELAY_MARGIN; that delay
# decays by DELAY_DECAY a tick (about a tenth of it a second at the daemon's ten ticks a second).
DELAY_MARGIN: Final = 2.0
DELAY_DECAY: Final = 0.99
DEFAULT_PARTIAL_TIMEOUT: Final = 2.0
DEFAULT_MULTILINE_TIMEOUT: Final = 1.0
DEFAULT_MULTILINE_MAX_LINES: Final = 500
DEFAULT_MAX_PENDING_STREAMS: Final = 10_000
# The rate-limited streams are named at most once a NOTE_INTERVAL, the busiest NOTE_STREAMS of them.
NOTE_INTERVAL: Final = 60.0
NOTE_STREAMS: Final = 5
_MAX_LIMITED: Final = 1_000
_OTHERS: Final = "(other streams)"

Language = Literal["java", "python", "go", "node", "ruby", "custom"]
LANGUAGES: Final = ("java", "python", "go", "node", "ruby", "custom")


class Cut:
    """Why something held was let go before it was whole (counted)."""

    PARTIAL_TIMEOUT: Final = "partial_timeout"
    PARTIAL_SIZE: Final = "partial_size"
    # A message of another time came while pieces were held: the line's last piece never came (lost, or
    # the line was longer than --max-message-size allows).
    PARTIAL_UNFINISHED: Final = "partial_unfinished"
    MULTILINE_SIZE: Final = "multiline_size"
    MULTILINE_LINES: Final = "multiline_max_lines"
    EVICTED: Final = "stream_evicted"
    SHUTDOWN: Final = "shutdown"


def stream_key(doc: dict[str, Any]) -> str:
    """The stream an event belongs to: its container, else its host and tag (or container name), else the
    address it came from. A sender writes these: the key is used only to pick an owner and a state."""
    container = doc.get("container_id")
    if type(container) is str and container:
        return "c:" + container[:128]
    host = doc.get("host")
    tag = doc.get("tag") or doc.get("container_name")
    if type(host) is str and host and type(tag) is str and tag:
        return f"h:{host[:128]}\0{tag[:128]}"
    return "s:" + str(doc.get("source_host", ""))[:64]


def piece_cut(short: str) -> bool:
    """Whether ``short`` is one of Docker's pieces: PIECE_SIZE bytes as the copier cut them. A character cut
    at the end came through Go's JSON encoder as one U+FFFD (3 bytes) for each of its 1 to 3 bytes."""
    size = len(short)
    if size > PIECE_SIZE or size < PIECE_SIZE // 4:
        return False
    encoded = len(short.encode("utf-8", "surrogatepass"))
    if encoded == PIECE_SIZE:
        return True
    replaced = len(short) - len(short.rstrip(_REPLACEMENT))
    return any(encoded - 2 * k == PIECE_SIZE for k in range(1, min(3, replaced) + 1))


def join_pieces(pieces: Sequence[str]) -> str:
    """The line the pieces were cut from; the replacement characters of a character cut at a boundary
    become one."""
    out = pieces[0]
    for piece in pieces[1:]:
        if out.endswith(_REPLACEMENT) and piece.startswith(_REPLACEMENT):
            out = out.rstrip(_REPLACEMENT) + _REPLACEMENT + piece.lstrip(_REPLACEMENT)
        else:
            out += piece
    return out


# -- multiline rules ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rule:
    """How one language writes a trace. ``start`` None: any line may start one (the trace follows the line
    that names the error); ``end``: a line that closes the trace and belongs to it (Python's last line)."""

    name: str
    start: re.Pattern[str] | None
    continues: re.Pattern[str]
    end: re.Pattern[str] | None = None


BUILT_IN: Final = {
    # "\tat com.x.Y.z(Y.java:12)", "\t... 5 more", "Caused by: ...", "\tSuppressed: ..."
    "java": Rule("java", None, re.compile(r"\s+at\s|\s+\.\.\. \d+ (?:more|common frames omitted)|Caused by: |"
                                          r"\s*Suppressed: ")),
    # "Traceback (most recent call last):", indented frames and code, then "ValueError: bad" ends it.
    "python": Rule("python", re.compile(r"Traceback \(most recent call last\):\s*$"), re.compile(r"\s"),
                   end=re.compile(r"\S")),
    # "panic: ...", "goroutine 1 [running]:", "main.main()", "\t/app/x.go:8 +0x1d", "created by ..."
    "go": Rule("go", re.compile(r"(?:panic: |fatal error: )"),
               re.compile(r"\s|goroutine \d+ \[|created by |\[signal |exit status \d+$|"
                          r"[\w./*()\[\]-]+\(.*\)$")),
    # "TypeError: ...", "    at Object.<anonymous> (/app/index.js:1:3)"
    "node": Rule("node", None, re.compile(r"\s+at\s")),
    # "app.rb:3:in `divide': divided by 0 (ZeroDivisionError)", "\tfrom app.rb:7:in `<main>'"
    "ruby": Rule("ruby", None, re.compile(r"\s+from\s|\s+\.\.\. \d+ levels\.\.\.")),
}


def rules(languages: Iterable[str], start: str = "", continues: str = "") -> list[Rule]:
    """The rules named (``custom``: the ``start`` and ``continues`` patterns, compiled once, from the
    configuration only). ValueError for an unknown name or a pattern Python's re cannot compile."""
    out = []
    for name in languages:
        if name == "custom":
            if not start or not continues:
                raise ValueError("custom needs --multiline-start and --multiline-continue")
            try:
                out.append(Rule("custom", re.compile(start), re.compile(continues)))
            except re.error as exc:
                raise ValueError(f"a --multiline-start or --multiline-continue pattern does not compile: "
                                 f"{exc}") from None
        elif name in BUILT_IN:
            out.append(BUILT_IN[name])
        else:
            raise ValueError(f"unknown multiline rule {name!r} (expected {', '.join(LANGUAGES)})")
    return out


# -- events and streams ------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Held:
    """What a stream holds of one joined event."""

    first: Event
    parts: list[str]
    size: int
    since: float  # when the last part came (multiline) or the first (pieces)
    rule: Rule | None = None
    time: Any = None  # the pieces' shared @timestamp
    # The earliest time a part was taken here (Event.taken; 0.0: every part came from another worker or
    # instance), for held_since: a part can be taken before the first (a chunked message's is its last chunk).
    earliest: float = 0.0

    def __post_init__(self) -> None:
        self.earliest = self.first.taken

    def add(self, message: str, event: Event) -> None:
        self.parts.append(message)
        taken = event.taken
        if taken and (not self.earliest or taken < self.earliest):
            self.earliest = taken


@dataclass(slots=True)
class _Stream:
    reorder: list[Event] = field(default_factory=list)  # sorted by sequence
    pieces: _Held | None = None
    lines: _Held | None = None
    tokens: float = 0.0
    refilled: float = 0.0
    # The order of the last event let go: one that comes later with a lower order came too late.
    last: tuple[float, int] = (float("-inf"), 0)

    @property
    def holding(self) -> bool:
        return bool(self.reorder) or self.pieces is not None or self.lines is not None


@dataclass(frozen=True, slots=True)
class StreamSettings:
    reorder_window: float = DEFAULT_REORDER_WINDOW
    max_reorder_window: float = DEFAULT_MAX_REORDER_WINDOW
    join_partial: bool = False
    partial_timeout: float = DEFAULT_PARTIAL_TIMEOUT
    multiline: tuple[Rule, ...] = ()
    multiline_max_lines: int = DEFAULT_MULTILINE_MAX_LINES
    multiline_timeout: float = DEFAULT_MULTILINE_TIMEOUT
    max_message_size: int = 8 * 1024 * 1024
    rate_limit: int = 0
    max_pending_streams: int = DEFAULT_MAX_PENDING_STREAMS

    @property
    def enabled(self) -> bool:
        return self.join_partial or bool(self.multiline) or self.rate_limit > 0


class Streams:
    """The streams this worker owns. ``take`` events, ``tick`` with the time; both return the events ready
    to go on (in each stream's order; joined ones whole), ``flush`` returns everything at shutdown."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        # Ordered by last activity: the stream idle the longest is first (evicted first).
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        # The streams that hold something: the only ones a tick looks at.
        self._holding: dict[str, _Stream] = {}
        any_line = [r for r in settings.multiline if r.start is None]
        # The rule of a trace that follows an ordinary line: the continuations of every any-line rule.
        self._any_line = Rule("any", None, re.compile("|".join(f"(?:{r.continues.pattern})" for r in any_line))) \
            if any_line else None
        self._explicit = [r for r in settings.multiline if r.start is not None]
        self._now = 0.0
        # The reorder window's clock (see take), and the longest delay seen lately of an event forwarded
        # here (decaying at each tick): the window is widened to it.
        self._clock = float("-inf")
        self._delay = 0.0
        self.cut: Counter[str] = Counter()
        self.joined_pieces = 0
        self.joined_lines = 0
        self.rate_limited = 0
        # Empty lines (decoded only with join_partial, to see a line end at a piece's end) that ended none.
        self.empty_lines = 0
        # Events taken and events let go (a joined event is one): what is neither was joined into another,
        # rate-limited, an empty line, or is held now.
        self.taken = 0
        self.released = 0
        # Events that reached their owner after a later one of their stream had gone on (the reorder window
        # was shorter than their delay): processed as they came.
        self.late = 0
        # How much earlier than the last event let go of its stream the latest late event was received.
        self.latest_lateness = 0.0
        # Streams that were rate-limited since the last note (key -> events dropped), bounded.
        self.limited_streams: Counter[str] = Counter()
        self._last_note = float("-inf")

    @property
    def pending_streams(self) -> int:
        return len(self._holding)

    def held_since(self) -> float | None:
        """When the earliest event the streams hold was taken (``Event.taken``), or None when they hold none:
        an HTTP answer that waits for its events waits until the streams let go of those taken before it."""
        times: list[float] = []
        for stream in self._holding.values():
            times += [event.taken for event in stream.reorder]  # in the order of their sequence
            if stream.pieces is not None:
                times.append(stream.pieces.earliest)
            if stream.lines is not None:
                times.append(stream.lines.earliest)
        # 0.0: events forwarded here by another worker or instance; no answer of ours waits for them.
        return min((t for t in times if t), default=None)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def take(self, events: Iterable[tuple[str, Event]], now: float, received_here: bool = True) -> list[Event]:
        """Events of these streams (key, event), taken at ``now``; the events ready now, in order.

        An event waits until this worker's clock is the reorder window past its receive time: whatever of
        its stream was received before it, wherever, has come by then unless it was delayed longer (counted
        as late). The window is ``reorder_window``, widened to the delays the forwarded events show (up to
        ``max_reorder_window``; it narrows again when they shrink). The clock is the newest time a datagram
        was received here (``received_here``: these events were, at ``now``) or a tick's ``now``: events
        forwarded to this worker do not move it.
        """
        out: list[Event] = []
        window = self.settings.reorder_window
        self._now = now
        if received_here and now > self._clock:
            self._clock = now
        clock = self._clock
        touched: dict[str, _Stream] = {}
        for key, event in events:
            self.taken += 1
            if not event.received:
                event.received = now
            elif not received_here and clock - event.received > self._delay:
                self._delay = clock - event.received
            stream = self._stream(key, now, out)
            touched[key] = stream
            if window <= 0:
                self._process(key, stream, event, now, out)
                continue
            held = stream.reorder
            order = event.order
            if order < stream.last:
                self.late += 1
                self.latest_lateness = stream.last[0] - order[0]
            if not held or held[-1].order < order:
                held.append(event)
            else:  # late: into its place
                at = len(held)
                while at and held[at - 1].order > order:
                    at -= 1
                held.insert(at, event)
        for key, stream in touched.items():
            if window > 0:
                self._due(key, stream, clock, out)
            self._mark(key, stream)
        self.released += len(out)
        return out

    def _mark(self, key: str, stream: _Stream) -> None:
        if stream.holding:
            self._holding[key] = stream
        else:
            self._holding.pop(key, None)

    def _stream(self, key: str, now: float, out: list[Event]) -> _Stream:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(tokens=float(self.settings.rate_limit), refilled=now)
            if len(self._streams) > self.settings.max_pending_streams:
                self._evict(now, out)
        else:
            self._streams.move_to_end(key)
        return stream

    def _evict(self, now: float, out: list[Event]) -> None:
        """Past max_pending_streams: the stream idle the longest lets go of what it holds, as it stands."""
        key, oldest = next(iter(self._streams.items()))
        del self._streams[key]
        self._holding.pop(key, None)
        if oldest.holding:
            counted = self.cut[Cut.EVICTED]
            self._release(oldest, key, now, out, Cut.EVICTED)
            if self.cut[Cut.EVICTED] == counted:  # a piece let go counts itself: one cut a stream
                self.cut[Cut.EVICTED] += 1

    def tick(self, now: float, behind: bool = False) -> list[Event]:
        """Let go of what has waited long enough: events past the reorder window, pieces and traces past
        their timeouts. The reorder clock moves to ``now`` unless the input is ``behind`` (datagrams wait
        in its socket, received before ``now``: what comes before them must wait for them)."""
        out: list[Event] = []
        s = self.settings
        self._now = now
        if now > self._clock and not behind:
            self._clock = now
        clock = self._clock
        self._delay *= DELAY_DECAY
        for key, stream in list(self._holding.items()):
            self._due(key, stream, clock, out)
            if stream.pieces is not None and now - stream.pieces.since >= s.partial_timeout:
                self._emit_pieces(stream, Cut.PARTIAL_TIMEOUT, now, out)
            if stream.lines is not None and now - stream.lines.since >= s.multiline_timeout:
                self._emit_lines(stream, out)
            if not stream.holding:
                del self._holding[key]
        self.released += len(out)
        return out

    @property
    def reorder_window(self) -> float:
        """The window now: the configured one, widened to the delays seen lately (up to the maximum)."""
        s = self.settings
        return max(s.reorder_window, min(s.max_reorder_window, self._delay * DELAY_MARGIN))

    def _due(self, key: str, stream: _Stream, now: float, out: list[Event]) -> None:
        """The events that have waited the reorder window, up to the last of them: an earlier one that came
        later goes with it, as its sequence says."""
        held = stream.reorder
        if not held:
            return
        due = now - self.reorder_window
        ready = len(held)
        while ready and held[ready - 1].received > due:
            ready -= 1
        if ready:
            stream.reorder = held[ready:]
            stream.last = max(stream.last, held[ready - 1].order)
            for event in held[:ready]:
                self._process(key, stream, event, now, out)

    def rate_note(self, now: float) -> str | None:
        """A line naming the streams held to --stream-rate-limit since the last one: at most one a minute."""
        if not self.limited_streams or now - self._last_note < NOTE_INTERVAL:
            return None
        limited = self.limited_streams
        busiest = ", ".join(f"{key!r}: {n}" for key, n in limited.most_common(NOTE_STREAMS))
        more = f" and {len(limited) - NOTE_STREAMS} more" if len(limited) > NOTE_STREAMS else ""
        self.limited_streams = Counter()
        self._last_note = now
        return (f"{sum(limited.values())} events dropped by --stream-rate-limit "
                f"({self.settings.rate_limit}/s a stream) from {len(limited)} streams: {busiest}{more}")

    def flush(self) -> list[Event]:
        """Everything held, as it stands (at shutdown)."""
        out: list[Event] = []
        for key, stream in list(self._streams.items()):
            if stream.holding:
                self._release(stream, key, self._now, out, Cut.SHUTDOWN)
        self._streams.clear()
        self._holding.clear()
        self.released += len(out)
        return out

    def _release(self, stream: _Stream, key: str, now: float, out: list[Event], why: str) -> None:
        for event in stream.reorder:
            self._process(key, stream, event, now, out)
        stream.reorder = []
        if stream.pieces is not None:
            self._emit_pieces(stream, why, now, out)
        if stream.lines is not None:
            self._emit_lines(stream, out)

    # -- one event, in order ---------------------------------------------------------------------------

    def _process(self, key: str, stream: _Stream, event: Event, now: float, out: list[Event]) -> None:
        s = self.settings
        if s.rate_limit:
            stream.tokens = min(float(s.rate_limit), stream.tokens + max(0.0, now - stream.refilled) * s.rate_limit)
            stream.refilled = now
            if stream.tokens < 1.0:
                self.rate_limited += 1
                limited = self.limited_streams
                limited[key if key in limited or len(limited) < _MAX_LIMITED else _OTHERS] += 1
                return
            stream.tokens -= 1.0
        if s.join_partial:
            line = self._piece(stream, event, now, out)
            if line is None:
                return
            event = line
        if s.multiline:
            self._line(stream, event, now, out)
        else:
            out.append(event)

    def _piece(self, stream: _Stream, event: Event, now: float, out: list[Event]) -> Event | None:
        """Docker's pieces: None while a line is being put together, else the event to go on (a whole line,
        or a message that was never cut)."""
        message = event.doc.get("message")
        if type(message) is not str:
            return event
        held = stream.pieces
        if held is not None and event.doc.get("@timestamp") != held.time:
            self._emit_pieces(stream, Cut.PARTIAL_UNFINISHED, now, out)
            held = None
        if not message:
            # A line that ends exactly at a piece's end: the copier sends its last piece empty.
            if held is None:
                self.empty_lines += 1  # an empty line: nothing to index (short_message is required)
                return None
            stream.pieces = None
            if len(held.parts) == 1:
                return held.first
            self.joined_pieces += 1
            return self._joined(held, join_pieces(held.parts))
        is_piece = piece_cut(message)
        if held is None:
            if not is_piece:
                return event
            stream.pieces = _Held(event, [message], len(message), now, time=event.doc.get("@timestamp"))
            return None
        if held.size + len(message) > self.settings.max_message_size:
            self._emit_pieces(stream, Cut.PARTIAL_SIZE, now, out)
            if is_piece:
                stream.pieces = _Held(event, [message], len(message), now, time=event.doc.get("@timestamp"))
                return None
            return event
        held.add(message, event)
        held.size += len(message)
        if is_piece:
            return None
        stream.pieces = None
        self.joined_pieces += 1
        return self._joined(held, join_pieces(held.parts))

    def _emit_pieces(self, stream: _Stream, why: str, now: float, out: list[Event]) -> None:
        held = stream.pieces
        stream.pieces = None
        if held is None:
            return
        self.cut[why] += 1
        event = self._joined(held, join_pieces(held.parts)) if len(held.parts) > 1 else held.first
        if self.settings.multiline:
            self._line(stream, event, now, out)
        else:
            out.append(event)

    @staticmethod
    def _joined(held: _Held, message: str) -> Event:
        first = held.first
        doc = dict(first.doc)
        doc["message"] = message
        return Event(doc, first.seconds, first.sequence, first.received, held.earliest)

    def _line(self, stream: _Stream, event: Event, now: float, out: list[Event]) -> None:
        """One whole line into the multiline rules."""
        message = event.doc.get("message")
        if type(message) is not str:
            self._emit_lines(stream, out)
            out.append(event)
            return
        held = stream.lines
        if held is not None:
            rule = held.rule
            if rule is not None and (rule.continues.match(message) is not None
                                     or (rule.end is not None and rule.end.match(message) is not None)):
                s = self.settings
                if len(held.parts) >= s.multiline_max_lines or held.size + len(message) + 1 > s.max_message_size:
                    self.cut[Cut.MULTILINE_LINES if len(held.parts) >= s.multiline_max_lines
                             else Cut.MULTILINE_SIZE] += 1
                    self._emit_lines(stream, out)
                    out.append(event)  # the rest of a cut trace goes as lines of its own
                    return
                held.add(message, event)
                held.size += len(message) + 1
                held.since = now
                if rule.end is not None and rule.continues.match(message) is None:
                    self._emit_lines(stream, out)  # Python's exception line ends its traceback
                return
            self._emit_lines(stream, out)
        for rule in self._explicit:
            if rule.start is not None and rule.start.match(message) is not None:
                stream.lines = _Held(event, [message], len(message), now, rule)
                return
        any_line = self._any_line
        if any_line is not None and any_line.continues.match(message) is None:
            # Any line may be followed by a trace: held until the next line says.
            stream.lines = _Held(event, [message], len(message), now, any_line)
            return
        out.append(event)  # a continuation with no start before it: an event of its own

    def _emit_lines(self, stream: _Stream, out: list[Event]) -> None:
        held = stream.lines
        stream.lines = None
        if held is None:
            return
        if len(held.parts) == 1:
            out.append(held.first)
            return
        self.joined_lines += 1
        event = self._joined(held, "\n".join(held.parts))
        event.doc["multiline_lines"] = len(held.parts)
        out.append(event)
