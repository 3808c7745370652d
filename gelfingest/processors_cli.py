"""``gelfingest processors check FILE`` and ``gelfingest processors test FILE [EVENTS]``.

``check`` validates a processors file as the daemon does at start and on SIGHUP. ``test`` runs it over
GELF JSON messages (one a line, from EVENTS or standard input) through the daemon's own decoder,
processors, routing and encoder, and prints for each line what would be indexed, or why it was dropped or
rejected, as Elasticsearch's ``_simulate`` does. Both take the daemon's flags and environment after the
file (``--schema ecs``, ``--index``, ``--max-fields`` ...), so the file is checked against the settings it
will run with.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from gelfingest.config import Config, ConfigError, load_config
from gelfingest.core.bulk import decode_item
from gelfingest.core.ingest import Ingest
from gelfingest.processing import ProcessorsFileError, load

USAGE = """usage: gelfingest processors check FILE [daemon flags ...]
       gelfingest processors test FILE [EVENTS] [daemon flags ...]

check  validate FILE as the daemon does at start: exit 0 and say how many processors it holds, or exit 1
       with FILE:LINE: the problem
test   run FILE over GELF JSON messages, one a line (EVENTS, or standard input): one JSON object a line for
       each, {"line": N, "index": ..., "document": ...} as it would be indexed, {"line": N, "dropped_by": ...}
       or {"line": N, "rejected": ...}; processor failures are listed under "failures"
"""


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("check", "test"):
        print(USAGE, file=sys.stderr, end="")
        return 2
    command, path = argv[0], Path(argv[1])
    rest = list(argv[2:])
    events: Path | None = None
    if command == "test" and rest and not rest[0].startswith("-"):
        events = Path(rest.pop(0))
    try:
        # The file named here is the one checked, not the daemon's own (GELFINGEST_PROCESSORS).
        config = load_config(rest, {k: v for k, v in os.environ.items() if k != "GELFINGEST_PROCESSORS"})
    except ConfigError as exc:
        print(f"gelfingest: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline = load(path, config)
    except ProcessorsFileError as exc:
        print(f"gelfingest: {exc}", file=sys.stderr)
        return 1
    if command == "check":
        print(f"{path}: {pipeline.count} processor{'' if pipeline.count == 1 else 's'}, OK")
        return 0
    if events is None:
        return run_test(config, pipeline, sys.stdin.buffer, sys.stdout)
    try:
        stream = events.open("rb")
    except OSError as exc:
        print(f"gelfingest: {events}: cannot read: {exc.strerror or exc.__class__.__name__}", file=sys.stderr)
        return 2
    with stream:
        return run_test(config, pipeline, stream, sys.stdout)


def run_test(config: Config, pipeline: Any, lines: IO[bytes], out: IO[str]) -> int:
    """Each line through one core, as the daemon would take them in turn (sequence numbers and ``sample``'s
    count go on from line to line), received now."""
    pipeline.trace = []
    settings = config.ingest_settings(document_id_prefix=None)
    ingest = Ingest(settings, processors=pipeline)
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        pipeline.trace.clear()
        pipeline.dropped_by = ""
        batches, rejected = ingest.take_many([line], ["processors-test"], time.time())
        last = ingest.flush()
        items = [item for batch in [*batches, *([last] if last is not None else [])] for item in batch.items]
        result: dict[str, Any] = {"line": number}
        if rejected:
            err = rejected[0][0]
            result["rejected"] = f"{err.reason}: {err.detail}" if err.detail else err.reason
        elif not items:
            result["dropped_by"] = pipeline.dropped_by
        else:
            action, document = decode_item(items[0])
            operation = next(iter(action.values()))
            result["index"] = operation.get("_index")
            if "pipeline" in operation:
                result["pipeline"] = operation["pipeline"]
            result["document"] = document
        if pipeline.trace:
            result["failures"] = list(pipeline.trace)
        out.write(orjson.dumps(result).decode() + "\n")
    return 0
