"""Container streams in the pure core: order restored, Docker's pieces rejoined, traces joined, rates
held, everything bounded and nothing lost."""

from __future__ import annotations

import json
import re
import tracemalloc
from typing import Any

import pytest

from gelfingest.core.bulk import decode_item, id_sequence
from gelfingest.core.event import Event
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.core.streams import (
    PIECE_SIZE,
    Cut,
    Streams,
    StreamSettings,
    join_pieces,
    piece_cut,
    rules,
    stream_key,
)
from tests.helpers import gelf

JAVA = [
    'Exception in thread "main" java.lang.IllegalStateException: order 17 is closed',
    '\tat com.shop.Orders.close(Orders.java:41)',
    '\tat com.shop.Main.main(Main.java:12)',
    'Caused by: java.io.IOException: disk full',
    '\tat com.shop.Store.write(Store.java:88)',
    '\t... 1 more',
    '\tSuppressed: java.lang.RuntimeException: cleanup',
    '\t\tat com.shop.Store.close(Store.java:90)',
]
PYTHON = [
    'Traceback (most recent call last):',
    '  File "/app/main.py", line 12, in <module>',
    '    main()',
    '  File "/app/main.py", line 8, in main',
    '    raise ValueError("bad order")',
    'ValueError: bad order',
]
GO = [
    'panic: runtime error: index out of range [5] with length 3',
    'goroutine 1 [running]:',
    'main.lookup(...)',
    '\t/app/main.go:8',
    'main.main()',
    '\t/app/main.go:12 +0x1d',
    'exit status 2',
]
NODE = [
    "TypeError: Cannot read properties of undefined (reading 'id')",
    '    at Object.<anonymous> (/app/index.js:3:17)',
    '    at Module._compile (node:internal/modules/cjs/loader:1256:14)',
]
RUBY = [
    "app.rb:3:in `divide': divided by 0 (ZeroDivisionError)",
    "\tfrom app.rb:3:in `/'",
    "\tfrom app.rb:7:in `<main>'",
]


def streams(**settings: Any) -> Streams:
    if "multiline" in settings:
        settings["multiline"] = tuple(rules(settings["multiline"]))
    return Streams(StreamSettings(**{"reorder_window": 0.0, **settings}))


def events(lines: list[str], first: int = 0, ts: str = "t", key: str = "c:1") -> list[tuple[str, Event]]:
    return [(key, Event({"message": line, "@timestamp": ts}, 0, first + k)) for k, line in enumerate(lines)]


def messages(out: list[Event]) -> list[str]:
    return [e.doc["message"] for e in out]


# -- the stream key ------------------------------------------------------------------------------------------

def test_the_stream_is_the_container_else_the_host_and_tag_else_the_sender() -> None:
    assert stream_key({"container_id": "abc", "host": "h"}) == "c:abc"
    assert stream_key({"host": "h", "tag": "web"}) == "h:h\0web"
    assert stream_key({"host": "h", "container_name": "web"}) == "h:h\0web"
    assert stream_key({"host": "h", "source_host": "10.0.0.1"}) == "s:10.0.0.1"
    assert len(stream_key({"container_id": "x" * 10_000})) < 200  # bounded, whatever a sender writes


# -- order ---------------------------------------------------------------------------------------------------

def test_a_stream_s_events_go_in_receive_order_after_the_reorder_window() -> None:
    s = Streams(StreamSettings(reorder_window=0.05, rate_limit=1000))
    b, c = Event({"message": "b"}, 0, 2, received=1.0), Event({"message": "c"}, 0, 3, received=1.0)
    assert s.take([("c:1", b), ("c:1", c)], 1.0) == []
    # Received before them elsewhere, and forwarded: it reaches the owner later, inside the window.
    assert s.take([("c:1", Event({"message": "a"}, 0, 1, received=0.995))], 1.02) == []
    out = s.tick(1.06)
    assert [e.sequence for e in out] == [1, 2, 3] and s.late == 0
    assert s.tick(2.0) == [] and s.pending_streams == 0
    # One delayed longer than the window goes on as it comes, counted.
    assert messages(s.take([("c:1", Event({"message": "old"}, 0, 0, received=0.9))], 2.1)) == ["old"]
    assert s.late == 1 and round(s.latest_lateness, 3) == 0.1


