"""Datagrams captured from Docker's go-gelf, graypy and pygelf, through the whole pure path."""

import random

import orjson
import pytest

from gelfingest.core.ingest import Ingest, IngestSettings
from tests.helpers import datagram, manifest, read_vector

VECTORS = manifest()


def run(datagrams: list[bytes]) -> list[dict]:
    ingest = Ingest(IngestSettings(batch_max_docs=1))
    docs = []
    for d in datagrams:
        batch = datagram(ingest, d, "172.17.0.1", 1_763_900_000.0)
        if batch is not None:
            docs.extend(orjson.loads(item.split(b"\n")[1]) for item in batch.items)
    tail = ingest.flush()
    if tail is not None:
        docs.extend(orjson.loads(item.split(b"\n")[1]) for item in tail.items)
    return docs


def check(doc: dict, facts: dict) -> None:
    if "message" in facts:
        assert doc["message"] == facts["message"]
    else:
        assert doc["message"].startswith(facts["message_prefix"])
        assert len(doc["message"]) >= facts.get("message_length", 0) - 1
    for key in ("level", "version", "host", "container_name", "image_name", "user", "request_id", "gelf_version",
                "file", "line"):
        if key in facts:
            assert doc[key] == facts[key], key
    if facts["client"].startswith("graypy"):
        # graypy sends GELF's file and line on every record (they were dropped before issue 16); kept as
        # gelf_file and gelf_line when its extra fields took the names.
        source_file = doc["gelf_file"] if "gelf_file" in doc else doc["file"]
        source_line = doc["gelf_line"] if "gelf_line" in doc else doc["line"]
        assert source_file.endswith(facts.get("gelf_file_suffix", "capture.py")) and type(source_line) is int
    assert doc["source_host"] == "172.17.0.1"
    assert doc["sequence"] == 1
    assert doc["@timestamp"].endswith("Z")


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_in_order(name: str) -> None:
    datagrams = read_vector(name)
    assert len(datagrams) == VECTORS[name]["datagrams"]
    (doc,) = run(datagrams)
    check(doc, VECTORS[name])


@pytest.mark.parametrize("name", [n for n in sorted(VECTORS) if VECTORS[n]["datagrams"] > 1])
def test_chunked_vector_shuffled_with_duplicates(name: str) -> None:
    datagrams = read_vector(name)
    rng = random.Random(name)
    stream = datagrams + rng.sample(datagrams, len(datagrams) // 3)
    rng.shuffle(stream)
    docs = run(stream)
    assert len(docs) >= 1
    check(docs[0], VECTORS[name])


def test_docker_extras_are_all_there() -> None:
    (doc,) = run(read_vector("gogelf_gzip_l1"))
    assert {"container_id", "container_name", "image_id", "image_name", "command", "tag", "created"} <= doc.keys()


def test_header_only_last_chunk_vector_really_has_one() -> None:
    assert len(read_vector("gogelf_none_header_only_last")[-1]) == 12


def test_max_chunk_vector_has_128_chunks() -> None:
    datagrams = read_vector("gogelf_gzip_chunked_128")
    assert {d[11] for d in datagrams} == {128}
