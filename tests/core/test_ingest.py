"""The joined pure path: which index an event goes to when its own time is far from the receive time."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.ingest import Ingest, IngestSettings
from tests.helpers import datagram, gelf

NOW = 1_763_900_000.0  # 2025-11-23T12:13:20Z


def index_of(ingest: Ingest, timestamp: float) -> tuple[str, str]:
    batch = datagram(ingest, gelf("x", timestamp=timestamp), "h", NOW)
    assert batch is not None
    action, doc = (orjson.loads(line) for line in batch.items[0].split(b"\n")[:2])
    return action["index"]["_index"], doc["@timestamp"]


@pytest.mark.parametrize(
    ("timestamp", "index", "stamp"),
    [
        (NOW - 6 * 86400, "logstash-2025.11.17", "2025-11-17T12:13:20.000Z"),  # within 7 days: its own day
        (NOW + 3600, "logstash-2025.11.23", "2025-11-23T13:13:20.000Z"),
        (NOW - 8 * 86400, "logstash-2025.11.23", "2025-11-15T12:13:20.000Z"),  # older: today's index
        (NOW + 2 * 86400, "logstash-2025.11.23", "2025-11-25T12:13:20.000Z"),  # too far ahead
        (253402300799.0, "logstash-2025.11.23", "9999-12-31T23:59:59.000Z"),
        (1.0, "logstash-2025.11.23", "1970-01-01T00:00:01.000Z"),
    ],
)
def test_a_sender_cannot_make_an_index_for_every_day_of_the_calendar(timestamp: float, index: str,
                                                                      stamp: str) -> None:
    ingest = Ingest(IngestSettings(batch_max_docs=1, document_id_prefix=None))
    assert index_of(ingest, timestamp) == (index, stamp)
    assert ingest.index_time_replaced == (index == "logstash-2025.11.23" and not stamp.startswith("2025-11-23"))


def test_the_window_is_a_setting() -> None:
    ingest = Ingest(IngestSettings(batch_max_docs=1, index_max_age=30 * 86400, index_max_ahead=0))
    assert index_of(ingest, NOW - 20 * 86400)[0] == "logstash-2025.11.03"
    assert index_of(ingest, NOW + 60)[0] == "logstash-2025.11.23"
    assert ingest.index_time_replaced == 1


def test_a_burst_gives_what_its_datagrams_give_one_by_one() -> None:
    """The burst path (UDP reads, TCP reads) and the one-datagram path: the same items, the same rejections
    with their senders, in the same order."""
    burst = [gelf("a"), b"", gelf("b", level="x"), b"{not json", gelf("c", _id="spoof"), b"\x1f\x8bjunk", gelf("d")]
    sources = [f"10.0.0.{k}" for k in range(len(burst))]
    settings = IngestSettings(batch_max_docs=2, document_id_prefix="p-")
    one, many = Ingest(settings), Ingest(settings)
    items_one, rejected_one = [], []
    for data, source in zip(burst, sources, strict=True):
        try:
            if (batch := datagram(one, data, source, NOW)) is not None:
                items_one += batch.items
        except GelfError as err:
            rejected_one.append((type(err), str(err), source))
    ready, rejected = many.take_many(burst, sources, NOW)
    assert [i for b in ready for i in b.items] == items_one and len(items_one) == 4
    assert [(type(e), str(e), s) for e, s in rejected] == rejected_one
    assert [s for _, s in rejected] == ["10.0.0.1", "10.0.0.3", "10.0.0.5"]
    assert many.decoded == one.decoded == 4 and many.decoder.dropped_fields == one.decoder.dropped_fields


def test_a_bug_met_by_one_message_rejects_that_message_and_not_its_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    ingest = Ingest()
    real = ingest.decoder.decode

    def decode(payload: bytes, source: str, now: float) -> Any:
        if b"boom" in payload:
            raise KeyError("boom")
        return real(payload, source, now)

    monkeypatch.setattr(ingest.decoder, "decode", decode)
    _, rejected = ingest.take_many([gelf("a"), gelf("boom"), gelf("c")], ["h1", "h2", "h3"], NOW)
    assert [(e.reason, s) for e, s in rejected] == [(Reason.INTERNAL_ERROR, "h2")]
    assert "KeyError" in rejected[0][0].detail and ingest.decoded == 2


def test_a_burst_with_each_datagram_s_own_time_is_sequenced_as_one_by_one() -> None:
    """Clock mode hands a burst with the kernel's receive time of each datagram: the events get the
    sequences (and the chunked message completes) as if each datagram had been taken alone at its time."""
    from gelfingest.core.sequence import Sequencer
    from tests.helpers import chunk, compress

    base = 1_763_900_000.0
    big = compress(gelf("big " + "x" * 5000, timestamp=base), "gzip", 0)
    datagrams = [gelf(f"line {k}", timestamp=base) for k in range(5)] + chunk(big) + [gelf("after", timestamp=base)]
    stamps = [base + k * 1e-5 for k in range(len(datagrams))]

    def fresh() -> Ingest:
        return Ingest(IngestSettings(batch_max_docs=1000), Sequencer(1, 2, mode="clock", now=base))

    from gelfingest.core.bulk import decode_item

    def sequences(batches: list[Any]) -> list[tuple[str, int]]:
        return [(doc["message"][:6], doc["sequence"]) for b in batches for doc in
                (decode_item(item)[1] for item in b.items)]

    alone = fresh()
    one_by_one = []
    for data, at in zip(datagrams, stamps, strict=True):
        one_by_one += alone.take_many([data], ["h"], at)[0]
    one_by_one.append(alone.flush())
    together = fresh()
    burst = together.take_many(datagrams, ["h"] * len(datagrams), stamps[-1] + 0.01, stamps=stamps)[0]
    burst.append(together.flush())
    got = sequences([b for b in burst if b is not None])
    assert got == sequences([b for b in one_by_one if b is not None])
    assert len(got) == 7 and got[5][0] == "big xx" and len({s for _, s in got}) == 7
