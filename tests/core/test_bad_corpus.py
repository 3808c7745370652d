"""The corpus of known-bad input (tests/vectors/bad/, written by its make.py) through the pure core: every
case comes out as its manifest says, with nothing but the one rejection family, in bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import orjson
import pytest

from gelfingest.core.ingest import Ingest, IngestSettings
from tests.helpers import VECTORS, read_vector

BAD = VECTORS / "bad"
MANIFEST: dict[str, dict[str, Any]] = json.loads((BAD / "manifest.json").read_text())
NOW = 1_763_900_000.0
# Decompression is capped at 8 MiB by default; allow for the decoder's working buffers, nothing more.
MEMORY_BOUND = 32 * 1024 * 1024


def test_the_corpus_has_every_case_its_generator_names() -> None:
    files = {p.name.removesuffix(".dgrams") for p in BAD.glob("*.dgrams")}
    assert files == set(MANIFEST)
    assert len(MANIFEST) >= 30


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_bad_input_comes_out_as_its_manifest_says(name: str) -> None:
    expected = MANIFEST[name]
    ingest = Ingest(IngestSettings(batch_max_docs=1))
    reasons: list[str] = []
    docs: list[dict[str, Any]] = []
    tracemalloc.start()
    try:
        for data in read_vector(f"bad/{name}"):
            ready, rejected = ingest.take_many([data], ["203.0.113.9"], NOW)
            reasons += [err.reason for err, _ in rejected]
            for batch in ready:
                docs.extend(orjson.loads(item.split(b"\n")[1]) for item in batch.items)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"{name} took {peak >> 20} MiB"
    if expected["outcome"] == "rejected":
        assert reasons and reasons[-1] == expected["reason"] and not docs
    else:
        assert reasons == expected.get("rejected_objects", []) and len(docs) == expected.get("documents", 1)
        assert [doc["sequence"] for doc in docs] == list(range(1, len(docs) + 1))
        assert dict(ingest.changed_fields) == expected.get("changed_fields", {})
        if expected.get("timestamp") == "receive time":
            assert docs[0]["@timestamp"] == "2025-11-23T12:13:20.000Z"
        assert dict(ingest.decoder.dropped_fields) == expected.get("dropped_fields", {})
        for field, value in expected.get("has", {}).items():
            assert docs[0][field] == value
        for field in expected.get("lacks", []):
            assert field not in docs[0]
