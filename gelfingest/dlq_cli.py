"""``gelfingest dlq inspect`` and ``gelfingest dlq replay``: read the dead-letter queue, and send it again.

Both take the daemon's flags and environment (``--data-dir``, ``ELASTICSEARCH_HOSTS``, credentials ...),
so they run with the same settings as the daemon they belong to, while it runs or not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence

import orjson

from gelfingest.config import Config, ConfigError, load_config
from gelfingest.core.batch import Batch
from gelfingest.storage import deadletters as dlq

USAGE = """usage: gelfingest dlq inspect [--summary] [daemon flags ...]
       gelfingest dlq replay [--to-index NAME] [daemon flags ...]

inspect  print every dead letter (one JSON object a line: time, index, op_type, id, status, error,
         document), or with --summary a count by index and error type
replay   send the dead letters to Elasticsearch again (after the mapping is fixed); the ones it refuses
         again go to a new dead-letter file. --to-index sends them to another index instead of their own.
"""


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("inspect", "replay"):
        print(USAGE, file=sys.stderr, end="")
        return 2
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--summary", action="store_true")
    extra.add_argument("--to-index", default=None)
    own, rest = extra.parse_known_args(argv[1:])
    try:
        config = load_config(rest)
    except ConfigError as exc:
        print(f"gelfingest dlq: {exc}", file=sys.stderr)
        return 2
    if argv[0] == "inspect":
        return inspect(config, own.summary)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    return asyncio.run(replay(config, own.to_index))


def inspect(config: Config, summary: bool) -> int:
    counts: Counter[tuple[str, str]] = Counter()
    files = dlq.files(config.data_dir / "dlq")
    out = sys.stdout.buffer
    for path in files:
        for record in dlq.read(path):
            error = record.get("error")
            kind = error.get("type", "?") if isinstance(error, dict) else str(error)[:80]
            counts[(str(record.get("index")), kind)] += 1
            if not summary:
                out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()
    if summary:
        for (index, kind), n in counts.most_common():
            print(f"{n:>10}  {index}  {kind}")
    print(f"{sum(counts.values())} dead letters in {len(files)} files under {config.data_dir / 'dlq'}",
          file=sys.stderr)
    return 0


async def replay(config: Config, to_index: str | None) -> int:
    from gelfingest.outputs.elasticsearch import ElasticsearchOutput

    directory = config.data_dir / "dlq"
    paths = dlq.files(directory)
    if not paths:
        print(f"no dead letters under {directory}", file=sys.stderr)
        return 0
    again_to = dlq.DeadLetters(directory, f"replay-{int(time.time() * 1000)}")
    output = ElasticsearchOutput(config, dead_letters=again_to)
    await output.start()
    sent = 0
    try:
        for path in paths:
            taken = path if path.name.startswith("replaying-") else dlq.take(path, time.time())
            items = [dlq.to_item(record, to_index) for record in dlq.read(taken)]
            for start in range(0, len(items), config.batch_max_docs):
                await output.send(Batch(items=items[start:start + config.batch_max_docs]))
            sent += len(items)
            taken.unlink()
    finally:
        await output.close()
    again = output.dead_lettered
    print(f"replayed {sent} dead letters from {len(paths)} files: {output.indexed - output.duplicates} indexed, "
          f"{output.duplicates} already there, {again} refused again"
          + (f" (in {again_to.path})" if again else "") + (f", {output.failed} LOST" if output.failed
                                                                         else ""), file=sys.stderr)
    return 1 if again or output.failed else 0