def test_a_chunked_message_goes_by_its_first_chunk_s_time_not_its_later_sequence() -> None:
    s = Streams(StreamSettings(reorder_window=0.05))
    # The chunked message completed (and got its sequence) after the line sent after it was received.
    line = Event({"message": "after"}, 0, 10, received=1.002)
    chunked = Event({"message": "first"}, 0, 11, received=1.001)
    assert s.take([("c:1", line), ("c:1", chunked)], 1.003) == []
    assert messages(s.tick(1.1)) == ["first", "after"]


# -- Docker's pieces -----------------------------------------------------------------------------------------

def cut(line: bytes) -> list[str]:
    """``line`` as Docker's copier cuts it and go-gelf's JSON encoder carries it (invalid UTF-8 bytes become
    U+FFFD, one each)."""
    pieces = [line[i:i + PIECE_SIZE] for i in range(0, len(line), PIECE_SIZE)]
    return [json.loads(json.dumps(p.decode("utf-8", "replace"))) for p in pieces]


def test_a_line_cut_into_pieces_is_whole_again_with_the_first_piece_s_time_and_sequence() -> None:
    line = ("x" * 40_000).encode()
    s = streams(join_partial=True)
    out = s.take(events(cut(line), first=7, ts="t0") + events(["next line"], first=10, ts="t1"), 1.0)
    assert messages(out) == [line.decode(), "next line"] and out[0].sequence == 7
    assert out[0].doc["@timestamp"] == "t0" and s.joined_pieces == 1


def test_a_multibyte_character_cut_at_a_boundary_becomes_one_replacement_character() -> None:
    line = ("a" * (PIECE_SIZE - 1) + "é" + "b" * 100).encode()  # é's two bytes fall on both sides
    pieces = cut(line)
    assert piece_cut(pieces[0]) and pieces[0].endswith("\ufffd") and pieces[1].startswith("\ufffd")
    (whole,) = streams(join_partial=True).take(events(pieces, ts="t"), 1.0)
    assert whole.doc["message"] == "a" * (PIECE_SIZE - 1) + "\ufffd" + "b" * 100
    assert join_pieces(["x\ufffd", "\ufffd\ufffdy"]) == "x\ufffdy"


def test_carriage_returns_are_kept_as_the_copier_kept_them() -> None:
    line = ("y" * 20_000 + "\r").encode()
    (whole,) = streams(join_partial=True).take(events(cut(line)), 1.0)
    assert whole.doc["message"].endswith("y\r") and len(whole.doc["message"]) == 20_001


