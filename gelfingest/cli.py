"""The ``gelfingest`` command."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime

import orjson

from gelfingest.config import ConfigError, load_config, unknown_variables
from gelfingest.fleet.supervisor import Supervisor
from gelfingest.processing import ProcessorsFileError
from gelfingest.server import Server


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601 UTC), level, logger, message, worker when there are several."""

    def __init__(self, worker: int | None, supervisor: bool) -> None:
        super().__init__()
        self.extra: dict[str, object] = {"role": "supervisor"} if supervisor else (
            {"worker": worker} if worker is not None else {})

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self.extra,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def main(argv: list[str] | None = None) -> int:
    # SIGHUP reloads the processors once the daemon runs (server.py, supervisor.py); until then (reading the
    # file, a worker starting again) it must not end the process, as its default action would.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["dlq"]:
        from gelfingest.dlq_cli import main as dlq_main

        return dlq_main(args[1:])
    if args[:1] == ["processors"]:
        from gelfingest.processors_cli import main as processors_main

        return processors_main(args[1:])
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"gelfingest: {exc}", file=sys.stderr)
        return 2
    who = ""
    if config.workers > 1:
        who = f"[worker {config.worker_index}] " if "--worker-index" in (argv or sys.argv) else "[supervisor] "
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter(worker=config.worker_index if config.workers > 1 else None,
                                           supervisor=who == "[supervisor] "))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler])
    if "--worker-index" not in (argv if argv is not None else sys.argv[1:]):  # said once, not by each worker
        for line in unknown_variables(os.environ):
            logging.getLogger("gelfingest.config").warning("%s", line)
    # The client logs every request at INFO; that is our hot path.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"gelfingest: --data-dir / GELFINGEST_DATA_DIR: cannot create {config.data_dir}: {exc}",
              file=sys.stderr)
        return 2
    if config.workers > 1 and "--worker-index" not in (argv if argv is not None else sys.argv[1:]):
        return Supervisor(config, list(argv if argv is not None else sys.argv[1:])).run()
    try:
        server = Server(config)
    except ProcessorsFileError as exc:  # the file changed since it was checked
        print(f"gelfingest: --processors / GELFINGEST_PROCESSORS: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(server.serve())
    except OSError as exc:
        logging.getLogger("gelfingest").error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
