"""``gelfingest processors check`` and ``gelfingest processors test`` (processors_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.test_processors import EXAMPLE


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gelfingest", "processors", *args], capture_output=True,
                          text=True, input=stdin, timeout=60)


def test_check_says_how_many_processors_a_good_file_holds() -> None:
    out = cli("check", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{EXAMPLE}: 3 processors, OK"


def test_check_names_the_line_of_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("processors:\n  - drop_event: {}\n  - decode_json_fields:\n      fields: [message]\n"
                   "      target: message\n")
    out = cli("check", str(bad))
    assert out.returncode == 1 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"gelfingest: {bad}:") and "message" in line


def test_check_takes_the_daemon_s_schema(tmp_path: Path) -> None:
    rules = tmp_path / "ecs.yml"
    rules.write_text("processors:\n  - drop_fields:\n      fields: ['@timestamp']\n")
    assert cli("check", str(rules), "--schema", "ecs").returncode == 1


def test_test_prints_each_event_as_indexed_dropped_or_rejected() -> None:
    events = "\n".join([
        json.dumps({"version": "1.1", "host": "h", "short_message": '{"user": "ann", "password": "s3cret!"}'}),
        json.dumps({"version": "1.1", "host": "h", "short_message": "GET /healthz kube-probe/1.29"}),
        "{not json",
        json.dumps({"version": "1.1", "host": "h", "short_message": "card 4111-1111-1111-1111 used"}),
    ]) + "\n"
    out = cli("test", str(EXAMPLE), stdin=events)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["line"] for r in results] == [1, 2, 3, 4]
    first = results[0]["document"]
    assert first["json"]["user"] == "ann" and "s3cret!" not in out.stdout
    assert results[0]["index"].startswith("logstash-")
    assert results[1]["dropped_by"].startswith("drop_event (line ")
    assert results[2]["rejected"].startswith("invalid_json")
    assert "4111-1111-1111-1111" not in results[3]["document"]["message"]
