"""GELF over HTTP into the real Elasticsearch: graypy's and pygelf's handlers, every body form and status."""

from __future__ import annotations

import gzip
import json
import logging
import time
import urllib.error
import urllib.request
import zlib

import graypy
import pygelf
import pytest

from tests.conftest import ES
from tests.helpers import assert_progression, free_tcp_port, gelf

pytestmark = pytest.mark.integration


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/gelf", data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_clients_and_body_forms(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_INDEX": "http-forms", "SEQUENCE_SEED": "7",
                "ELASTICSEARCH_HOSTS": elasticsearch.url})
    port = d.http_port
    assert get(port, "/healthz") == 200
    deadline = time.monotonic() + 20
    while get(port, "/readyz") != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    cases = [
        (gelf("plain"), {}),
        (gzip.compress(gelf("gzip announced")), {"Content-Encoding": "gzip"}),
        (zlib.compress(gelf("deflate announced")), {"Content-Encoding": "deflate"}),
        (raw_deflate.compress(gelf("raw deflate")) + raw_deflate.flush(), {"Content-Encoding": "deflate"}),
        (zlib.compress(gelf("zlib unannounced")), {}),
        (zlib.compress(gelf("graypy's lie")), {"Content-Encoding": "gzip,deflate"}),
        (gelf("batch 1") + b"\n" + gelf("batch 2") + b"\n\n" + gelf("batch 3") + b"\n", {}),
        (gzip.compress(gelf("gz batch 1") + b"\n" + gelf("gz batch 2")), {"Content-Encoding": "gzip"}),
    ]
    for body, headers in cases:
        status, _, text = post(port, body, headers)
        assert status == 202, (headers, text)
    for handler, name in [(graypy.GELFHTTPHandler("127.0.0.1", port), "graypy"),
                          (pygelf.GelfHttpHandler("127.0.0.1", port, include_extra_fields=True), "pygelf")]:
        log = logging.getLogger(f"http-{name}")
        log.propagate = False
        log.addHandler(handler)
        log.warning("%s over http", name, extra={"request_id": "r-9"})
        handler.close()
    time.sleep(1)
    assert d.stop() == 0
    messages = sorted(doc["message"] for doc in elasticsearch.search_all("http-forms"))
    assert messages == sorted(["plain", "gzip announced", "deflate announced", "raw deflate", "zlib unannounced",
                               "graypy's lie", "batch 1", "batch 2", "batch 3", "gz batch 1", "gz batch 2",
                               "graypy over http", "pygelf over http"])
    assert_progression([doc["sequence"] for doc in elasticsearch.search_all("http-forms")], 13, seed=7)
    assert "202=10" in d.text()


def test_error_statuses(elasticsearch: ES, daemon) -> None:  # type: ignore[no-untyped-def]
    d = daemon({"GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_INDEX": "http-errors", "GELFINGEST_HTTP_TOKEN": "s3cret",
                "GELFINGEST_HTTP_MAX_BODY": "64KiB", "ELASTICSEARCH_HOSTS": elasticsearch.url})
    port = d.http_port
    auth = {"Authorization": "Bearer s3cret"}
    assert post(port, gelf("no token"))[0] == 401
    assert post(port, gelf("wrong token"), {"Authorization": "Bearer nope"})[0] == 401
    status, _, text = post(port, b'{"short_message": ""}', auth)
    assert status == 400 and json.loads(text)["rejected"][0]["error"] == "missing_short_message"
    status, _, text = post(port, gelf("good line") + b"\nnot json\n" + gelf("another good one"), auth)
    assert status == 400
    answer = json.loads(text)
    assert answer["accepted"] == 2 and answer["rejected"][0]["line"] == 1
    assert post(port, b"x" * 100_000, auth)[0] == 413
    assert post(port, zlib.compress(b" " * 1_000_000), auth)[0] == 413  # small on the wire, too big inside
    assert post(port, b"\x78\x9c garbage", auth)[0] == 400
    assert post(port, gelf("ok"), auth)[0] == 202
    time.sleep(1)
    assert d.stop() == 0
    assert sorted(doc["message"] for doc in elasticsearch.search_all("http-errors")) == [
        "another good one", "good line", "ok"]


def test_a_full_queue_answers_503_with_retry_after(daemon) -> None:  # type: ignore[no-untyped-def]
    dead = free_tcp_port()
    d = daemon({"GELFINGEST_HTTP": "127.0.0.1:0", "ELASTICSEARCH_HOSTS": f"http://127.0.0.1:{dead}",
                "GELFINGEST_BATCH_MAX_DOCS": "1", "GELFINGEST_QUEUE_BATCHES": "1",
                "GELFINGEST_ELASTICSEARCH_CONCURRENCY": "1", "GELFINGEST_SHUTDOWN_TIMEOUT": "1",
                # The queue, not the spool, is under test: the spool would take the batches after this; and
                # answers given once decoded (durable ones would spool at --http-ack-timeout).
                "GELFINGEST_SPOOL_AFTER": "60", "GELFINGEST_HTTP_ACK": "received"})
    port = d.http_port
    assert get(port, "/readyz") == 503  # Elasticsearch does not answer
    statuses = [post(port, gelf(f"m{i}"))[0] for i in range(6)]
    assert statuses[0] == 202
    assert 503 in statuses
    status, headers, _ = post(port, gelf("again"))
    assert status == 503 and headers.get("Retry-After") == "1"
    assert d.stop() == 0
