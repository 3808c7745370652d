"""Capture GELF datagrams from real clients into test vectors (run by hand; the results are committed).

    .venv/bin/python tests/vectors/capture.py [NAME ...]

With names, only those vectors are captured again and the manifest keeps the others.

Each vector is ``NAME.dgrams``: the datagrams one client sent for one message, in the order they arrived,
each as a 4-byte big-endian length and the bytes. ``manifest.json`` says which client sent it, how, and
what the message said, as the sender was told to say it (not as our decoder reads it).
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GO_SENDER = HERE.parent / "interop" / "bin" / "gogelf_send"


def _receive(sock: socket.socket, quiet: float = 0.5) -> list[bytes]:
    got = []
    sock.settimeout(quiet)
    while True:
        try:
            got.append(sock.recv(65535))
        except TimeoutError:
            return got


ONLY: set[str] = set(sys.argv[1:])


def capture(name: str, send, manifest: dict, **facts) -> None:  # type: ignore[no-untyped-def]
    if ONLY and name not in ONLY:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        send(sock.getsockname()[1])
        datagrams = _receive(sock)
    (HERE / f"{name}.dgrams").write_bytes(b"".join(struct.pack(">I", len(d)) + d for d in datagrams))
    manifest[name] = {**facts, "datagrams": len(datagrams), "sizes": sorted({len(d) for d in datagrams})}
    print(f"{name}: {len(datagrams)} datagrams, sizes {manifest[name]['sizes'][:6]}")


# Pads the go-gelf message so its gzip output needs exactly 128 chunks.
MAX_CHUNKS_SIZE = 239500


def noise(n: int) -> str:
    rng = random.Random(n)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))


def go(port: int, *args: str) -> None:
    subprocess.run([str(GO_SENDER), "-addr", f"127.0.0.1:{port}", *args], check=True)


def py_logger(handler: logging.Handler, text: str, **extra: object) -> None:
    log = logging.getLogger(f"capture-{id(handler)}")
    log.propagate = False
    log.handlers = [handler]
    log.setLevel(logging.DEBUG)
    log.warning(text, extra=extra)
    handler.close()
    time.sleep(0.05)


def main() -> int:
    import graypy
    import pygelf

    manifest: dict[str, dict] = json.loads((HERE / "manifest.json").read_text()) if ONLY else {}
    docker = {"client": "go-gelf 1550ee6 (Docker's gelf driver library)", "host": "docker-host",
              "level": 6, "version": "1.1", "container_name": "web-1", "image_name": "nginx:1.25"}
    for compress, level in [("gzip", "1"), ("zlib", "1"), ("zlib", "6"), ("zlib", "9"), ("none", "0"),
                            ("gzip", "9")]:
        capture(f"gogelf_{compress}_l{level}", lambda p, c=compress, lv=level: go(
            p, "-compress", c, "-level", lv, "-prefix", f"gogelf {c} {lv}"), manifest,
            **docker, message=f"gogelf {compress} {level} 0", compress=compress)
    capture("gogelf_gzip_chunked_8", lambda p: go(p, "-compress", "gzip", "-size", "14000", "-random",
                                                   "-prefix", "gogelf chunked"), manifest, **docker,
            message_prefix="gogelf chunked 0 ", message_length=14000, compress="gzip")
    # The size whose gzip output needs exactly 128 chunks (go-gelf's maximum) was found by trying.
    capture("gogelf_gzip_chunked_128", lambda p: go(p, "-compress", "gzip", "-size", str(MAX_CHUNKS_SIZE),
                                                     "-random", "-prefix", "gogelf max"), manifest, **docker,
            message_prefix="gogelf max 0 ", message_length=MAX_CHUNKS_SIZE, compress="gzip")
    capture("gogelf_none_header_only_last", lambda p: go(p, "-compress", "none", "-exact", "3",
                                                          "-prefix", "gogelf exact"), manifest, **docker,
            message_prefix="gogelf exact 0", compress="none", json_length=3 * 1408)
    capture("gogelf_zlib_stderr", lambda p: go(p, "-compress", "zlib", "-stderr", "-prefix", "gogelf err"),
            manifest, **{**docker, "level": 3}, message="gogelf err 0", compress="zlib")

    graypy_facts = {"client": "graypy 2.1.0", "version": "1.0", "level": 4}
    capture("graypy_zlib", lambda p: py_logger(graypy.GELFUDPHandler("127.0.0.1", p), "graypy small",
                                               user="alice"), manifest, **graypy_facts,
            message="graypy small", user="alice", compress="zlib")
    capture("graypy_zlib_chunked", lambda p: py_logger(
        graypy.GELFUDPHandler("127.0.0.1", p), "graypy big " + noise(20000)), manifest,
        **graypy_facts, message_prefix="graypy big ", message_length=20011, compress="zlib")
    # graypy's own file and line (GELF 1.1, deprecated but sent on every record), and extra fields that take
    # the names of GELF's version, file and line (graypy sends no _id: it leaves an extra "id" out).
    capture("graypy_zlib_clashes", lambda p: py_logger(
        graypy.GELFUDPHandler("127.0.0.1", p), "graypy clashes", version="2.3.1", file="upload.csv", line=7),
        manifest, **{**graypy_facts, "version": "2.3.1"}, message="graypy clashes", gelf_version="1.0",
        file="upload.csv", line=7, gelf_file_suffix="capture.py", compress="zlib")
    pygelf_facts = {"client": "pygelf 0.4.3", "version": "1.1", "level": 4}
    capture("pygelf_zlib", lambda p: py_logger(pygelf.GelfUdpHandler("127.0.0.1", p, include_extra_fields=True),
                                               "pygelf small", request_id="r-1"), manifest, **pygelf_facts,
            message="pygelf small", request_id="r-1", compress="zlib")
    capture("pygelf_zlib_chunked", lambda p: py_logger(
        pygelf.GelfUdpHandler("127.0.0.1", p), "pygelf big " + noise(20000)), manifest,
        **pygelf_facts, message_prefix="pygelf big ", message_length=20011, compress="zlib")
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
