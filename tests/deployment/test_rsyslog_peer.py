"""The benchmark suite's peer (benchmarks/rsyslog.py): rsyslog 8.2302 accepts its configuration.

``rsyslogd -N1`` checks every module's and action's parameters without starting anything; a misspelt one
fails it (the suite would otherwise find out only in a run of ``make bench``)."""

import subprocess
from pathlib import Path

from benchmarks.rsyslog import available, config, rsyslogd


def test_rsyslog_accepts_the_benchmark_configuration(tmp_path: Path) -> None:
    assert available(), "make system-deps installs rsyslog and rsyslog-elasticsearch"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(config(tmp_path, 5140, "http://127.0.0.1:9200", "bench-peer", "0a1b2c3d-"))
    result = subprocess.run([str(rsyslogd()), "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rsyslog_refuses_a_parameter_it_does_not_know(tmp_path: Path) -> None:
    """The check above can fail: a parameter rsyslog does not know is refused."""
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(config(tmp_path, 5140, "http://127.0.0.1:9200", "bench-peer", "0a1b2c3d-")
                    .replace('bulkmode="on"', 'bulkmode="on" bulkmodes="on"'))
    result = subprocess.run([str(rsyslogd()), "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "bulkmodes" in result.stdout + result.stderr
