"""Coverage-guided fuzzing of the pure core with atheris (libFuzzer): any exception but GelfError is a crash.

    .venv/bin/python benchmarks/fuzz.py --seconds 600 [--corpus DIR]

(``make fuzz``; atheris is the ``fuzz`` extra.) Seeded from the vectors under tests/vectors/ (the real
clients' ``.dgrams`` and the bad corpus) and from tests/vectors/fuzz/; inputs that reach new code go to
--corpus (a temporary directory when not given, so a later run can start where this one stopped). A
crash is written to tests/vectors/fuzz/crash-<sha1>.bin, one per distinct exception and place, its
traceback printed, and fuzzing goes on; what libFuzzer itself stops on (a hang, running out of memory)
is copied there too and the fuzzer restarted for the time left. At the end: seconds run, executions,
execs/s, coverage, corpus size, and each crash with a shortened reproducer.

One input drives one target, chosen by its first byte (the files in tests/vectors/fuzz/ are such inputs;
tests/unit/test_properties.py replays them through ``run_input``):

  0  datagrams: byte 1 picks the settings (``settings_for``); the rest is datagrams separated by SEPARATOR
     (bytes UTF-8 never holds, so that what the mutator inserts into one datagram stays in it), each into
     Ingest.take_many, Ingest.tick after each, Ingest.flush at the end;
  1  logspout JSON lines: byte 1 the settings; the rest split at newlines, each line into Ingest.json_lines;
  2  a TCP stream: byte 1 the settings, byte 2 the framing, frame cap and piece size; the rest fed to a
     Deframer in pieces, which must give what feeding it whole gives and never hold more than the cap;
     each frame into Ingest.take_many;
  3  a bulk answer: byte 1 the item count, byte 2 how the body arrives (parsed JSON, text, bytes);
     BulkResponse.classify must place every item exactly once;
  4  one GELF message: byte 1 the settings, byte 2 how it travels (``deliver``: plain, zlib or gzip; whole or
     in chunks of some size; in order, reversed, duplicated, one lost, interleaved with a copy); the rest is
     the message as sent, so the mutator works on JSON while the harness compresses and chunks it.

Every batch that comes out is checked: split_items gives its items back from its body, each item is an
action line naming only our index (and our _id) and a document with a string @timestamp, a non-empty
string message, an int sequence that grows from one event to the next, and no key starting with "_".
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import hashlib
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import types
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from gelfingest.core.batch import Batch
from gelfingest.core.bulk import BulkResponse
from gelfingest.core.decompress import decompress
from gelfingest.core.errors import GelfError, Reason
from gelfingest.core.framing import DEFAULT_MAX_FRAME, Deframer, Framing
from gelfingest.core.ingest import Ingest, IngestSettings
from gelfingest.storage.spool import split_items

ROOT: Final = Path(__file__).resolve().parent.parent
VECTORS: Final = ROOT / "tests" / "vectors"
CRASHES: Final = VECTORS / "fuzz"
CORE: Final = str(ROOT / "gelfingest") + "/"

DATAGRAMS, JSON_LINES, TCP_STREAM, BULK_ANSWER, GELF_MESSAGE = range(5)
TARGETS: Final = 5
# Between the datagrams of one input: C0 and C1 never occur in UTF-8.
SEPARATOR: Final = b"\xc0\xc1\xc0\xc1"
# Chunk data sizes for GELF_MESSAGE (0: whole); the number of chunks is kept within GELF's 128.
CHUNK_SIZES: Final = (0, 1, 7, 40, 300, 1400, 8192, 0)
SOURCE: Final = "198.51.100.7"
NOW: Final = 1_763_900_000.0  # 2025-11-23T12:13:20Z; an input's records stay within the day
RECEIVE_INDEX: Final = "logstash-2025.11.23"
ID_PREFIX: Final = "fz-"
# Seconds between two records: one burst, a few per chunk timeout, and past it.
STEPS: Final = (0.0, 0.25, 2.0, 7.0)
FRAMINGS: Final[tuple[Framing, ...]] = ("nul", "newline", "auto", "nul")
MAX_FRAMES: Final = (16, 300, 4096, DEFAULT_MAX_FRAME)
# Limits small enough that the fuzzer reaches every bound (depth, fields, names, pending chunks, sizes).
SMALL: Final[dict[str, Any]] = {
    "max_message_size": 4096, "max_json_depth": 4, "max_fields": 12, "max_field_name_length": 12, "chunk_timeout": 1.0,
    "max_pending_chunked": 3, "max_pending_chunk_bytes": 2048, "batch_max_bytes": 700,
}
# libFuzzer's own findings, by the prefix of the file it writes: kept as regression inputs.
ARTIFACTS: Final = ("crash", "timeout", "oom", "leak")
# Tokens the mutator splices in: GELF's and logspout's fields, magic bytes, a bulk answer's keys.
TOKENS: Final = (
    b"\x1e\x0f", b"\x1f\x8b\x08", b"x\x9c", b"x\x01", b"x\xda", b'"short_message":"', b'"timestamp":', b'"level":',
    b'"full_message":', b'"host":', b'"version":"1.1"', b'"_id":', b'"_index":', b'"_a.b":', b'"_host.name":',
    b'"message":', b'"docker":{"name":"/x","labels":{}}', b'"stream":"stderr"', b'"time":', b'"@timestamp":',
    b'"tags":[]', b'"errors":true', b'"items":[', b'{"create":{"status":', b'{"index":{"status":', b'"error":',
    b"253402300799.9996", b"1e300", b"-0.0", b"NaN", b'"\\ud800"', b"\x00", b"\n", b"99999999999999999999",
    b'"9999-12-31T23:59:59.9999Z"', b"\xc2\xb2", b"\\u0000", SEPARATOR,
)


class InvariantError(AssertionError):
    """What came out of the core breaks a property every output must have."""


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise InvariantError(what)


def settings_for(selector: int) -> tuple[IngestSettings, float, bool]:
    """(settings, seconds between records, whether datagrams come as forwarded) from one byte."""
    extra = SMALL if selector & 4 else {}
    settings = IngestSettings(
        document_id_prefix=ID_PREFIX if selector & 1 else None,
        sequence_mode="clock" if selector & 2 else "counter",
        batch_max_docs=1 if selector & 8 else 3,
        **extra,
    )
    return settings, STEPS[(selector >> 4) & 3], bool(selector & 64)


def records(data: bytes) -> list[bytes]:
    """The records of a .dgrams file (4-byte big-endian length, bytes)."""
    out, pos = [], 0
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def chunks(payload: bytes, size: int, message_id: bytes) -> list[bytes]:
    """``payload`` as GELF chunks of ``size`` data bytes (more if 128 would not hold it), as go-gelf cuts."""
    size = max(size, -(-len(payload) // 128))
    parts = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    return [b"\x1e\x0f" + message_id + bytes((i, len(parts))) + part for i, part in enumerate(parts)]


def deliver(shape: int, message: bytes) -> list[bytes]:
    """The datagrams one message arrives as: compression (bits 0-1), chunk size (2-4), delivery (5-7)."""
    kind = shape & 3
    payload = zlib.compress(message, 6) if kind == 1 else gzip.compress(message, 6, mtime=0) if kind == 2 \
        else message
    size = CHUNK_SIZES[(shape >> 2) & 7]
    if not size:
        return [payload, payload] if shape >> 5 == 4 else [payload]
    message_id = hashlib.sha1(message).digest()[:8]
    parts = chunks(payload, size, message_id)
    order = shape >> 5
    if order == 1:
        parts.reverse()
    elif order == 2:
        parts.append(parts[0])
    elif order == 3 and len(parts) > 1:
        parts.pop()
    elif order == 4:
        parts = [p for part in parts for p in (part, part)]
    elif order == 5:
        other = chunks(payload, size, message_id[::-1])
        parts = [p for pair in zip(parts, other, strict=True) for p in pair]
    elif order == 6:
        parts = parts[1:] + parts[:1]
    return parts


class Outputs:
    """Checks every batch out of one Ingest."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self.last_sequence = -1
        self.documents = 0

    def check(self, batch: Batch | None) -> None:
        if batch is None:
            return
        _check(split_items(batch.body(), len(batch)) == batch.items, "split_items(body) differs from the items")
        for item in batch.items:
            lines = item.split(b"\n")
            _check(len(lines) == 3 and lines[2] == b"", "an item is not two lines")
            action, doc = orjson.loads(lines[0]), orjson.loads(lines[1])
            _check(type(doc) is dict, "the document is not an object")
            stamp, message, sequence = doc.get("@timestamp"), doc.get("message"), doc.get("sequence")
            _check(type(stamp) is str and len(stamp) == 24, "@timestamp is not an ISO 8601 string")
            _check(type(message) is str and message != "", "message is not a non-empty string")
            _check(type(sequence) is int and sequence > self.last_sequence, "sequence is not a growing int")
            _check(not any(key.startswith("_") for key in doc), "a document key starts with _")
            # The event's day, or the day it was received when its own time is implausible.
            index = next(iter(action.values()))["_index"] if type(action) is dict and action else None
            _check(index in ("logstash-" + stamp[:10].replace("-", "."), RECEIVE_INDEX), "the index is not ours")
            if self.prefix is None:
                _check(action == {"index": {"_index": index}}, "the action line is not ours")
            else:
                _check(action == {"create": {"_index": index, "_id": f"{self.prefix}{sequence}"}},
                       "the action line is not ours")
            self.last_sequence = sequence
            self.documents += 1


