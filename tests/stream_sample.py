"""What containers write: ordinary lines, stack traces (Java, Python, Go) and single lines of 40 KB and 100 KB,
interleaved, and the events a reader expects from it (each trace one event, each long line one event).

``program_output`` gives the bytes a container writes to stdout and the events that must come out of them,
in order; every event carries its stream and its number (``[s3 #17]``), so a test can find each one and
check it arrived whole and in place.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

PIECE = 16 * 1024


@dataclass(frozen=True)
class Output:
    stream: str
    data: bytes  # what the program wrote, lines ended by "\n"
    events: list[str]  # the events it meant, in order
    traces: int
    long_lines: int


def _java(tag: str, rng: random.Random) -> list[str]:
    frames = [f"\tat com.shop.Service{k}.handle(Service{k}.java:{rng.randint(10, 400)})"
              for k in range(rng.randint(3, 40))]
    return [f"{tag} Exception in thread \"main\" java.lang.IllegalStateException: order closed", *frames,
            "Caused by: java.io.IOException: disk full", "\tat com.shop.Store.write(Store.java:88)",
            "\t... 12 more"]


def _python(tag: str, rng: random.Random) -> list[str]:
    lines = ["Traceback (most recent call last):"]  # Python's first line is fixed: the tag goes in the last
    for k in range(rng.randint(1, 8)):
        lines += [f'  File "/app/mod{k}.py", line {rng.randint(1, 300)}, in f{k}', f"    f{k + 1}()"]
    return [*lines, f"ValueError: {tag} bad order"]


def _go(tag: str, rng: random.Random) -> list[str]:
    """Go's panic, with the empty line Go writes after the panic line (sent by Docker as an empty message,
    which is no event: the joined trace has no empty line)."""
    lines = [f"panic: {tag} runtime error: index out of range [5] with length 3", "", "goroutine 1 [running]:"]
    for k in range(rng.randint(1, 6)):
        lines += [f"main.f{k}(...)", f"\t/app/main.go:{rng.randint(5, 90)} +0x1d"]
    return lines


def _long(tag: str, size: int, rng: random.Random) -> str:
    """A JSON log line of about ``size`` bytes, ASCII (a multibyte character cut at a piece's end cannot be
    restored, so it is tested on its own)."""
    body = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))
    return json.dumps({"level": "info", "msg": tag, "payload": body})[:size]


def program_output(stream: str, events: int, seed: int) -> Output:
    rng = random.Random(seed)
    out: list[str] = []
    expected: list[str] = []
    traces = longs = 0
    for k in range(events):
        tag = f"[{stream} #{k}]"
        kind = rng.random()
        if kind < 0.06:
            lines = (_java, _python, _go)[k % 3](tag, rng)
            out += lines
            expected.append("\n".join(line for line in lines if line))
            traces += 1
        elif kind < 0.09:
            line = _long(tag, 40_000 if k % 2 else 100_000, rng)
            out.append(line)
            expected.append(line)
            longs += 1
        else:
            line = f"{tag} GET /api/orders/{rng.randint(1, 10**6)} 200 {rng.randint(1, 900)}ms"
            out.append(line)
            expected.append(line)
    return Output(stream, ("\n".join(out) + "\n").encode(), expected, traces, longs)


def copier_pieces(data: bytes) -> list[tuple[bytes, int]]:
    """``data`` as moby's log copier cuts it (daemon/logger/copier.go): (piece, line number) for each message
    the gelf driver sends. A line longer than the copier's 16 KiB buffer goes as pieces of exactly 16,384
    bytes and a last, shorter one (empty when the line ends at a piece's end); every piece of a line carries
    the line's number, because Docker stamps them all with the first piece's time."""
    out: list[tuple[bytes, int]] = []
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last "\n": sent only when not empty
    for number, line in enumerate(lines):
        while len(line) >= PIECE:
            out.append((line[:PIECE], number))
            line = line[PIECE:]
        out.append((line, number))
    if tail:
        out.append((tail, len(lines)))
    return out
