"""Soak test: gelfingest under good traffic mixed with garbage, against a real Elasticsearch, for minutes.

    .venv/bin/python -m soak [--seconds 300] [--workers 2] [--rate 1000]

(from the repository root; ``make soak``). The daemon runs with ``--workers N`` against a throw-away local
Elasticsearch. Separate processes send (soak/traffic.py)
- good Docker-shaped GELF, each message with a unique ``_tid``: UDP (gzip, about 5 % chunked), TCP (JSON and
  a NUL) and HTTP (POST, 202 expected, resent after Retry-After on 503), ``--rate`` messages/s in all;
- garbage: every case of the known-bad corpus (tests/vectors/bad/) over each transport its manifest lists,
  random datagrams, a flood of chunks with random ids that never complete, a TCP frame of 100 MiB with no
  terminator (followed on the same connection by a good message), gzip/zlib bombs (1 GiB of zeros) over TCP
  and HTTP now and then, clients trickling one byte a second over TCP and HTTP, and idle TCP connections.

At the end every good message must be in the index exactly once (TCP and HTTP: no loss at all; UDP: loss
shows in the kernel's drop counter too), the rejections by reason must match the garbage sent (the expected
counts come from the daemon's own pure core, fed the same bytes: soak/corpus.py), and the workers must have
stayed up with a flat RSS (soak/observe.py watches). Printed as a table (soak/report.py); the JSON and the
daemon's log go to benchmarks/results/soak-<time>.json/.log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

# The repository root: the daemon runs from it, and the report names files relative to it.
ROOT: Final = Path(__file__).resolve().parent.parent
