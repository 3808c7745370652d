"""The ``gelfingest`` command."""

from __future__ import annotations

import asyncio
import logging
import sys

from gelfingest.config import ConfigError, load_config
from gelfingest.server import Server
from gelfingest.supervisor import Supervisor


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"gelfingest: {exc}", file=sys.stderr)
        return 2
    who = ""
    if config.workers > 1:
        who = f"[worker {config.worker_index}] " if "--worker-index" in (argv or sys.argv) else "[supervisor] "
    logging.basicConfig(
        level=config.log_level.upper(),
        format=f"%(asctime)s %(levelname)s {who}%(name)s: %(message)s",
        stream=sys.stderr,
    )
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
        asyncio.run(Server(config).serve())
    except OSError as exc:
        logging.getLogger("gelfingest").error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
