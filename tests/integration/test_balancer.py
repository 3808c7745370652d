"""Two instances with two workers each behind a real nginx UDP round-robin balancer, fed by Docker's go-gelf.

nginx sends every datagram to the next backend from a new source port, so the chunks of one message land
on different instances and different workers. Chunk routing must still complete every message once.
The compose stack's own configuration runs here too: its gelfingest services' environment behind its
nginx.conf and haproxy.cfg, and the demo's sample file comes back in the order it was written.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.balancers import Haproxy, NginxFromConf, NginxUdpBalancer
from tests.conftest import ES
from tests.helpers import ROOT, compose_config, free_tcp_port, free_udp_port, mounted
from tests.integration.test_interop import gogelf_send  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration


def start_fleet(daemon, es: ES, index: str, by_name: bool = False):  # type: ignore[no-untyped-def]
    """Two instances of two workers; ``by_name``: they know each other as localhost:PORT, as compose's
    services do by service name (looked up in the background; the second starts after the first)."""
    udp = [free_udp_port(), free_udp_port()]
    fwd = [free_udp_port(), free_udp_port()]
    host = "localhost" if by_name else "127.0.0.1"
    fleet = []
    for k in range(2):
        env = {"GELFINGEST_WORKERS": "2", "SEQUENCE_SEED": str(k + 1), "SEQUENCE_ITERATOR": "2",
               "GELFINGEST_UDP": f"127.0.0.1:{udp[k]}", "GELFINGEST_CHUNK_FORWARD": f"0.0.0.0:{fwd[k]}",
               "GELFINGEST_ADVERTISE": f"{host}:{fwd[k]}", "GELFINGEST_PEERS": f"{host}:{fwd[1 - k]}",
               "GELFINGEST_INDEX": index, "ELASTICSEARCH_HOSTS": es.url}
        fleet.append(daemon(env))
    # Every worker of each instance must see its peer before the test sends.
    deadline = time.monotonic() + 20
    while sum(d.text().count("answers: it owns") for d in fleet) < 4:
        assert time.monotonic() < deadline, "\n".join(d.text() for d in fleet)
        time.sleep(0.2)
    return fleet, udp


def totals(fleet, pattern: str) -> int:  # type: ignore[no-untyped-def]
    return sum(int(m[1]) for d in fleet for m in re.finditer(pattern, d.text()))


def test_chunked_messages_survive_a_round_robin_balancer(elasticsearch: ES, daemon, gogelf_send: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, udp = start_fleet(daemon, elasticsearch, "fleet-rr", by_name=True)
    balancer = NginxUdpBalancer(free_udp_port(), udp)
    try:
        addr = f"127.0.0.1:{balancer.port}"
        runs = [("small", ["-n", "400"]), ("chunked", ["-n", "40", "-size", "20000", "-random"]),
                ("huge", ["-n", "4", "-size", "185000", "-random"]), ("zlib", ["-n", "100", "-compress", "zlib"])]
        for name, args in runs:
            subprocess.run([str(gogelf_send), "-addr", addr, "-prefix", name, *args], check=True)
            time.sleep(0.5)
        time.sleep(1.5)
    finally:
        nginx_log = balancer.stop()
    for d in fleet:
        assert d.stop() == 0
    docs = elasticsearch.search_all("fleet-rr")
    got = sorted(re.match(r"\w+ \d+", doc["message"])[0] for doc in docs)  # type: ignore[index]
    want = sorted(f"{name} {i}" for name, n in [("small", 400), ("chunked", 40), ("huge", 4), ("zlib", 100)]
                  for i in range(n))
    summary = "\n".join(line for d in fleet for line in d.log if "stopped:" in line or "rejected" in line)
    assert got == want, summary + "\nnginx: " + nginx_log[-3000:]  # every message, exactly once
    assert max(len(doc["message"]) for doc in docs) >= 185_000  # whole
    sequences = [doc["sequence"] for doc in docs]
    assert len(set(sequences)) == len(sequences)
    # The balancer really scattered chunks, and forwarding put them together.
    assert totals(fleet, r"chunks forwarded: (\d+) to peers") > 0
    assert totals(fleet, r"(\d+) to workers") > 0
    assert totals(fleet, r"\((\d+) after forwarding\)") >= 40
    assert totals(fleet, r"(\d+) expired") == 0


def test_a_dead_peer_s_share_is_kept_locally(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import chunk, compress, gelf

    fleet, udp = start_fleet(daemon, elasticsearch, "fleet-dead-peer")
    fleet[1].kill()  # a crash: no goodbye to its peer (a clean stop says BYE; tests/integration/test_streams.py)
    time.sleep(2.5)  # past the peer timeout
    import random
    import socket

    rng = random.Random(5)
    messages = [compress(gelf(f"alone {i} " + "".join(rng.choice("abcdef") for _ in range(9000))), "gzip")
                for i in range(30)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for m in messages:
            for c in chunk(m):
                s.sendto(c, ("127.0.0.1", udp[0]))
    time.sleep(1.5)
    assert fleet[0].stop() == 0
    docs = elasticsearch.search_all("fleet-dead-peer")
    assert len(docs) == 30
    assert "does not answer" in fleet[0].text()
    assert totals(fleet[:1], r"chunks forwarded: (\d+) to peers") == 0
    # About half the ids belong to the stopped peer: their chunks were counted as kept here.
    assert totals(fleet[:1], r"(\d+) kept here for peers that did not answer") > 0


COMPOSE_INSTANCES = ("gelfingest-1", "gelfingest-2")


def compose_fleet(daemon, es: ES, index: str, extra: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
                  ) -> tuple[list[Any], list[int], list[int], list[int]]:
    """compose.yml's two gelfingest services (their environment as docker-compose reads it, plus ``extra``)
    as local processes: only the service names, the ports and Elasticsearch (no security here) are made
    local. Returns the daemons and their UDP, TCP and HTTP ports, once every worker sees its peer."""
    compose = compose_config()
    udp, tcp, http, fwd = ([free_udp_port(), free_udp_port()], [free_tcp_port(), free_tcp_port()],
                           [free_tcp_port(), free_tcp_port()], [free_udp_port(), free_udp_port()])

    def local(text: str) -> str:
        for k, name in enumerate(COMPOSE_INSTANCES):
            text = text.replace(f"{name}:12211", f"localhost:{fwd[k]}")
        return text

    fleet = []
    for k, name in enumerate(COMPOSE_INSTANCES):
        # A file compose mounts (the processors file) is read from where it comes from.
        inside = {target: str(source) for source, target in mounted(compose["services"][name])}
        env = {key: inside.get(str(value), local(str(value)))
               for key, value in compose["services"][name]["environment"].items()
               if key not in ("GELFINGEST_ELASTICSEARCH_USERNAME", "GELFINGEST_ELASTICSEARCH_PASSWORD")}
        env.update({"ELASTICSEARCH_HOSTS": es.url, "GELFINGEST_INDEX": index,
                    "GELFINGEST_UDP": f"127.0.0.1:{udp[k]}", "GELFINGEST_TCP": f"127.0.0.1:{tcp[k]}",
                    "GELFINGEST_HTTP": f"127.0.0.1:{http[k]}", "GELFINGEST_CHUNK_FORWARD": f"0.0.0.0:{fwd[k]}",
                    **(extra or {})})
        fleet.append(daemon(env))
    workers = int((extra or {}).get("GELFINGEST_WORKERS", "1"))
    deadline = time.monotonic() + 20
    while sum(d.text().count("answers: it owns") for d in fleet) < 2 * workers:
        assert time.monotonic() < deadline, "\n".join(d.text() for d in fleet)
        time.sleep(0.2)
    return fleet, udp, tcp, http


def compose_nginx(udp: list[int]) -> tuple[NginxFromConf, int]:
    """The shipped docker/nginx/nginx.conf in front of the instances' UDP ports; and the port it listens on."""
    front = free_udp_port()
    conf = (ROOT / "docker" / "nginx" / "nginx.conf").read_text()
    conf = conf.replace("listen 12201 udp", f"listen 127.0.0.1:{front} udp")
    for k, name in enumerate(COMPOSE_INSTANCES):
        conf = conf.replace(f"{name}:12201", f"127.0.0.1:{udp[k]}")
    assert "12201" not in conf
    return NginxFromConf(conf), front


