"""Coverage-guided fuzzing of the pure core with atheris (libFuzzer): any exception but GelfError is a crash.

    .venv/bin/python -m fuzz --seconds 600 [--corpus DIR]

(from the repository root; ``make fuzz``; atheris is the ``fuzz`` extra). The driver of the target in
fuzz/target.py: seeded from the vectors under tests/vectors/ (the real clients' ``.dgrams`` and the bad
corpus) and from tests/vectors/fuzz/; inputs that reach new code go to --corpus (a temporary directory when
not given, so a later run can start where this one stopped). A crash is written to
tests/vectors/fuzz/crash-<sha1>.bin, one per distinct exception and place, its traceback printed, and
fuzzing goes on; what libFuzzer itself stops on (a hang, running out of memory) is copied there too and the
fuzzer restarted for the time left. At the end: seconds run, executions, execs/s, coverage, corpus size, and
each crash with a shortened reproducer.
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

from fuzz.target import (
    BULK_ANSWER,
    DATAGRAMS,
    GELF_MESSAGE,
    JSON_LINES,
    SEPARATOR,
    TARGETS,
    TCP_STREAM,
    InvariantError,
    run_input,
)
from gelfingest.core.decompress import decompress
from gelfingest.core.errors import GelfError
from tests.helpers import read_dgrams

ROOT: Final = Path(__file__).resolve().parent.parent
VECTORS: Final = ROOT / "tests" / "vectors"
CRASHES: Final = VECTORS / "fuzz"
CORE: Final = str(ROOT / "gelfingest") + "/"

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
    """Coverage for the core's functions (and this harness's: the target and the driver), not for the standard
    library's."""
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith(("gelfingest", "fuzz.",
                                                                                      "__main__")):
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
        parts = list(read_dgrams(path.read_bytes()))
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
                # The worker is this module again (found as the parent found it: same directory, same PYTHONPATH).
                command = [sys.executable, "-m", "fuzz", "--worker", str(report), str(args.crashes),
                           str(args.memory_mb), "--",
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
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
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
