"""The processors file around the pipeline (processing.py): loading, reload, key files, summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from gelfingest.config import load_config
from gelfingest.core.processors import build
from gelfingest.processing import Processors, ProcessorsFileError, load


def test_a_reload_keeps_the_running_pipeline_when_the_file_breaks_and_the_counts_go_on(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("processors:\n  - drop_event:\n      when: {equals: {message: x}}\n")
    config = load_config(["--processors", str(path)])
    processors = Processors.from_config(config)
    first = processors.pipeline
    assert first is not None and first.run({"message": "x"}) is None
    path.write_text("processors:\n  - drop_evnt: {}\n")
    pipeline, line = processors.reload(config)
    assert pipeline is None and processors.pipeline is first
    assert line == f"SIGHUP: the processors stay as they were: {path}:2: unknown processor 'drop_evnt' " \
        f"(known: {line.split('(known: ')[1]}"
    path.write_text("processors:\n  - add_tags: {tags: [b]}\n")
    pipeline, line = processors.reload(config)
    assert pipeline is processors.pipeline is not None and line.endswith(f"1 processors loaded from {path}")
    assert processors.total_dropped() == {"drop_event": 1}  # what the first one counted stays counted
    assert processors.reloads == {"failed": 1, "done": 1}


def test_a_key_file_is_read_beside_the_processors_file_and_must_be_long_enough(tmp_path: Path) -> None:
    (tmp_path / "hmac.key").write_text("0123456789abcdef0123456789abcdef\n")
    path = tmp_path / "p.yml"
    path.write_text("processors:\n  - redact:\n      redactor: hash\n      key_file: hmac.key\n")
    config = load_config([])
    pipeline = load(path, config)
    assert pipeline.run({"message": "mail bob@example.com"})["message"].startswith("mail [HASH:")  # type: ignore[index]
    (tmp_path / "hmac.key").write_text("short\n")
    with pytest.raises(ProcessorsFileError, match=r"p\.yml:4: .*holds 5 bytes; a key is at least 16"):
        load(path, config)


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_bytes(b"processors:\n  - add_tags: {tags: [\xff]}\n")
    with pytest.raises(ProcessorsFileError, match=r"p\.yml:2: not UTF-8 text"):
        load(path, load_config([]))


def test_failures_are_summed_up_at_most_every_interval() -> None:
    pipeline = build("processors:\n  - decode_json_fields: {fields: [message], target: j}\n")
    processors = Processors(None, pipeline)
    assert processors.summary(100.0) is None
    for _ in range(5):
        pipeline.run({"message": "{bad"})
    assert processors.summary(105.0) is None
    assert processors.summary(111.0) == ("processors failed on 5 more events (kept as they were, tagged): "
                                         "decode_json_fields/not_json=5")
    assert processors.summary(125.0) is None  # nothing new


def test_with_ecs_and_processors_a_logstash_name_in_the_index_is_refused(tmp_path: Path) -> None:
    from gelfingest.config import ConfigError

    path = tmp_path / "p.yml"
    path.write_text("processors: []\n")
    with pytest.raises(ConfigError, match=r"%\{container\.name\}, not %\{container_name\}"):
        load_config(["--schema", "ecs", "--processors", str(path), "--index", "logs-%{container_name}-%Y"])
    assert load_config(["--schema", "ecs", "--processors", str(path), "--index", "logs-%{container.name}-%Y"])
    assert load_config(["--schema", "ecs", "--index", "logs-%{container_name}-%Y"])  # no processors: as before
