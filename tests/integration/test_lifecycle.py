"""gelfingest's own indices over time, against the real Elasticsearch: retention (daily and rollover),
rollover, and the lifecycle options this server cannot do, refused at start."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gelfingest.config import load_config
from gelfingest.metrics import merge
from gelfingest.outputs.lifecycle import Lifecycle
from gelfingest.storage.snapshots import read_snapshots
from tests.conftest import ES
from tests.helpers import gelf

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).strftime("%Y.%m.%d")


def create(es: ES, *names: str) -> None:
    for name in names:
        answer = es.call("PUT", f"/{name}", {"settings": {"number_of_replicas": 0}})
        assert answer.get("acknowledged") or "already_exists" in json.dumps(answer), answer


def exists(es: ES, name: str) -> bool:
    req = urllib.request.Request(f"{es.url}/{name}", method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status == 200
    except urllib.error.HTTPError:
        return False


def counter(d: Any, name: str) -> float:
    snapshot = merge(read_snapshots(d.data_dir))
    return sum(snapshot.get(name, [None, None, {}])[2].values())


def test_retention_deletes_only_our_dated_indices_past_the_days_and_never_today_s(elasticsearch: ES,
                                                                                  daemon: Any) -> None:
    old = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y.%m.%d")
    recent = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y.%m.%d")
    keep = [f"ret-{recent}", f"ret-{TODAY}", "ret-2020.13.40", "ret-not-a-date", "other-2020.01.01",
            "ret-2020.01.01-extra", "retx-2020.01.01"]
    create(elasticsearch, f"ret-{old}", "ret-2020.01.01", *keep)
    # A dry run first: it only says what it would delete.
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "ret-%Y.%m.%d",
                "GELFINGEST_RETENTION_DAYS": "7", "GELFINGEST_RETENTION_DRY_RUN": "true"})
    deadline = time.monotonic() + 20
    while "would delete index ret-2020.01.01" not in d.text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert d.stop() == 0
    assert f"would delete index ret-{old}" in d.text() and exists(elasticsearch, "ret-2020.01.01")
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "ret-%Y.%m.%d",
                "GELFINGEST_RETENTION_DAYS": "7", "GELFINGEST_LIFECYCLE_INTERVAL": "1"})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(gelf("written today"), ("127.0.0.1", d.udp_port))
    deadline = time.monotonic() + 20
    while exists(elasticsearch, "ret-2020.01.01") and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.5)  # two more runs: nothing else goes, and deleting again is harmless
    assert d.stop() == 0
    assert not exists(elasticsearch, f"ret-{old}") and not exists(elasticsearch, "ret-2020.01.01")
    assert all(exists(elasticsearch, name) for name in keep), [n for n in keep if not exists(elasticsearch, n)]
    assert elasticsearch.count(f"ret-{TODAY}") == 1
    assert "retention: deleted index ret-2020.01.01, older than 7 days" in d.text()
    assert counter(d, "gelfingest_indices_deleted") == 2


def test_retention_follows_field_references_and_their_fallback(elasticsearch: ES, daemon: Any) -> None:
    create(elasticsearch, "rr-web-2020.01.01", "rr-2020.01.01", f"rr-web-{TODAY}", f"rr-{TODAY}")
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "rr-%{app}-%Y.%m.%d",
                "GELFINGEST_RETENTION_DAYS": "30"})
    deadline = time.monotonic() + 20
    while (exists(elasticsearch, "rr-web-2020.01.01") or exists(elasticsearch, "rr-2020.01.01")) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert d.stop() == 0
    assert not exists(elasticsearch, "rr-web-2020.01.01") and not exists(elasticsearch, "rr-2020.01.01")
    assert exists(elasticsearch, f"rr-web-{TODAY}") and exists(elasticsearch, f"rr-{TODAY}")


def test_a_refused_delete_is_logged_and_counted_and_ingest_goes_on(elasticsearch: ES, daemon: Any) -> None:
    create(elasticsearch, "ro-2020.01.01")
    elasticsearch.call("PUT", "/ro-2020.01.01/_settings", {"index.blocks.read_only": True})
    try:
        d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "ro-%Y.%m.%d",
                    "GELFINGEST_RETENTION_DAYS": "7", "GELFINGEST_LIFECYCLE_INTERVAL": "1"})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(20):
                s.sendto(gelf(f"still taken {i}"), ("127.0.0.1", d.udp_port))
        deadline = time.monotonic() + 20
        while elasticsearch.count(f"ro-{TODAY}") < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)
        assert d.stop() == 0
        assert elasticsearch.count(f"ro-{TODAY}") == 20 and exists(elasticsearch, "ro-2020.01.01")
        assert "deleting index ro-2020.01.01 was refused (HTTP 403" in d.text()
        assert counter(d, "gelfingest_index_delete_failures") >= 2
    finally:
        elasticsearch.call("PUT", "/ro-2020.01.01/_settings", {"index.blocks.read_only": False})


def test_rollover_writes_through_an_alias_per_target_and_rolls_it_over(elasticsearch: ES, daemon: Any) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "roll-%{app}-%Y.%m.%d",
                "GELFINGEST_INDEX_MODE": "rollover", "GELFINGEST_ROLLOVER_MAX_DOCS": "5",
                "GELFINGEST_LIFECYCLE_INTERVAL": "1", "GELFINGEST_BATCH_MAX_AGE": "0.1"})
    assert "rollover (max_size 30gb, max_age 1d, max_docs 5)" in d.text()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for wave in range(3):
            for i in range(6):
                s.sendto(gelf(f"web {wave}.{i}", _app="web"), ("127.0.0.1", d.udp_port))
                s.sendto(gelf(f"db {wave}.{i}", _app="db"), ("127.0.0.1", d.udp_port))
            time.sleep(3)  # a rollover check after each wave
    assert d.stop() == 0
    aliases = elasticsearch.call("GET", "/_alias/roll-*")
    written = {alias: index for index, info in aliases.items() for alias, meta in info["aliases"].items()
               if meta.get("is_write_index")}
    assert set(written) == {"roll-web-write", "roll-db-write"}
    assert written["roll-web-write"] > "roll-web-000001"  # rolled over at least once
    assert elasticsearch.count("roll-web-0*") == 18 and elasticsearch.count("roll-db-0*") == 18
    assert not exists(elasticsearch, "roll-web-write-" + TODAY)  # no index named after the alias
    assert "rollover: roll-web-write now writes to roll-web-000002" in d.text()


def test_rollover_retention_deletes_rolled_over_indices_but_never_a_write_index(elasticsearch: ES,
                                                                               tmp_path: Path) -> None:
    """Run against the real server with the clock moved on three days (creation dates cannot be faked)."""
    for name, write in (("keep-000001", False), ("keep-000002", True)):
        elasticsearch.call("PUT", f"/{name}", {"aliases": {"keep-write": {"is_write_index": write}}})
    elasticsearch.call("PUT", "/keep-unrelated")
    config = load_config(["--elasticsearch", elasticsearch.url, "--index", "keep", "--index-mode", "rollover",
                          "--retention-days", "2", "--data-dir", str(tmp_path)], {})

    async def request(method: str, target: str, body: bytes | None) -> tuple[int, Any]:
        req = urllib.request.Request(elasticsearch.url + target, data=body, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    lifecycle = Lifecycle(config, request, clock=lambda: time.time() + 3 * 86400)
    asyncio.run(lifecycle.retain())
    assert not exists(elasticsearch, "keep-000001")
    assert exists(elasticsearch, "keep-000002") and exists(elasticsearch, "keep-unrelated")
    assert lifecycle.deleted == 1
    lifecycle.clock = time.time  # nothing is old enough now
    asyncio.run(lifecycle.retain())
    assert exists(elasticsearch, "keep-000002") and lifecycle.deleted == 1


@pytest.mark.parametrize(("flag", "value"), [("GELFINGEST_DATA_STREAM", "logs-gelf-default"),
                                             ("GELFINGEST_ILM_POLICY", "logs")])
def test_lifecycle_options_this_server_cannot_do_are_refused_at_start(elasticsearch: ES, daemon: Any,
                                                                     flag: str, value: str) -> None:
    with pytest.raises(RuntimeError) as failed:
        daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, flag: value})
    text = str(failed.value)
    assert "cannot start:" in text and "default distribution; the server is elasticsearch 7.9.2 (oss)" in text