def _take(ingest: Ingest, out: Outputs, data: bytes, now: float, forwarded: bool, json_line: bool) -> None:
    if json_line:
        ready, rejected = ingest.json_lines([data], [SOURCE], now)
    else:
        ready, rejected = ingest.take_many([data], [SOURCE], now, forwarded)
    for err, _ in rejected:
        _check(isinstance(err.reason, str) and err.reason != "", "a GelfError without a reason")
        _check(err.reason != Reason.INTERNAL_ERROR, f"a bug in the core: {err.detail}")
    for batch in ready:
        out.check(batch)


def _ingest_all(selector: int, messages: Iterator[bytes], json_line: bool = False) -> None:
    settings, step, forwarded = settings_for(selector)
    ingest = Ingest(settings)
    out = Outputs(settings.document_id_prefix)
    now = NOW
    for message in messages:
        _take(ingest, out, message, now, forwarded, json_line)
        now += step
        out.check(ingest.tick(now))
    out.check(ingest.flush())
    _check(out.documents == ingest.decoded, "decoded events went missing from the batches")


def _pieces(stream: bytes, size: int) -> Iterator[bytes]:
    """The stream in pieces of varying sizes around ``size``."""
    pos, turn = 0, 0
    while pos < len(stream):
        n = (size, 1, 2 * size + 1, 3)[turn % 4]
        yield stream[pos : pos + n]
        pos += n
        turn += 1


