"""compose.yml and the files it mounts, checked offline (no Docker engine on these machines).

docker-compose 1.29 (Debian's, installed by make system-deps) validates the file against the Compose
Specification and normalises it (anchors, merges, variables); the checks below read that normalised form:
the services, ports, start order and environment the README promises, every gelfingest variable a real
option with a value gelfingest accepts, and the balancer configurations through nginx -t and haproxy -c
(and haproxy started under the descriptor limit compose gives it).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gelfingest.config import load_config, options
from gelfingest.core.bulk import DEFAULT_INDEX_PATTERN, ECS_INDEX_PATTERN
from gelfingest.core.template import index_wildcard
from tests.balancers import local_nginx_conf
from tests.helpers import COMPOSE, ROOT, compose_config, docker_compose, free_tcp_port, mounted


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_config()


def test_docker_compose_validates_the_file() -> None:
    result = docker_compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_the_validation_catches_a_broken_file(tmp_path: Path) -> None:
    """The check above could fail: an unknown key is refused."""
    broken = tmp_path / "compose.yml"
    text = COMPOSE.read_text()
    assert "      retries: 30\n" in text
    broken.write_text(text.replace("      retries: 30\n", "      retry: 30\n", 1))
    result = docker_compose("config", "-q", file=broken)
    assert result.returncode != 0 and "retry" in result.stderr, result.stderr


def test_the_stack_has_the_services_the_readme_names(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"elasticsearch", "setup-elasticsearch", "kibana", "setup-kibana", "gelfingest-1",
                             "gelfingest-2", "udp-balancer", "tcp-balancer"}
    es, kibana = services["elasticsearch"]["image"], services["kibana"]["image"]
    assert es.startswith("docker.elastic.co/elasticsearch/elasticsearch:9.")
    assert kibana == es.replace("elasticsearch/elasticsearch", "kibana/kibana")
    assert services["udp-balancer"]["image"].startswith("nginx:")
    assert services["tcp-balancer"]["image"].startswith("haproxy:")
    for name in ("gelfingest-1", "gelfingest-2"):
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    readme = (ROOT / "README.md").read_text()
    for name in services:
        assert f"`{name}`" in readme, f"README does not mention the service {name}"


def published(service: dict[str, Any]) -> set[tuple[str, int, str]]:
    """(host ip, published port, protocol) as docker-compose normalises them: '127.0.0.1:9200:9200/tcp', or
    {'protocol': 'udp', 'published': 12201, 'target': 12201} for a port on every interface."""
    out = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.add((port.get("host_ip", "0.0.0.0"), int(port["published"]), port.get("protocol", "tcp")))
            continue
        m = re.fullmatch(r"(?:(?P<ip>[\d.]+):)?(?P<published>\d+):(?P<target>\d+)(?:/(?P<proto>\w+))?", str(port))
        assert m, port
        out.add((m["ip"] or "0.0.0.0", int(m["published"]), m["proto"] or "tcp"))
    return out


def test_ports_gelf_on_every_interface_elasticsearch_and_kibana_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert published(services["udp-balancer"]) == {("0.0.0.0", 12201, "udp")}
    assert published(services["tcp-balancer"]) == {("0.0.0.0", 12201, "tcp"), ("0.0.0.0", 12202, "tcp")}
    assert published(services["elasticsearch"]) == {("127.0.0.1", 9200, "tcp")}
    assert published(services["kibana"]) == {("127.0.0.1", 5601, "tcp")}
    for name in ("gelfingest-1", "gelfingest-2", "setup-elasticsearch", "setup-kibana"):
        assert not services[name].get("ports"), f"{name} publishes ports: only the balancers should"


def test_the_start_order_waits_for_health_and_setup(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def waits(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert waits("setup-elasticsearch") == {"elasticsearch": "service_healthy"}
    assert waits("kibana") == {"setup-elasticsearch": "service_completed_successfully"}
    assert waits("setup-kibana") == {"kibana": "service_healthy"}
    for name in ("gelfingest-1", "gelfingest-2"):
        assert waits(name) == {"setup-elasticsearch": "service_completed_successfully"}
    for name in ("udp-balancer", "tcp-balancer"):
        assert waits(name) == {"gelfingest-1": "service_healthy", "gelfingest-2": "service_healthy"}
    # What is waited on for health has a health check (gelfingest's is in its image: test_dockerfile.py).
    for name in ("elasticsearch", "kibana"):
        assert services[name]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "HEALTHCHECK" in (ROOT / "docker" / "Dockerfile").read_text()


def test_kibana_is_healthy_by_its_status_code_not_by_grepping_its_body(compose: dict[str, Any]) -> None:
    """/api/status answers 503 until Kibana is available; its body has a "level" per plugin, so grepping it
    for "level":"available" passed as soon as one plugin was."""
    test = compose["services"]["kibana"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and re.search(r"\bcurl -sf\b.*http://localhost:5601/api/status", test[1]), test
    assert "grep" not in test[1]
    kibana_sh = (ROOT / "docker" / "setup" / "kibana.sh").read_text()
    assert re.search(r'^until curl -sf\b.*"\$kibana/api/status"; do$', kibana_sh, re.M)
    es_sh = (ROOT / "docker" / "setup" / "elasticsearch.sh").read_text()
    assert re.search(r'^until curl -sf\b.*/_cluster/health\?wait_for_status=yellow', es_sh, re.M)
    for text in (COMPOSE.read_text(), kibana_sh, es_sh):  # (the comments may say why not)
        code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not [line for line in code if '"level' in line or "level\\\":" in line]


def gelfingest_env(compose: dict[str, Any], name: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"][name]["environment"].items()}


def test_the_two_instances_have_disjoint_sequences_and_forward_chunks_to_each_other(
        compose: dict[str, Any]) -> None:
    known = {spec.env for spec in options()}
    configs = {}
    for name in ("gelfingest-1", "gelfingest-2"):
        env = gelfingest_env(compose, name)
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables gelfingest does not read: {unknown}"
        # A file the container reads where compose mounts it: read here from where it comes from.
        inside = {dst: src for src, dst in mounted(compose["services"][name])}
        env = {k: str(inside.get(v, v)) for k, v in env.items()}
        configs[name] = load_config([], env)  # every value one gelfingest accepts (the processors file too)
    one, two = configs["gelfingest-1"], configs["gelfingest-2"]
    assert (one.sequence_seed, two.sequence_seed) == (1, 2)
    assert one.sequence_iterator == two.sequence_iterator == 2
    # nginx alternates a container's lines over both: counters drift, the receive clock does not.
    assert one.sequence_mode == two.sequence_mode == "clock"
    assert [str(p) for p in one.peers] == [two.advertise] and [str(p) for p in two.peers] == [one.advertise]
    for name, config in configs.items():
        assert config.advertise == f"{name}:{config.chunk_forward.port}"  # type: ignore[union-attr]
        assert config.elasticsearch == ("http://elasticsearch:9200",)
        assert config.elasticsearch_username == "gelfingest" and config.elasticsearch_password
        assert config.schema == "logstash"
        assert config.processors == str(ROOT / "docker" / "processors.yml")
        assert compose["services"][name]["volumes"][0].endswith(":/var/lib/gelfingest:rw")
    # GELFINGEST_SCHEMA=ecs reaches both instances.
    ecs = compose_config(env={"GELFINGEST_SCHEMA": "ecs"})
    assert {gelfingest_env(ecs, n)["GELFINGEST_SCHEMA"] for n in ("gelfingest-1", "gelfingest-2")} == {"ecs"}


def test_every_mounted_file_lives_under_docker(compose: dict[str, Any]) -> None:
    sources = [src for service in compose["services"].values() for src, _ in mounted(service)]
    assert sources
    for source in sources:
        assert source.exists(), source
        assert source.is_relative_to(ROOT / "docker"), source


def test_every_bind_mount_is_read_only_and_relabelled_for_selinux(compose: dict[str, Any]) -> None:
    """:z (shared: both setup services mount docker/setup), so an SELinux host lets the containers read
    the files; the README's docker run that mounts the sample file has it too."""
    binds = [(name, str(v)) for name, service in compose["services"].items()
             for v in service.get("volumes", []) if str(v).startswith("/")]
    assert {name for name, _ in binds} == {"setup-elasticsearch", "setup-kibana", "udp-balancer", "tcp-balancer",
                                           "gelfingest-1", "gelfingest-2"}
    for name, volume in binds:
        options = set(volume.split(":")[2].split(","))
        assert options == {"ro", "z"}, (name, volume)
    for text in ((ROOT / "README.md").read_text(), COMPOSE.read_text()):
        assert '-v "$PWD/docker/sample-logs.txt:/sample-logs.txt:ro,z"' in text


