"""TLS on the inputs, taken by real clients (graypy's and pygelf's TLS handlers, an HTTPS POST), with and
without client certificates; Elasticsearch behind HTTPS and authentication (a real nginx in front of the
real server), with the certificate checked by default and credentials read from files, never shown."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import graypy
import pygelf
import pytest

from tests.balancers import NginxTlsProxy
from tests.conftest import ES
from tests.helpers import free_tcp_port, gelf
from tests.integration.test_bad_input import rejected_counts

pytestmark = pytest.mark.integration


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all signed by it."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
            "-days", "2", "-subj", "/CN=gelfingest test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"), "-out",
                str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
                "-CAcreateserial", "-out", str(d / f"{name}.crt"), "-days", "2", "-extfile", str(d / f"{name}.ext"))
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


def https_post(port: int, body: bytes, ca: Path, cert: Path | None = None, key: Path | None = None) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    req = urllib.request.Request(f"https://127.0.0.1:{port}/gelf", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def log_through(handler: logging.Handler, text: str) -> None:
    logger = logging.getLogger(f"tls-{id(handler)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning(text)
    handler.close()


def test_tls_inputs_take_graypy_pygelf_and_https_and_refuse_plain_text(elasticsearch: ES, daemon: Any,
                                                                      pki: dict[str, Path]) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "tls-inputs",
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0",
                "GELFINGEST_TLS_CERT": str(pki["server_crt"]), "GELFINGEST_TLS_KEY": str(pki["server_key"])})
    assert "TLS" in d.text()
    log_through(graypy.GELFTLSHandler("127.0.0.1", d.tcp_port, validate=True, ca_certs=str(pki["ca_crt"])),
                "from graypy over TLS")
    log_through(pygelf.GelfTlsHandler(host="127.0.0.1", port=d.tcp_port, validate=True,
                                      ca_certs=str(pki["ca_crt"])), "from pygelf over TLS")
    assert https_post(d.http_port, gelf("from an HTTPS POST"), pki["ca_crt"]) == 202
    # Plain text on the TLS ports: not a message, not a crash.
    with socket.create_connection(("127.0.0.1", d.tcp_port)) as plain:
        plain.sendall(gelf("plain text on the TLS port") + b"\0")
        plain.settimeout(5)
        with contextlib.suppress(OSError):
            plain.recv(100)
    with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/gelf", data=gelf("plain HTTP"), timeout=5)
    assert https_post(d.http_port, gelf("HTTPS after the plain ones"), pki["ca_crt"]) == 202
    assert elasticsearch.wait_count("tls-inputs", 4) == 4
    assert d.proc.poll() is None
    assert d.stop() == 0
    messages = sorted(doc["message"] for doc in elasticsearch.search_all("tls-inputs"))
    assert messages == ["HTTPS after the plain ones", "from an HTTPS POST", "from graypy over TLS",
                        "from pygelf over TLS"]


def test_client_certificates_when_asked_for(elasticsearch: ES, daemon: Any, pki: dict[str, Path]) -> None:
    d = daemon({"ELASTICSEARCH_HOSTS": elasticsearch.url, "GELFINGEST_INDEX": "tls-clients",
                "GELFINGEST_TCP": "127.0.0.1:0", "GELFINGEST_HTTP": "127.0.0.1:0",
                "GELFINGEST_TLS_CERT": str(pki["server_crt"]), "GELFINGEST_TLS_KEY": str(pki["server_key"]),
                "GELFINGEST_TLS_CLIENT_CA": str(pki["ca_crt"])})
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        https_post(d.http_port, gelf("no client certificate"), pki["ca_crt"])
    assert https_post(d.http_port, gelf("with a client certificate"), pki["ca_crt"], pki["client_crt"],
                      pki["client_key"]) == 202
    log_through(pygelf.GelfTlsHandler(host="127.0.0.1", port=d.tcp_port, validate=True, ca_certs=str(pki["ca_crt"]),
                                      certfile=str(pki["client_crt"]), keyfile=str(pki["client_key"])),
                "pygelf with a client certificate")
    assert elasticsearch.wait_count("tls-clients", 2) == 2
    assert d.stop() == 0
    messages = sorted(doc["message"] for doc in elasticsearch.search_all("tls-clients"))
    assert messages == ["pygelf with a client certificate", "with a client certificate"]


def test_elasticsearch_over_https_with_credentials_from_files(elasticsearch: ES, daemon: Any, pki: dict[str, Path],
                                                              tmp_path: Path) -> None:
    password, api_key = "s3cret-Pa55", base64.b64encode(b"key-id:key-secret").decode()
    basic = "Basic " + base64.b64encode(f"elastic:{password}".encode()).decode()
    proxy = NginxTlsProxy(free_tcp_port(), elasticsearch.url, pki["server_crt"], pki["server_key"],
                          [basic, f"ApiKey {api_key}"])
    try:
        (tmp_path / "password").write_text(password + "\n")
        (tmp_path / "wrong").write_text("not-the-password\n")
        (tmp_path / "api_key").write_text(api_key + "\n")
        data = tmp_path / "data"
        url = f"https://127.0.0.1:{proxy.port}"
        base = {"ELASTICSEARCH_HOSTS": url, "GELFINGEST_INDEX": "secured", "GELFINGEST_TCP": "127.0.0.1:0",
                "GELFINGEST_ELASTICSEARCH_USERNAME": "elastic", "GELFINGEST_SPOOL_AFTER": "0.5"}
        sent = 0

        def send(d: Any, n: int) -> None:
            nonlocal sent
            with socket.create_connection(("127.0.0.1", d.tcp_port)) as t:
                for _ in range(n):
                    t.sendall(gelf(f"secured {sent}") + b"\0")
                    sent += 1

        # 1. The certificate is checked by default: without our CA nothing goes out, and nothing is lost.
        d = daemon({**base, "GELFINGEST_ELASTICSEARCH_PASSWORD_FILE": str(tmp_path / "password")}, data_dir=data)
        send(d, 50)
        time.sleep(4)
        assert d.stop() == 0
        first = d.text()
        assert "certificate verify failed" in first.lower(), first
        # 2. Our CA, but the wrong password: 401 is an outage, not a refusal of the events.
        d = daemon({**base, "GELFINGEST_ELASTICSEARCH_PASSWORD_FILE": str(tmp_path / "wrong"),
                    "GELFINGEST_ELASTICSEARCH_CA_CERTS": str(pki["ca_crt"])}, data_dir=data)
        send(d, 50)
        time.sleep(4)
        assert d.stop() == 0
        second = d.text()
        assert "401" in second, second
        assert elasticsearch.count("secured") == 0
        # 3. The API key from a file: everything held so far arrives, once.
        d = daemon({**base, "GELFINGEST_ELASTICSEARCH_API_KEY_FILE": str(tmp_path / "api_key"),
                    "GELFINGEST_ELASTICSEARCH_CA_CERTS": str(pki["ca_crt"])}, data_dir=data)
        send(d, 50)
        assert elasticsearch.wait_count("secured", sent) == sent == 150
        assert d.stop() == 0
        third = d.text()
        messages = {doc["message"] for doc in elasticsearch.search_all("secured")}
        assert messages == {f"secured {i}" for i in range(150)}
        for text in (first, second, third):
            assert password not in text and "key-secret" not in text and api_key not in text
            assert rejected_counts(text) == {}
        assert url in third  # the start line names the URL (it holds no credentials here)
    finally:
        proxy.stop()


def test_secrets_stay_out_of_help_and_the_start_line(tmp_path: Path) -> None:
    env = {**os.environ, "GELFINGEST_ELASTICSEARCH_PASSWORD": "hunter2-pw", "GELFINGEST_HTTP_TOKEN": "tok-42",
           "GELFINGEST_UDP": "127.0.0.1:0", "GELFINGEST_TCP": "off",
           "GELFINGEST_HTTP": "off", "GELFINGEST_DATA_DIR": str(tmp_path),
           "ELASTICSEARCH_HOSTS": "https://elastic:url-pw-7@127.0.0.1:9"}
    help_text = subprocess.run([sys.executable, "-m", "gelfingest", "--help"], env=env, capture_output=True,
                               text=True, check=True).stdout
    assert "--elasticsearch-password-file" in help_text and "GELFINGEST_HTTP_TOKEN_FILE" in help_text
    proc = subprocess.Popen([sys.executable, "-m", "gelfingest", "--log-level", "debug"], env=env,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.terminate()
    _, log = proc.communicate(timeout=30)
    assert "listening on" in log, log
    assert "https://elastic:***@127.0.0.1:9" in log
    for secret in ("hunter2-pw", "tok-42", "url-pw-7"):
        assert secret not in help_text and secret not in log
    # Both a value and a file for one secret: refused, naming both.
    (tmp_path / "pw").write_text("x\n")
    both = subprocess.run([sys.executable, "-m", "gelfingest", "--elasticsearch-password-file", str(tmp_path / "pw")],
                          env=env, capture_output=True, text=True)
    assert both.returncode == 2 and "GELFINGEST_ELASTICSEARCH_PASSWORD" in both.stderr


def test_metrics_can_live_apart_from_the_data_inputs(daemon: Any, tmp_path: Path) -> None:
    d = daemon({"GELFINGEST_OUTPUT": "null", "GELFINGEST_HTTP": "127.0.0.1:0", "GELFINGEST_METRICS": "127.0.0.1:0"})
    ops = int(re.search(r"metrics=\S+:(\d+)", d.text())[1])  # type: ignore[index]
    with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=10) as resp:
        assert b"gelfingest_messages_decoded_total" in resp.read()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{d.http_port}/metrics", timeout=10)
    assert info.value.code == 404
    for port in (ops, d.http_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            assert resp.status == 200
    assert d.stop() == 0