def _tcp(selector: int, shape: int, stream: bytes) -> None:
    framing, max_frame = FRAMINGS[shape & 3], MAX_FRAMES[(shape >> 2) & 3]
    whole = Deframer(framing, max_frame)
    expected = whole.feed(stream)
    expected_rest = whole.close()
    split = Deframer(framing, max_frame)
    frames: list[bytes] = []
    for piece in _pieces(stream, 1 + (shape >> 4) * 5):
        frames += split.feed(piece)
        _check(split.buffered <= max_frame, "the deframer holds more than its cap")
    _check(frames == expected and split.oversize == whole.oversize, "frames differ when the stream is split")
    rest = split.close()
    _check(rest == expected_rest, "the end of the stream differs when it is split")
    _ingest_all(selector, iter(frames if rest is None else [*frames, rest]))


def _bulk(n_items: int, how: int, data: bytes) -> None:
    body: Any
    if how % 3 == 0:
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = data.decode("utf-8", "replace")
    else:
        body = data.decode("utf-8", "replace") if how % 3 == 1 else data
    result = BulkResponse.classify(body, n_items)
    positions = [*result.retry, *(f.position for f in result.failed)]
    _check(len(set(positions)) == len(positions) and all(0 <= p < n_items for p in positions),
           "an item position is out of range or given twice")
    _check(result.ok + result.duplicates + len(positions) == n_items, "items are not all accounted for")