def test_the_compose_stack_s_balancers_and_instances_for_real(elasticsearch: ES, daemon,  # type: ignore[no-untyped-def]
                                                              gogelf_send: Path) -> None:  # noqa: F811
    """compose.yml's two gelfingest services (their environment as docker-compose reads it), behind the
    shipped docker/nginx/nginx.conf and docker/haproxy/haproxy.cfg, on this machine: only the service names,
    the ports and Elasticsearch are made local. go-gelf over UDP (chunked too) and TCP, and GELF HTTP, all
    land once; when one instance stops, haproxy's health check sends new TCP connections to the other."""
    import urllib.request

    from tests.helpers import gelf

    fleet, udp, tcp, http = compose_fleet(daemon, elasticsearch, "compose-stack")
    front_tcp, front_http = free_tcp_port(), free_tcp_port()
    haproxy_conf = (ROOT / "docker" / "haproxy" / "haproxy.cfg").read_text()
    haproxy_conf = haproxy_conf.replace("bind :12201", f"bind 127.0.0.1:{front_tcp}")
    haproxy_conf = haproxy_conf.replace("bind :12202", f"bind 127.0.0.1:{front_http}")
    # No Docker DNS here, and the instances' HTTP ports differ: each server is checked on its own.
    haproxy_conf = haproxy_conf.replace("check port 12202 inter 5s resolvers docker", "check inter 1s")
    for k, name in enumerate(COMPOSE_INSTANCES):
        haproxy_conf = haproxy_conf.replace(f"{name}:12201", f"127.0.0.1:{tcp[k]} port {http[k]}")
        haproxy_conf = haproxy_conf.replace(f"{name}:12202", f"127.0.0.1:{http[k]} port {http[k]}")
    assert ":12201" not in haproxy_conf and ":12202" not in haproxy_conf
    nginx, front_udp = compose_nginx(udp)
    haproxy = Haproxy(haproxy_conf)
    try:
        time.sleep(2.5)  # haproxy's first health checks
        send = [str(gogelf_send), "-prefix"]
        subprocess.run([*send, "udp", "-addr", f"127.0.0.1:{front_udp}", "-n", "200"], check=True)
        subprocess.run([*send, "chunked", "-addr", f"127.0.0.1:{front_udp}", "-n", "20", "-size", "20000",
                        "-random"], check=True)
        for run in range(4):  # one connection each: haproxy spreads them over both instances
            subprocess.run([*send, f"tcp{run}", "-proto", "tcp", "-addr", f"127.0.0.1:{front_tcp}", "-n", "50"],
                           check=True)
        for i in range(6):
            request = urllib.request.Request(f"http://127.0.0.1:{front_http}/gelf", data=gelf(f"http {i}"),
                                             method="POST")
            assert urllib.request.urlopen(request, timeout=10).status == 202
        time.sleep(1.5)
        # One instance stops: after its health check fails, new connections go to the other.
        assert fleet[1].stop() == 0
        time.sleep(4)
        for run in range(4, 6):
            subprocess.run([*send, f"tcp{run}", "-proto", "tcp", "-addr", f"127.0.0.1:{front_tcp}", "-n", "50"],
                           check=True)
        time.sleep(1.5)
    finally:
        nginx_log = nginx.stop()
        haproxy.stop()
    assert fleet[0].stop() == 0
    docs = elasticsearch.search_all("compose-stack")
    got = sorted(re.match(r"[a-z]+\d* \d+", doc["message"])[0] for doc in docs)  # type: ignore[index]
    want = sorted([f"udp {i}" for i in range(200)] + [f"chunked {i}" for i in range(20)]
                  + [f"tcp{r} {i}" for r in range(6) for i in range(50)] + [f"http {i}" for i in range(6)])
    assert got == want, json.dumps(sorted(set(want) ^ set(got))[:20]) + "\nnginx: " + nginx_log[-2000:]
    by_seed = {doc["sequence"] % 2 for doc in docs}
    assert by_seed == {0, 1}  # both instances took part: seeds 1 and 2 with iterator 2
    assert len({doc["sequence"] for doc in docs}) == len(docs)
    early = {doc["sequence"] % 2 for doc in docs if doc["message"].startswith(("tcp0 ", "tcp1 ", "tcp2 ", "tcp3 "))}
    assert early == {0, 1}  # haproxy spread the first four connections over both instances
    late = [doc["sequence"] for doc in docs if doc["message"].startswith(("tcp4 ", "tcp5 "))]
    assert late and all(s % 2 == 1 for s in late)  # only gelfingest-1 was left
    assert totals(fleet, r"chunks forwarded: (\d+) to peers") > 0


