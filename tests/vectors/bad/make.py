"""Writes the corpus of known-bad input under tests/vectors/bad/ (deterministic: run it again, same bytes).

Each case is a ``.dgrams`` file (datagrams or frames, each prefixed by its length as 4 big-endian bytes,
the format of the captured vectors) and a line in ``manifest.json``: how it must come out of the pure
core (rejected with a reason, or kept with what was dropped or replaced) and which transports can carry
it. ``tests/core/test_bad_corpus.py`` checks every case; ``python tests/vectors/bad/make.py`` rewrites them.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAX_UDP = 65_507


def gelf(short: str = "hello", **fields: Any) -> bytes:
    return json.dumps({"version": "1.1", "host": "bad-corpus", "short_message": short, **fields}).encode()


def chunk(message_id: bytes, seq: int, count: int, data: bytes) -> bytes:
    return b"\x1e\x0f" + message_id + bytes([seq, count]) + data


def zeros_bomb(kind: str, size: int) -> bytes:
    """``size`` zero bytes compressed at level 9, streamed so the zeros never sit in memory at once."""
    block = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 31) if kind == "gzip" else zlib.compressobj(9)
    out = [c.compress(block) for _ in range(size // len(block))]
    out.append(c.compress(bytes(size % len(block))))
    out.append(c.flush())
    return b"".join(out)


def udp_sized_bomb(kind: str) -> bytes:
    """The largest zeros bomb that still fits in one UDP datagram."""
    size = 64 << 20
    while len(bomb := zeros_bomb(kind, size)) < MAX_UDP - 2048:
        size *= 2
    while len(bomb) > MAX_UDP:
        size = size * 9 // 10
        bomb = zeros_bomb(kind, size)
    return bomb


def nested(depth: int) -> Any:
    """A value ``depth`` levels deep: with the message around it, one more."""
    value: Any = 1
    for _ in range(depth):
        value = {"d": value}
    return value


def cases() -> dict[str, tuple[list[bytes], dict[str, Any]]]:
    rejected = lambda reason, *transports: {"outcome": "rejected", "reason": reason,  # noqa: E731
                                            "transports": list(transports or ("udp", "tcp", "http"))}
    # Each chunked case has a message id of its own: sent one after another, they must not meet.
    all_three = ["udp", "tcp", "http"]
    big_line = "x" * (MAX_UDP - len(gelf("")))
    return {
        "empty": ([b""], rejected("empty", "udp")),
        "one_byte": ([b"{"], rejected("invalid_json")),
        "one_byte_chunk_magic": ([b"\x1e"], rejected("invalid_json", "udp")),
        "chunk_shorter_than_12": ([b"\x1e\x0f" + b"12345"], rejected("chunk_too_short", "udp")),
        "chunk_count_zero": ([chunk(b"BADCOUN0", 0, 0, b"x")], rejected("chunk_count_invalid", "udp")),
        "chunk_count_129": ([chunk(b"BADCOUN1", 0, 129, b"x")], rejected("chunk_count_invalid", "udp")),
        "chunk_sequence_not_below_count": ([chunk(b"BADSEQNO", 2, 2, b"x")], rejected("chunk_sequence_invalid", "udp")),
        "chunk_counts_disagree": ([chunk(b"BADDISAG", 0, 2, b"ab"), chunk(b"BADDISAG", 1, 3, b"cd")],
                                  rejected("chunk_count_mismatch", "udp")),
        "chunk_inside_chunk": ([chunk(b"BADOUTER", 0, 1, chunk(b"BADINNER", 0, 1, gelf("inner")))],
                               rejected("chunk_nested", "udp")),
        "gzip_bomb_one_datagram": ([udp_sized_bomb("gzip")], rejected("decompressed_too_large")),
        "zlib_bomb_one_datagram": ([udp_sized_bomb("zlib")], rejected("decompressed_too_large")),
        "gzip_bomb_1gib": ([zeros_bomb("gzip", 1 << 30)], rejected("decompressed_too_large", "tcp", "http")),
        "zlib_bomb_1gib": ([zeros_bomb("zlib", 1 << 30)], rejected("decompressed_too_large", "tcp", "http")),
        "zlib_truncated": ([zlib.compress(gelf("cut short"))[:-6]], rejected("compressed_truncated")),
        "gzip_truncated": ([gzip.compress(gelf("cut short"), 1, mtime=0)[:-9]], rejected("compressed_truncated")),
        "json_null": ([b"null"], rejected("not_an_object")),
        "json_array": ([b'[{"short_message": "in an array"}]'], rejected("not_an_object")),
        "json_number": ([b"12201"], rejected("not_an_object")),
        "json_string": ([b'"short_message"'], rejected("not_an_object")),
        "missing_short_message": ([json.dumps({"version": "1.1", "host": "h"}).encode()],
                                  rejected("missing_short_message")),
        "empty_short_message": ([gelf("")], rejected("missing_short_message")),
        "short_message_not_a_string": ([json.dumps({"host": "h", "short_message": 42}).encode()],
                                       rejected("missing_short_message")),
        "trailing_data": ([gelf("then garbage") + b" {garbage"], rejected("trailing_data")),
        # 10,000 brackets are few enough to parse first (fields.PARSE_FIRST_BRACKETS): orjson stops at its
        # 1,024 levels. Past that, brackets are counted before parsing: never built, too many fields.
        "deep_nesting_10000": ([b'{"short_message": "deep", "_x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"],
                               rejected("json_too_deep")),
        "deep_nesting_70000": ([zlib.compress(b'{"short_message": "deep", "_x": ' + b"[" * 70_000 + b"]" * 70_000
                                              + b"}", 9)], rejected("too_many_fields")),
        # 1 KiB of zlib, 3 MiB of "{}," once inflated: a million objects with no keys, refused unparsed.
        "empty_objects_bomb": ([zlib.compress(b'{"short_message": "x", "_a": [' + b"{}," * 1_000_000 + b"{}]}", 9)],
                               rejected("too_many_fields")),
        "deep_nesting_21": ([gelf("deep", _x=nested(20))], rejected("json_too_deep")),
        "too_many_fields": ([gelf("wide", **{f"_f{i}": i for i in range(1000)})], rejected("too_many_fields")),
        "too_many_nested_fields": ([gelf("wide inside", _x={f"k{i}": i for i in range(1000)})],
                                   rejected("too_many_fields")),
        "field_name_too_long": ([gelf("long name", **{"_" + "n" * 257: 1})], rejected("field_name_too_long")),
        "nested_field_name_too_long": ([gelf("long name inside", _x={"n" * 257: 1})],
                                       rejected("field_name_too_long")),
        "invalid_utf8": ([b'{"short_message": "bad \xff\xfe bytes"}'], rejected("invalid_utf8")),
        "not_json_at_all": ([b"<14>Nov 24 00:00:00 host app: a syslog line on the GELF port"],
                            rejected("invalid_json")),
        # Kept, with the damage repaired or counted, never a crash:
        "timestamp_as_a_string": ([gelf("string time", timestamp="yesterday")],
                                  {"outcome": "kept", "timestamp": "receive time", "transports": all_three}),
        "timestamp_negative": ([gelf("negative time", timestamp=-5)],
                               {"outcome": "kept", "timestamp": "receive time", "transports": all_three}),
        "trailing_nuls": ([gelf("nul padded") + b"\0\0\0\0"], rejected("trailing_data", "udp", "http")),
        "docker_label_with_slash": ([gelf("label", **{"_app.kubernetes.io/name": "web", "_ok": 1})],
                                    {"outcome": "kept", "dropped_fields": {"field_name_invalid": 1},
                                     "transports": all_three}),
        "largest_udp_datagram": ([gelf(big_line)], {"outcome": "kept", "transports": all_three}),
        # Names that would steer Elasticsearch's metadata or overwrite our fields: dropped, never used.
        "metadata_and_our_field_names": (
            [gelf("metadata", **{"_id": "mine", "__id": "x", "__index": "other", "__source": {}, "_sequence": 1,
                                 "_@timestamp": "2000", "_message": "forged", "_source_host": "forged",
                                 "_timestamp": 0})],
            {"outcome": "kept", "dropped_fields": {"field_reserved": 7, "field_name_invalid": 1},
             "changed_fields": {"id_renamed": 1},
             "has": {"id": "mine", "message": "metadata"}, "lacks": ["_id", "_index", "_source", "index"],
             "transports": all_three}),
        # host.name would need host, our keyword, to be an object: renamed host_name.
        "dotted_name_under_our_field": (
            [gelf("dotted", **{"_host.name": "web", "_level.name": "info"})],
            {"outcome": "kept", "has": {"host_name": "web", "level_name": "info", "host": "bad-corpus"},
             "lacks": ["host.name"], "transports": all_three}),
        # Docker's compose labels: project is a value and project.working_dir would make it an object.
        "compose_labels_clash": (
            [gelf("labels", **{"_com.docker.compose.project": "demo",
                               "_com.docker.compose.project.working_dir": "/srv/demo",
                               "_com.docker.compose.service": "web"})],
            {"outcome": "kept", "dropped_fields": {"field_name_clash": 1},
             "has": {"com.docker.compose.project": "demo", "com.docker.compose.service": "web"},
             "lacks": ["com.docker.compose.project.working_dir"], "transports": all_three}),
        # What Vector's and Graylog's decoder tests expect (issue 16):
        # a trailing comma is not JSON (it used to be counted as trailing_data).
        "trailing_comma": ([b'{"version": "1.1", "host": "bad-corpus", "short_message": "comma",}'],
                           rejected("invalid_json")),
        # A top-level field GELF does not name: dropped as before, now counted.
        "top_level_field_unknown": ([gelf("unknown", app="shop")],
                                    {"outcome": "kept", "dropped_fields": {"field_unknown": 1}, "lacks": ["app"],
                                     "transports": all_three}),
        # host as a number or a boolean becomes its string; blank or not a scalar is dropped.
        "host_a_number": ([gelf("numeric host", host=42)],
                          {"outcome": "kept", "changed_fields": {"host_to_string": 1}, "has": {"host": "42"},
                           "transports": all_three}),
        "host_a_boolean": ([gelf("boolean host", host=True)],
                           {"outcome": "kept", "changed_fields": {"host_to_string": 1}, "has": {"host": "true"},
                            "transports": all_three}),
        "host_blank": ([gelf("blank host", host="   ")],
                       {"outcome": "kept", "dropped_fields": {"host_blank": 1}, "lacks": ["host"],
                        "transports": all_three}),
        "host_an_object": ([gelf("object host", host={"name": "web"})],
                           {"outcome": "kept", "dropped_fields": {"host_invalid": 1}, "lacks": ["host"],
                            "transports": all_three}),
        # An additional field named like a GELF field takes the name; GELF's own moves to gelf_<name>.
        "version_additional": ([gelf("app version", _version="2.3.1")],
                               {"outcome": "kept", "changed_fields": {"gelf_field_renamed": 1},
                                "has": {"version": "2.3.1", "gelf_version": "1.1"}, "transports": all_three}),
        "file_and_line_both": ([gelf("file and line", file="/app/shop.py", line=12, _file="upload.csv", _line="L3")],
                               {"outcome": "kept", "changed_fields": {"gelf_field_renamed": 2},
                                "has": {"file": "upload.csv", "gelf_file": "/app/shop.py", "line": "L3",
                                        "gelf_line": 12}, "transports": all_three}),
        "id_additional": ([gelf("with id", _id="order-17")],
                          {"outcome": "kept", "changed_fields": {"id_renamed": 1}, "has": {"id": "order-17"},
                           "lacks": ["_id"], "transports": all_three}),
        # Graylog's bulk form: objects one a line in one payload, each taken (and refused) on its own.
        "three_objects_one_a_line": ([b"\n".join(gelf(f"object {k}", _k=k) for k in range(3))],
                                     {"outcome": "kept", "documents": 3, "transports": all_three}),
        "three_objects_one_bad": ([b"\n".join([gelf("object 0"), b'{"host": "bad-corpus", "short_message": 42}',
                                                gelf("object 2")])],
                                  {"outcome": "kept", "documents": 2, "rejected_objects": ["missing_short_message"],
                                   "transports": all_three}),
        # One object over several lines is never taken apart over UDP and TCP: a broken one is refused
        # whole. (An HTTP body is always one message a line: its four lines are refused one by one.)
        "pretty_printed_trailing_comma": ([b'{\n  "version": "1.1",\n  "short_message": "pretty",\n}'],
                                          rejected("invalid_json", "udp", "tcp")),
    }


def write(path: Path, datagrams: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack(">I", len(d)) + d for d in datagrams))


def main() -> None:
    manifest = {}
    for name, (datagrams, expected) in cases().items():
        # GELF TCP ends a frame at a NUL byte: a payload holding one (compressed data) cannot be a frame.
        if any(b"\0" in d for d in datagrams) and "tcp" in expected["transports"]:
            expected["transports"].remove("tcp")
        write(HERE / f"{name}.dgrams", datagrams)
        manifest[name] = expected
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
