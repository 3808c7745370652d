"""What the output knows of the Elasticsearch cluster behind it: its name, its version and flavour, and
how many nodes it has, read at start and every CLUSTER_REFRESH seconds, for the start line, /readyz and
the checks of what the server can do (data streams and lifecycle policies need the default distribution).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

# How often the cluster's name, version and number of nodes are read again.
CLUSTER_REFRESH: Final = 30.0

# One request through the output's node pool: (method, target, timeout) -> (status, parsed body).
Request = Callable[[str, str, float | None], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    name: str = ""
    # "elasticsearch" or "opensearch" (OpenSearch says so in version.distribution).
    distribution: str = "elasticsearch"
    version: str = ""
    # Elasticsearch's build_flavor: "default" or "oss" (7.x); empty where the server does not say.
    flavor: str = ""
    nodes: int = 0
    status: str = ""

    @property
    def known(self) -> bool:
        return bool(self.version)

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    def describe(self) -> str:
        if not self.known:
            return "cluster not known yet (Elasticsearch has not answered)"
        product = "OpenSearch" if self.distribution == "opensearch" else "Elasticsearch"
        flavor = f" {self.flavor}" if self.flavor and self.flavor != "default" else ""
        nodes = f", {self.nodes} node{'s' if self.nodes != 1 else ''}" if self.nodes else ""
        status = f", {self.status}" if self.status else ""
        return f"cluster {self.name or '?'} ({product} {self.version}{flavor}{nodes}{status})"


def parse_cluster(root: Any, health: Any) -> ClusterInfo:
    """The answers of ``GET /`` and ``GET /_cluster/health`` (either may be missing: ``None``)."""
    root = root if isinstance(root, dict) else {}
    health = health if isinstance(health, dict) else {}
    version = root.get("version") if isinstance(root.get("version"), dict) else {}
    nodes = health.get("number_of_nodes")
    return ClusterInfo(
        name=str(root.get("cluster_name") or health.get("cluster_name") or ""),
        distribution=str(version.get("distribution") or "elasticsearch"),
        version=str(version.get("number") or ""),
        flavor=str(version.get("build_flavor") or ""),
        nodes=nodes if type(nodes) is int else 0,
        status=str(health.get("status") or ""),
    )


async def read_cluster(request: Request, timeout: float | None) -> ClusterInfo:
    """Ask the cluster; an answer that is not 200 counts as none (the health needs a master, the root not)."""
    status, root = await request("GET", "/", timeout)
    health_status, health = await request("GET", "/_cluster/health?filter_path=cluster_name,status,"
                                          "number_of_nodes&timeout=1s", timeout)
    return parse_cluster(root if status == 200 else None, health if health_status in (200, 408) else None)
