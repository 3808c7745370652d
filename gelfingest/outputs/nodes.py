"""One line per Elasticsearch node going down and coming back, instead of the client's tracebacks.

The official client's node pool leaves a node that fails out and tries it again later (its own backoff);
that is what keeps a cluster that loses nodes from losing events. But it logs every failed request at
WARNING with a multi-line traceback, and every node failure again. ``NodeLog`` is a logging filter on the
client's loggers: it keeps the node pool's verdicts, says them once a node in our own words (and counts
them), and drops the rest.
"""

from __future__ import annotations

import logging
from typing import Final

logger = logging.getLogger("gelfingest.outputs.elasticsearch")

# The client's loggers whose records we take over.
CLIENT_LOGGERS: Final = ("elastic_transport.node_pool", "elastic_transport.transport")
_FAILED: Final = "Node %r has failed for %i times in a row"
_ALIVE: Final = "Node %r has been marked alive"
# Noise while a node is down: a retry, and the wait before it (the incident lines say what matters).
_DROPPED: Final = ("Retrying request after", "Request failure, sleeping", "Resurrected node")


def _node(record: logging.LogRecord) -> str:
    node = record.args[0] if isinstance(record.args, tuple) and record.args else None
    return str(getattr(node, "base_url", node))


class NodeLog(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.failures = 0
        self.recoveries = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(_FAILED):
            node = _node(record)
            if node not in self.down:
                self.down.add(node)
                self.failures += 1
                logger.warning("Elasticsearch node %s does not answer: left out, and tried again later (the other "
                               "nodes take the requests meanwhile)", node)
            return False
        if message.startswith(_ALIVE):
            node = _node(record)
            if node in self.down:
                self.down.discard(node)
                self.recoveries += 1
                logger.warning("Elasticsearch node %s answers again", node)
            return False
        return not message.startswith(_DROPPED)

    def install(self) -> None:
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).removeFilter(self)