def run_input(data: bytes) -> None:
    """One fuzz input through its target. GelfError is handled here: anything raised is a finding."""
    if len(data) < 2:
        return
    target, selector = data[0] % TARGETS, data[1]
    if target == DATAGRAMS:
        _ingest_all(selector, iter(data[2:].split(SEPARATOR)))
    elif target == JSON_LINES:
        _ingest_all(selector, iter(data[2:].split(b"\n")), json_line=True)
    elif target == TCP_STREAM:
        _tcp(selector, data[2] if len(data) > 2 else 0, data[3:])
    elif target == BULK_ANSWER:
        _bulk(selector % 64, data[2] if len(data) > 2 else 0, data[3:])
    else:
        _ingest_all(selector, iter(deliver(data[2] if len(data) > 2 else 0, data[3:])))


def signature(exc: BaseException) -> str:
    """Where a crash happened: the exception's type and the innermost frame in the core (else anywhere)."""
    frames = traceback.extract_tb(exc.__traceback__)
    core = [f for f in frames if f.filename.startswith(CORE)]
    where = (core or frames)[-1]
    what = f": {exc}" if isinstance(exc, InvariantError) else ""
    return f"{type(exc).__name__}{what} at {Path(where.filename).name}:{where.lineno} in {where.name}"


# ---------------------------------------------------------------------------------------------------------
# The fuzzing process (--worker): atheris calls one_input until libFuzzer's time is up, then exits the
# process without returning, which is why the run is driven and summed up by a parent process.


class CrashLog:
    """Writes the first input of each distinct crash, with its traceback in a JSON-lines report."""

    def __init__(self, directory: Path, report: Path) -> None:
        self.directory = directory
        self.report = report
        self.seen = {json.loads(line)["signature"] for line in report.read_text().splitlines()} \
            if report.exists() else set()

    def record(self, data: bytes, exc: Exception) -> None:
        sig = signature(exc)
        if sig in self.seen:
            return
        self.seen.add(sig)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"crash-{hashlib.sha1(data).hexdigest()}.bin"
        path.write_bytes(data)
        trace = "".join(traceback.format_exception(exc))
        with self.report.open("a") as f:
            f.write(json.dumps({"file": str(path), "signature": sig, "traceback": trace}) + "\n")
        sys.stderr.write(f"\n==== CRASH {sig}\n     written to {path}\n{trace}\n")
        sys.stderr.flush()


def _instrument(atheris: Any) -> None:
    """Coverage for the core's functions (and this harness's), not for the standard library's."""
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith(("gelfingest", "__main__")):
            atheris.instrument_func(obj)


def worker(report: Path, directory: Path, memory_mb: int, libfuzzer_args: list[str]) -> None:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    crashes = CrashLog(directory, report)
    # The process's peak RSS only grows: the first input that takes it past the bound is the finding.
    memory_kb = [memory_mb * 1024]

    def one_input(data: bytes) -> None:
        try:
            run_input(data)
            if 0 < memory_kb[0] < resource.getrusage(resource.RUSAGE_SELF).ru_maxrss:
                memory_kb[0] = 0
                raise InvariantError(f"the process's peak memory passed {memory_mb} MiB")
        except Exception as exc:  # the finding itself: GelfError never gets here
            crashes.record(data, exc)

    _instrument(atheris)
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


# ---------------------------------------------------------------------------------------------------------
# The driving process.


