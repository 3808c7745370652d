"""Processors: parse, drop, reshape and redact events before Elasticsearch pays for them.

A processors file is Filebeat's ``processors:`` list (pipeline.py); the processors are registered by
name by the modules imported here. Pure: no I/O, no clock (a key file is read by the daemon).
"""

from gelfingest.core.processors import redact as _redact  # noqa: F401 (registers)
from gelfingest.core.processors import sample as _sample  # noqa: F401 (registers)
from gelfingest.core.processors import standard as _standard  # noqa: F401 (registers)
from gelfingest.core.processors.base import ConfigError, Context, Failure
from gelfingest.core.processors.pipeline import Pipeline, build

__all__ = ["ConfigError", "Context", "Failure", "Pipeline", "build"]