def test_the_udp_balancer_round_robins_over_both_instances(tmp_path: Path) -> None:
    conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    servers = re.findall(r"^\s*server\s+([\w.-]+):(\d+);", conf, re.M)
    assert servers == [("gelfingest-1", "12201"), ("gelfingest-2", "12201")]
    assert re.search(r"listen 12201 udp", conf) and "proxy_responses 0;" in conf
    # Round robin, nginx's default: per datagram, not per sender (the chunk forwarding is what is shown).
    assert not re.search(r"^\s*(hash|least_conn|least_time|random)\b", conf, re.M)
    # nginx itself reads it: the names resolve to this machine, and Debian's nginx loads the stream module
    # that the official image has built in.
    local = conf.replace("gelfingest-1:12201", "127.0.0.1:40001").replace("gelfingest-2:12201", "127.0.0.1:40002")
    (tmp_path / "nginx.conf").write_text(local_nginx_conf(local, tmp_path))
    result = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_tcp_balancer_config_is_valid_and_checks_health_not_readiness() -> None:
    path = ROOT / "docker" / "haproxy" / "haproxy.cfg"
    result = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    conf = path.read_text()
    assert re.findall(r"^\s*server \S+ ([\w.-]+:\d+)", conf, re.M) == [
        "gelfingest-1:12201", "gelfingest-2:12201", "gelfingest-1:12202", "gelfingest-2:12202"]
    assert "uri /healthz" in conf and "check port 12202" in conf


