"""The processors file around the pure pipeline (core/processors/): reading it, the keys it names, its
reload on SIGHUP, and the counts that outlive a reload.

A file that cannot run stops the start with one line, ``FILE:LINE: problem``; on reload the same line is
logged and the running processors stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gelfingest.config import Config
from gelfingest.core.fields import Limits
from gelfingest.core.processors import ConfigError, Context, Pipeline, build
from gelfingest.core.rejects import DEFAULT_SUMMARY_INTERVAL

# A key file for redact's keyed hash is read whole, up to this (redact strips it and checks its length).
MAX_KEY_BYTES = 4096


class ProcessorsFileError(ValueError):
    """A processors file that cannot be used, as one line: ``FILE:LINE: problem``."""


def context(config: Config, base: Path) -> Context:
    """What the builders know of this daemon; a key file named in the processors file is read relative to
    the file's own directory."""
    def read_key(name: str) -> bytes:
        path = (base / name) if not Path(name).is_absolute() else Path(name)
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_KEY_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"{path}: {exc.strerror or exc.__class__.__name__}") from None
        if len(data.strip()) > MAX_KEY_BYTES:
            raise ValueError(f"{path} holds more than {MAX_KEY_BYTES} bytes")
        return data

    return Context(schema=config.schema, max_message_size=config.max_message_size, read_key=read_key,
                   limits=Limits(config.max_json_depth, config.max_fields, config.max_field_name_length))


def load(path: Path, config: Config) -> Pipeline:
    """The pipeline of the file at ``path``; ProcessorsFileError naming the file and line otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProcessorsFileError(f"{path}: cannot read: {exc.strerror or exc.__class__.__name__}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ProcessorsFileError(f"{path}:{line}: not UTF-8 text") from None
    try:
        return build(text, context(config, path.parent))
    except ConfigError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise ProcessorsFileError(f"{where}: {exc.problem}") from None
    except RecursionError:
        raise ProcessorsFileError(f"{path}: nested too deep") from None


@dataclass
class Processors:
    """The running pipeline of ``--processors`` (None: no file), and what the pipelines before a reload
    counted, so that the metrics only grow."""

    path: Path | None
    pipeline: Pipeline | None
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    reloads: Counter[str] = field(default_factory=Counter)
    redacted: Counter[str] = field(default_factory=Counter)
    # The failures already said by a summary line, and when the last one was written.
    _said: Counter[tuple[str, str]] = field(default_factory=Counter)
    _said_at: float = 0.0

    @classmethod
    def from_config(cls, config: Config) -> Processors:
        if not config.processors:
            return cls(None, None)
        path = Path(config.processors)
        return cls(path, load(path, config))

    def reload(self, config: Config) -> tuple[Pipeline | None, str]:
        """Read the file again: the new pipeline (None: keep the running one) and the line to log."""
        if self.path is None:
            return None, "SIGHUP: no --processors file to reload"
        try:
            pipeline = load(self.path, config)
        except ProcessorsFileError as exc:
            self.reloads["failed"] += 1
            return None, f"SIGHUP: the processors stay as they were: {exc}"
        except Exception as exc:  # a bug in a builder must not stop the daemon that runs the old file
            self.reloads["failed"] += 1
            return None, (f"SIGHUP: the processors stay as they were: {self.path}: {type(exc).__name__} while "
                          f"reading it (a bug in gelfingest; please report it with the file)")
        if self.pipeline is not None:
            self.failures.update(self.pipeline.failures)
            self.dropped.update(self.pipeline.dropped)
            self.redacted.update(self.pipeline.redacted())
        self.pipeline = pipeline
        self.reloads["done"] += 1
        return pipeline, f"SIGHUP: {pipeline.count} processors loaded from {self.path}"

    def summary(self, now: float, interval: float = DEFAULT_SUMMARY_INTERVAL) -> str | None:
        """At most every ``interval`` seconds, a line with the failures since the last one (the first of
        each kind is logged at once by the pipeline's notes), as the reject log summarises rejections."""
        if now - self._said_at < interval:
            return None
        self._said_at = now
        total = self.total_failures()
        new = total - self._said
        if not new:
            return None
        self._said = total
        counts = ", ".join(f"{name}/{reason}={n}" for (name, reason), n in new.most_common())
        return f"processors failed on {sum(new.values())} more events (kept as they were, tagged): {counts}"

    def total_failures(self) -> Counter[tuple[str, str]]:
        out = self.failures.copy()
        if self.pipeline is not None:
            out.update(self.pipeline.failures)
        return out

    def total_redacted(self) -> Counter[str]:
        out = self.redacted.copy()
        if self.pipeline is not None:
            out.update(self.pipeline.redacted())
        return out

    def total_dropped(self) -> Counter[str]:
        out = self.dropped.copy()
        if self.pipeline is not None:
            out.update(self.pipeline.dropped)
        return out
