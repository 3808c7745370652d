"""The image's Dockerfile, read as text (no Docker engine here): it must not run the daemon as root."""

from __future__ import annotations

from tests.helpers import ROOT

DOCKERFILE = ROOT / "docker" / "Dockerfile"


def final_stage() -> list[str]:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    return lines[starts[-1]:]


def test_the_daemon_runs_as_an_unprivileged_user() -> None:
    stage = final_stage()
    users = [line.split(None, 1)[1] for line in stage if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER: the daemon would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user exists in the image and owns the data directory it must write.
    assert any(f"--uid {user}" in line for line in stage)
    assert any("install -d -o 10001" in line for line in stage)
    assert stage[-1].startswith("ENTRYPOINT")
    assert stage.index(f"USER {users[-1]}") < len(stage) - 1


def test_the_image_exposes_the_inputs_and_checks_health() -> None:
    stage = final_stage()
    exposed = " ".join(line for line in stage if line.startswith("EXPOSE"))
    for port in ("12201/udp", "12201/tcp", "12202/tcp"):
        assert port in exposed
    assert any(line.startswith("HEALTHCHECK") for line in stage)
    assert "/healthz" in DOCKERFILE.read_text()