def _haproxy_under(conf: str, nofile: tuple[int, int]) -> str:
    """Start haproxy with RLIMIT_NOFILE (soft, hard) as Docker's ulimits set it; what it said if it exited
    (refused), or "" if it was still running after a second (then it is stopped)."""
    proc = subprocess.Popen(["prlimit", f"--nofile={nofile[0]}:{nofile[1]}", "haproxy", "-db", "-f", "/dev/stdin"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc.stdin.write(conf)  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
        return ""
    return proc.stderr.read()  # type: ignore[union-attr]


def test_the_tcp_balancer_gets_the_descriptors_its_maxconn_needs(compose: dict[str, Any]) -> None:
    """haproxy wants 2 descriptors a connection plus its listeners, checks and a few per thread, and refuses
    to start when the hard limit is lower. compose's ulimits are measured against the shipped haproxy.cfg
    with 64 threads (its default is one a CPU)."""
    conf = (ROOT / "docker" / "haproxy" / "haproxy.cfg").read_text()
    maxconn = int(re.search(r"^\s*maxconn (\d+)", conf, re.M)[1])  # type: ignore[index]
    nofile = compose["services"]["tcp-balancer"]["ulimits"]["nofile"]
    soft, hard = int(nofile["soft"]), int(nofile["hard"])
    assert soft == hard >= 2 * maxconn + 1000, nofile
    local = conf.replace("bind :12201", f"bind 127.0.0.1:{free_tcp_port()}")
    local = local.replace("bind :12202", f"bind 127.0.0.1:{free_tcp_port()}")
    local = local.replace(f"maxconn {maxconn}\n", f"maxconn {maxconn}\n    nbthread 64\n", 1)
    assert local.count("bind 127.0.0.1:") == 2 and "nbthread 64" in local
    said = _haproxy_under(local, (1024, 1024))
    need = re.search(r"Cannot raise FD limit to (\d+)", said)
    if need:  # unprivileged here (or without CAP_SYS_RESOURCE): haproxy says what it needs
        assert 2 * maxconn < int(need[1]) <= hard, said
    assert _haproxy_under(local, (soft, hard)) == ""


def test_the_setup_scripts_parse_and_cover_both_schemas() -> None:
    setup = ROOT / "docker" / "setup"
    for script in ("elasticsearch.sh", "kibana.sh"):
        result = subprocess.run(["bash", "-n", str(setup / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    wildcards = {index_wildcard(DEFAULT_INDEX_PATTERN), index_wildcard(ECS_INDEX_PATTERN)}
    # The role may write exactly gelfingest's indices.
    role = re.search(r'"names": \[([^\]]*)\]', (setup / "elasticsearch.sh").read_text())
    assert role and set(json.loads(f"[{role[1]}]")) == wildcards
    objects = [json.loads(line) for line in (setup / "saved-objects.ndjson").read_text().splitlines()]
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    assert {v["title"] for v in views.values()} == wildcards
    assert all(v["timeFieldName"] == "@timestamp" for v in views.values())
    searches = [o for o in objects if o["type"] == "search"]
    assert {s["attributes"]["sort"][1][0] for s in searches} == {"sequence", "event.sequence"}
    for search in searches:
        assert search["attributes"]["sort"][0][0] == "@timestamp"
        assert search["references"][0]["id"] in views
    kibana = (setup / "kibana.sh").read_text()
    assert '"context:tieBreakerFields": ["sequence", "event.sequence"]' in kibana


def test_the_gelfingest_role_s_cluster_privileges_are_the_ones_it_uses() -> None:
    """monitor is used: gelfingest reads GET / (cluster:monitor/main) and GET /_cluster/health
    (cluster:monitor/health) for its start line and /readyz; manage_index_templates installs the template."""
    script = (ROOT / "docker" / "setup" / "elasticsearch.sh").read_text()
    cluster = re.search(r'"cluster": \[([^\]]*)\]', script)
    assert cluster and json.loads(f"[{cluster[1]}]") == ["monitor", "manage_index_templates"]
    assert "cluster:monitor/main" in script and "cluster:monitor/health" in script  # why, next to it
    from gelfingest.outputs import cluster as cluster_module
    source = Path(cluster_module.__file__).read_text()
    assert 'request("GET", "/", timeout)' in source and '"/_cluster/health' in source
