"""The dead-letter queue's records and files."""

from __future__ import annotations

from pathlib import Path

import orjson

from gelfingest.core.bulk import BulkEncoder, decode_item
from gelfingest.storage import deadletters as dlq
from tests.helpers import encode


def test_a_dead_letter_keeps_the_document_index_id_and_error_and_goes_back_into_an_item(tmp_path: Path) -> None:
    item = encode(BulkEncoder("logs-%Y", id_prefix="ab-"), {"message": "x", "sequence": 9}, 0)
    record = dlq.dead_letter(item, 400, {"type": "mapper_parsing_exception"}, 1_700_000_000.5)
    assert record == {"time": "2023-11-14T22:13:20.500Z", "index": "logs-1970", "op_type": "create",
                      "id": "ab-AAAAAAAAAAAJ",
                      "status": 400, "error": {"type": "mapper_parsing_exception"},
                      "document": {"message": "x", "sequence": 9}}
    assert dlq.to_item(record) == item
    assert decode_item(dlq.to_item(record, index="fixed"))[0] == {"create": {"_index": "fixed",
                                                                             "_id": "ab-AAAAAAAAAAAJ"}}


def test_appends_are_one_stream_and_a_taken_file_is_not_appended_to(tmp_path: Path) -> None:
    letters = dlq.DeadLetters(tmp_path, "worker-0")
    letters.write([{"n": 1}, {"n": 2}])
    letters.write([{"n": 3}])
    (path,) = dlq.files(tmp_path)
    assert [r["n"] for r in dlq.read(path)] == [1, 2, 3]
    taken = dlq.take(path, 1.0)
    letters.write([{"n": 4}])
    assert [r["n"] for r in dlq.read(taken)] == [1, 2, 3]
    assert [r["n"] for r in dlq.read(letters.path)] == [4]
    assert sorted(dlq.files(tmp_path)) == sorted([taken, letters.path])
    # Each line is plain JSON once decompressed.
    import zstandard
    assert orjson.loads(zstandard.ZstdDecompressor().decompressobj().decompress(letters.path.read_bytes())) == {"n": 4}
