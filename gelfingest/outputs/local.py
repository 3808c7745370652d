"""The outputs that need no server: stdout (one JSON document a line) and null (encode, send nothing)."""

from __future__ import annotations

import sys

from gelfingest.core.batch import Batch
from gelfingest.metrics import SnapshotBuilder


class _LocalOutput:
    """Always available and ready; no periodic work, no metrics of its own."""

    name = "local"

    def __init__(self) -> None:
        self.indexed = 0
        self.failed = 0

    @property
    def unavailable_since(self) -> float | None:
        return None

    def ready(self) -> bool:
        return True

    def describe(self) -> str:
        return self.name

    def status(self) -> str:
        return "ready"

    async def start(self) -> None:
        pass

    def tick(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def report(self, metrics: SnapshotBuilder) -> None:
        pass

    def totals(self) -> str:
        return ""


class NullOutput(_LocalOutput):
    """Encodes the bulk bodies and sends nothing: measures everything but Elasticsearch."""

    name = "null"

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    async def send(self, batch: Batch) -> None:
        self.bytes += len(batch.body())
        self.indexed += len(batch)


class StdoutOutput(_LocalOutput):
    """One JSON document a line on standard output."""

    name = "stdout"

    async def send(self, batch: Batch) -> None:
        out = sys.stdout.buffer
        out.write(b"".join(item.partition(b"\n")[2] for item in batch.items))
        out.flush()
        self.indexed += len(batch)