def seeds(max_len: int, crashes: Path = CRASHES) -> Iterator[bytes]:
    """Starting inputs for every target: the vectors (their first records when a file is longer than
    ``max_len``), their messages cut into small chunks (shuffled, duplicated), small bombs, bulk answers."""
    payloads: list[bytes] = []
    for path in sorted(VECTORS.rglob("*.dgrams")):
        parts = list(records(path.read_bytes()))
        for record in parts:
            with contextlib.suppress(GelfError):
                payloads.append(decompress(record))
        while parts and len(SEPARATOR.join(parts)) > max_len - 2:
            parts.pop()
        if not parts:
            continue
        for selector in (0, 1 | 8, 2 | 4 | 16, 32 | 64):
            yield bytes((DATAGRAMS, selector)) + SEPARATOR.join(parts)
    small = sorted({p for p in payloads if len(p) < 2048})[:40]
    gelf = [b'{"version":"1.1","host":"h","short_message":"m","timestamp":1763900000.123,"level":6,"_a":1,'
            b'"_b.c":"x","_id":"i","_host.name":"n","_d":{"e":[1,2.5,null,true]}}', *small[:12]]
    for n, message in enumerate(gelf):
        for shape in (0, 1, 2, 3 << 2 | 1, 4 << 2 | 2 | 5 << 5, n % 8 << 5 | n % 6 << 2 | n % 3):
            yield bytes((GELF_MESSAGE, n * 37 % 256, shape)) + message
    bomb = b'{"short_message":"' + b"a" * 100_000 + b'"}'
    for selector in (0, 4):
        yield bytes((DATAGRAMS, selector)) + SEPARATOR.join([zlib.compress(bomb, 9), gzip.compress(bomb, 9)])
        yield bytes((GELF_MESSAGE, selector, 1)) + b'{"short_message":"x","_a":[' + b"{}," * 2000 + b"{}]}"
    logspout = [
        b'{"message":"GET / 200","stream":"stdout","docker":{"name":"/web-1","id":"abc","image":"nginx",'
        b'"hostname":"web","labels":{"com.docker.compose.project":"x"}},"tags":["a"],"@timestamp":'
        b'"2025-11-23T12:13:20.123Z"}',
        b'{"msg":"json line","time":1763900000.5,"level":"info","_id":"x","a.b":1,"host.name":"h"}',
    ]
    yield bytes((JSON_LINES, 0)) + b"\n".join(small[:10] + logspout)
    for shape in (0, 1, 2 | 4, 8 | 0x30):
        yield bytes((TCP_STREAM, shape & 0x0F, shape)) + b"\x00".join(small[:10]) + b"\x00"
    answers = [
        b'{"errors":false}',
        b'{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}},{"index":{"status":429}},'
        b'{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"x"}}}]}',
        b'{"error":{"root_cause":[]},"status":413}',
        b"<html>502 Bad Gateway</html>",
    ]
    for how, answer in enumerate(answers):
        yield bytes((BULK_ANSWER, 4, how)) + answer
    if crashes.is_dir():
        for path in sorted(crashes.glob("*.bin")):
            yield path.read_bytes()


def _dictionary(path: Path) -> None:
    path.write_text("".join('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n' for token in TOKENS))


def still_crashes(data: bytes, sig: str) -> bool:
    try:
        run_input(data)
    except Exception as exc:
        return signature(exc) == sig
    return False


def shorten(data: bytes, sig: str, budget: float = 20.0) -> bytes:
    """A shorter input that crashes the same way: one record alone if one does, then bytes cut greedily."""
    deadline = time.monotonic() + budget
    if data[:1] and data[0] % TARGETS == DATAGRAMS:
        for record in data[2:].split(SEPARATOR):
            candidate = data[:2] + record
            if len(candidate) < len(data) and still_crashes(candidate, sig):
                data = candidate
                break
    size = len(data) // 2
    while size >= 1 and time.monotonic() < deadline:
        pos = 2
        while pos < len(data) and time.monotonic() < deadline:
            candidate = data[:pos] + data[pos + size :]
            if still_crashes(candidate, sig):
                data = candidate
            else:
                pos += size
        size //= 2
    return data


_STATUS = re.compile(rb"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")


class Run:
    """What the fuzzing processes said, summed over restarts."""

    def __init__(self) -> None:
        self.executions = 0
        self.restarts = 0
        self.status = ""
        self.artifacts: list[str] = []

    def follow(self, process: subprocess.Popen[bytes], log: Any) -> int:
        """Echo the process's output (without libFuzzer's line per new input) and note its last count."""
        assert process.stdout is not None
        executions = 0
        for line in process.stdout:
            if log is not None:
                log.write(line)
            m = _STATUS.match(line)
            if m:
                executions = int(m.group(1))
                cov, ft, corp, size = (g.decode() for g in m.groups()[2:])
                self.status = f"coverage {cov} edges, {ft} features, corpus {corp} inputs ({size})"
                if m.group(2) in (b"NEW", b"REDUCE"):
                    continue
            sys.stdout.write(line.decode("utf-8", "replace"))
            sys.stdout.flush()
        self.executions += executions
        return process.wait()


