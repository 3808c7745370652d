"""Where batches go: Elasticsearch (default), stdout (debugging) or null (benchmarks).

``Output`` is everything the server and the hand-over ask of an output, so none of them needs to know
which one it has. ``Shipper`` (shipper.py) is the queue in front of it and the tasks that send.
"""

from __future__ import annotations

from typing import Protocol

from gelfingest.config import Config
from gelfingest.core.batch import Batch
from gelfingest.metrics import SnapshotBuilder
from gelfingest.storage.deadletters import DeadLetters


class Output(Protocol):
    name: str
    # Documents acknowledged (indexed, or already there), and lost (refused for good and not written to
    # the dead-letter queue, or dropped by an output error).
    indexed: int
    failed: int

    @property
    def unavailable_since(self) -> float | None:
        """Since when (``time.monotonic()``) the output cannot take events; None while it takes them."""

    def ready(self) -> bool:
        """Whether it can take events now and is set up for them (``/readyz``)."""

    def describe(self) -> str:
        """The output for the start line (where it sends, and what it found there)."""

    def status(self) -> str:
        """Its state in a line, for the body of ``/readyz``."""

    async def start(self) -> None: ...

    async def send(self, batch: Batch) -> None:
        """Return once every item is acknowledged or has failed for good."""

    def tick(self) -> None:
        """Periodic work, from the server's timer."""

    async def close(self) -> None: ...

    def report(self, metrics: SnapshotBuilder) -> None:
        """Add the output's own metrics (besides ``indexed`` and ``failed``)."""

    def totals(self) -> str:
        """The output's own totals for the closing log line (``""``, or ``", ..."`` to append)."""


def make_output(config: Config, dead_letters: DeadLetters | None = None) -> Output:
    """The output ``--output`` names; ``dead_letters`` receives what Elasticsearch refuses for good."""
    from gelfingest.outputs.local import NullOutput, StdoutOutput

    if config.output == "null":
        return NullOutput()
    if config.output == "stdout":
        return StdoutOutput()
    from gelfingest.outputs.elasticsearch import ElasticsearchOutput

    return ElasticsearchOutput(config, dead_letters)