def test_the_demo_s_sample_logs_come_back_in_cat_s_order(elasticsearch: ES, daemon,  # type: ignore[no-untyped-def]
                                                          gogelf_send: Path) -> None:  # noqa: F811
    """README's demo: docker/sample-logs.txt as Docker's log copier and gelf driver send a container's
    output (go-gelf, one message a line), through the shipped nginx.conf's per-datagram round robin, into
    compose's two instances (clock mode) of two workers each. Sorted by @timestamp, then sequence (the
    demo's Discover search), the lines come back in the order the file has them, although every line went
    to another instance than the one before and lines share milliseconds."""
    sample = ROOT / "docker" / "sample-logs.txt"
    lines = [line for line in sample.read_text().split("\n") if line]  # Docker sends an empty line empty,
    assert len(lines) == 200 and len(set(lines)) == 200  # which gelfingest rejects; the sample has none
    fleet, udp, _, _ = compose_fleet(daemon, elasticsearch, "compose-demo", {"GELFINGEST_WORKERS": "2"})
    nginx, front = compose_nginx(udp)
    try:
        subprocess.run([str(gogelf_send), "-addr", f"127.0.0.1:{front}", "-lines", str(sample),
                        "-container", "demo", "-interval", "1ms"], check=True)
        assert elasticsearch.wait_count("compose-demo", len(lines), timeout=10) == len(lines)
    finally:
        nginx_log = nginx.stop()
    for d in fleet:
        assert d.stop() == 0
    docs = elasticsearch.search_all("compose-demo")  # sorted by @timestamp, then sequence
    got = [doc["message"] for doc in docs]
    assert len(got) == len(lines)
    out_of_order = [(a, b) for a, b in itertools.pairwise(got) if lines.index(a) > lines.index(b)]
    assert got == lines, json.dumps(out_of_order[:10]) + "\nnginx: " + nginx_log[-2000:]
    assert {doc["container_id"] for doc in docs} == {"demo"}
    assert {doc["sequence"] % 2 for doc in docs} == {0, 1}  # both instances: seeds 1 and 2, iterator 2
    assert len({doc["sequence"] for doc in docs}) == len(docs)