def drive(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.seconds
    with tempfile.TemporaryDirectory(prefix="gelfingest-fuzz-") as tmp:
        work = Path(tmp)
        corpus = args.corpus or work / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        seed_dir, artifacts = work / "seeds", work / "artifacts"
        seed_dir.mkdir()
        artifacts.mkdir()
        for data in seeds(args.max_len, args.crashes):
            (seed_dir / hashlib.sha1(data).hexdigest()).write_bytes(data)
        _dictionary(work / "tokens.dict")
        report = work / "crashes.jsonl"
        run = Run()
        log = args.log.open("wb") if args.log else None
        try:
            while (left := int(deadline - time.monotonic())) >= 5:
                command = [sys.executable, __file__, "--worker", str(report), str(args.crashes), str(args.memory_mb),
                           "--",
                           f"-max_total_time={left}", f"-max_len={args.max_len}", f"-timeout={args.timeout}",
                           "-rss_limit_mb=2048", "-print_final_stats=1", "-report_slow_units=5",
                           f"-dict={work / 'tokens.dict'}", f"-artifact_prefix={artifacts}/", str(corpus),
                           str(seed_dir)]
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                code = run.follow(process, log)
                found = _collect(artifacts, args.crashes, run)
                if code != 0 and not found:
                    print(f"the fuzzing process ended with {code} and left nothing behind: stopping", file=sys.stderr)
                    break
                if code == 0:
                    break
                run.restarts += 1
        finally:
            if log is not None:
                log.close()
        seconds = time.monotonic() - started
        crashes = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
        _collect(artifacts, args.crashes, run, slow=True)
        print(f"\nfuzzed for {seconds:.0f} s: {run.executions} executions, {run.executions / seconds:.0f} execs/s"
              f"{f', restarted {run.restarts} times' if run.restarts else ''}")
        print(f"at the end: {run.status}" if run.status else "no status from libFuzzer")
        print(f"crashes (exceptions other than GelfError, broken output): {len(crashes)} distinct")
        for crash in crashes:
            path = Path(crash["file"])
            data = path.read_bytes() if path.exists() else b""
            print(f"\n  {crash['signature']}\n  input: {path} ({len(data)} bytes)")
            if still_crashes(data, crash["signature"]):
                short = shorten(data, crash["signature"])
                print(f"  shortened reproducer (run_input): {_show(short)}")
            else:  # a peak-memory finding: the process's high-water mark, not an exception of run_input's
                print(f"  input (does not raise when replayed alone): {_show(data)}")
            print("  " + crash["traceback"].rstrip().replace("\n", "\n  "))
        for line in run.artifacts:
            print(f"\n  {line}")
        return 1 if crashes or run.artifacts else 0


def _show(data: bytes, limit: int = 400) -> str:
    return repr(data) if len(data) <= limit else f"{data[:limit]!r}... ({len(data)} bytes)"


def _collect(artifacts: Path, crashes: Path, run: Run, slow: bool = False) -> bool:
    """Move libFuzzer's findings (a hang, out of memory, an uncaught exception) to the regression inputs."""
    found = False
    for path in sorted(artifacts.iterdir()):
        kind = path.name.split("-", 1)[0]
        if kind not in ARTIFACTS and not (slow and kind == "slow"):
            continue
        data = path.read_bytes()
        target = crashes / f"{kind}-{hashlib.sha1(data).hexdigest()}.bin"
        crashes.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        run.artifacts.append(f"libFuzzer {kind}: {target}: {_show(data, 200)}")
        found = True
    return found


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[sys.argv.index("--") + 1 :])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long to fuzz")
    parser.add_argument("--corpus", type=Path, help="keep the inputs that reach new code here (and start from them)")
    parser.add_argument("--max-len", type=int, default=8192, help="longest input")
    parser.add_argument("--timeout", type=int, default=20, help="seconds after which one input is a hang")
    parser.add_argument("--memory-mb", type=int, default=256,
                        help="peak RSS past which an input is a finding (0: no check; libFuzzer stops at 2048)")
    parser.add_argument("--log", type=Path, help="write libFuzzer's whole output here")
    parser.add_argument("--crashes", type=Path, default=CRASHES, help="where crashing inputs are written")
    return drive(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