def test_only_exact_pieces_are_held() -> None:
    assert piece_cut("x" * PIECE_SIZE) and not piece_cut("x" * (PIECE_SIZE - 1))
    assert not piece_cut("x" * (PIECE_SIZE + 1)) and not piece_cut("é" * (PIECE_SIZE // 2 + 1))
    assert piece_cut("é" * (PIECE_SIZE // 2))  # 16,384 bytes of two-byte characters


def test_a_piece_whose_rest_never_comes_goes_alone_after_the_timeout_counted() -> None:
    s = streams(join_partial=True, partial_timeout=2.0)
    assert s.take(events(["x" * PIECE_SIZE]), 1.0) == []
    assert s.tick(2.9) == []
    assert messages(s.tick(3.0)) == ["x" * PIECE_SIZE] and s.cut == {Cut.PARTIAL_TIMEOUT: 1}


def test_a_line_that_ends_exactly_at_a_piece_s_end_is_ended_by_the_copier_s_empty_piece() -> None:
    s = streams(join_partial=True)
    line = "x" * (2 * PIECE_SIZE)  # the copier sends two pieces and then an empty one, all of one time
    out = s.take(events([line[:PIECE_SIZE], line[PIECE_SIZE:], "", "next"], ts="t0"), 1.0)
    assert messages(out) == [line, "next"] and s.joined_pieces == 1 and not s.cut
    out = s.take(events(["", "x" * PIECE_SIZE, ""], first=10, ts="t1"), 2.0)
    assert messages(out) == ["x" * PIECE_SIZE] and s.empty_lines == 1  # an empty line alone is not indexed


def test_a_line_whose_last_piece_never_came_is_let_go_by_the_next_line_s_time() -> None:
    s = streams(join_partial=True)
    out = s.take(events(["x" * PIECE_SIZE], ts="t0") + events(["a short line"], first=1, ts="t1"), 1.0)
    assert messages(out) == ["x" * PIECE_SIZE, "a short line"] and s.cut == {Cut.PARTIAL_UNFINISHED: 1}


def test_a_joined_line_is_bounded_by_the_message_size() -> None:
    s = streams(join_partial=True, max_message_size=3 * PIECE_SIZE)
    out = s.take(events(["x" * PIECE_SIZE] * 5 + ["end"]), 1.0) + s.tick(10.0)
    sizes = [len(m) for m in messages(out)]
    assert sum(sizes) == 5 * PIECE_SIZE + 3 and max(sizes) <= 3 * PIECE_SIZE
    assert s.cut[Cut.PARTIAL_SIZE] == 1


# -- multiline -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("language", "trace"), [("java", JAVA), ("python", PYTHON), ("go", GO), ("node", NODE),
                                                 ("ruby", RUBY)])
def test_each_language_s_trace_is_one_event_and_ordinary_lines_stay_alone(language: str, trace: list[str]) -> None:
    s = streams(multiline=["java", "python", "go", "node", "ruby"])
    lines = ["starting", *trace, "next request", "done"]
    out = s.take(events(lines), 1.0) + s.tick(5.0)
    assert messages(out) == ["starting", "\n".join(trace), "next request", "done"]
    assert out[1].doc["multiline_lines"] == len(trace) and out[1].sequence == 1
    assert "multiline_lines" not in out[0].doc


def test_a_continuation_with_no_start_before_it_is_an_event_of_its_own() -> None:
    s = streams(multiline=["java"])
    out = s.take(events(["\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)"]), 1.0) + s.tick(5.0)
    assert messages(out) == ["\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)"]


def test_a_custom_rule_from_the_configuration() -> None:
    s = Streams(StreamSettings(reorder_window=0, multiline=tuple(rules(["custom"], r"ERROR ", r"\| "))))
    out = s.take(events(["ERROR boom", "| detail 1", "| detail 2", "INFO ok"]), 1.0) + s.tick(5.0)
    assert messages(out) == ["ERROR boom\n| detail 1\n| detail 2", "INFO ok"]
    with pytest.raises(ValueError, match="does not compile"):
        rules(["custom"], "(", "x")
    with pytest.raises(ValueError, match="needs --multiline-start"):
        rules(["custom"])


def test_a_trace_is_bounded_in_lines_and_waits_only_its_timeout() -> None:
    s = streams(multiline=["java"], multiline_max_lines=3, multiline_timeout=1.0)
    out = s.take(events(["boom", "\tat 1", "\tat 2", "\tat 3", "\tat 4"]), 1.0)
    # The rest of a cut trace goes on as lines of their own: nothing is dropped.
    assert messages(out) == ["boom\n\tat 1\n\tat 2", "\tat 3", "\tat 4"] and s.cut == {Cut.MULTILINE_LINES: 1}
    out = s.take(events(["boom again", "\tat 1"], first=10), 2.0)
    assert out == [] and s.tick(2.9) == [] and messages(s.tick(3.0)) == ["boom again\n\tat 1"]


# -- rate and bounds -----------------------------------------------------------------------------------------

def test_a_runaway_stream_is_held_to_its_rate_and_others_are_not() -> None:
    s = streams(rate_limit=10)
    out = s.take(events([f"noisy {k}" for k in range(100)]) + events(["quiet"], key="c:2"), 1.0)
    assert len(out) == 11 and s.rate_limited == 90 and s.limited_streams == {"c:1": 90}
    assert len(s.take(events(["later"] * 20, first=200), 2.0)) == 10  # ten more tokens a second


def test_past_max_pending_streams_the_idlest_lets_go_as_it_stands() -> None:
    s = streams(multiline=["java"], max_pending_streams=100)
    out = []
    for k in range(1_000):  # 1,000 streams, each holding a line that might start a trace
        out += s.take(events([f"line of stream {k}"], key=f"c:{k}"), 1.0 + k / 1000)
    assert s.streams <= 100 and len(out) == 900 and s.cut[Cut.EVICTED] == 900
    assert len(s.flush()) == 100 and s.streams == 0  # nothing lost
    s = streams(join_partial=True, multiline=["java"], max_pending_streams=100)
    out = []
    for k in range(1_000):  # each holding a piece of a long line: one cut a stream, counted once
        out += s.take(events(["x" * PIECE_SIZE], key=f"c:{k}"), 1.0 + k / 1000)
    assert len(out) == 900 and s.cut[Cut.EVICTED] == 900 and len(s.flush()) == 100


def test_hostile_streams_stay_bounded_and_good_ones_are_not_delayed() -> None:
    s = streams(join_partial=True, multiline=["java", "python"], max_pending_streams=1_000)
    tracemalloc.start()
    try:
        out: list[Event] = []
        for k in range(100_000):  # distinct keys, each a piece that never ends
            out += s.take(events(["x" * PIECE_SIZE if k % 1000 == 0 else "Traceback (most recent call last):"],
                                 key=f"c:{k}", ts=str(k)), 1.0)
        for k in range(1_000):  # a stream of start lines forever, and a flood of continuations
            out += s.take(events(["Traceback (most recent call last):"], key="c:starts", first=k), 1.5)
            out += s.take(events(["\tat x.Y.z(Y.java:1)"], key="c:flood", first=k), 1.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.streams <= 1_000 and peak < 80 * 1024 * 1024
    good = s.take(events(["a good line"], key="c:good"), 2.0)  # lets the idlest stream go
    assert "a good line" not in messages(good)
    assert "a good line" in messages(s.tick(3.0))  # held only until its timeout (multiline, 1 s)
    assert len(out) + len(s.flush()) >= 100_000  # all of it came out: nothing dropped


# -- through the core ----------------------------------------------------------------------------------------

def test_through_ingest_a_trace_is_one_document_in_its_place_and_ecs_flags_it() -> None:
    for schema in ("logstash", "ecs"):
        ingest = Ingest(IngestSettings(multiline=("java",), schema=schema,  # type: ignore[arg-type]
                                       document_id_prefix="p-", stream_reorder_window=0.0))
        payloads = [gelf(line, _container_id="abc", timestamp=1_763_900_000.0 + k / 1000)
                    for k, line in enumerate(["before", *JAVA, "after"])]
        ready, _ = ingest.take_many(payloads, ["h"] * len(payloads), 1_763_900_000.0)
        ready += ingest.tick(1_763_900_010.0)
        docs = [decode_item(item) for b in ready for item in b.items]
        texts = [doc["message"] for _, doc in docs]
        assert texts == ["before", "\n".join(JAVA), "after"]
        trace = docs[1][1]
        # The owner stamps the stored sequence as the stream goes: in its order, one per document.
        ids = [id_sequence(action["create"]["_id"], "p-") for action, _ in docs]
        assert ids == sorted(ids) and len(set(ids)) == 3
        if schema == "ecs":
            assert trace["log"]["flags"] == ["multiline"] and trace["gelf"]["multiline_lines"] == len(JAVA)
            assert trace["event"]["sequence"] == ids[1]
        else:
            assert trace["multiline_lines"] == len(JAVA) and trace["sequence"] == ids[1]


def test_with_every_stream_feature_off_nothing_is_held() -> None:
    ingest = Ingest(IngestSettings(batch_max_docs=1))
    assert ingest.streams is None
    ready, _ = ingest.take_many([gelf("x" * PIECE_SIZE)], ["h"], 1.0)
    assert len(ready) == 1 and re.search(rb'"message":"x{16384}"', ready[0].items[0])


def test_rate_limited_streams_are_named_once_a_minute_and_the_tally_is_bounded() -> None:
    s = streams(rate_limit=1)
    for k in range(2_000):
        s.take(events(["a", "b"], key=f"c:{k}"), 1.0)
    note = s.rate_note(1.0)
    assert note is not None and note.startswith("2000 events dropped by --stream-rate-limit (1/s a stream)")
    assert "from 1001 streams" in note and "996 more" in note  # 1,000 named, the rest as one
    s.take(events(["a", "b"], key="c:x"), 1.0)
    assert s.rate_note(30.0) is None and s.rate_note(61.0) is not None and s.rate_note(200.0) is None


def test_every_event_taken_is_let_go_joined_limited_or_held() -> None:
    s = Streams(StreamSettings(reorder_window=0.05, join_partial=True, multiline=tuple(rules(["java"])),
                               rate_limit=50))
    out = s.take(events(["boom", *JAVA[1:3], "x" * PIECE_SIZE, "end", "", *["noise"] * 100]), 1.0)
    out += s.tick(1.1) + s.flush()
    joined = sum(e.doc.get("multiline_lines", 1) for e in out) - len(out) + s.joined_pieces
    assert s.taken == 106 and s.released == len(out)
    assert s.taken == s.released + joined + s.rate_limited + s.empty_lines
