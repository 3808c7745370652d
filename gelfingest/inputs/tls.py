"""TLS for the TCP and HTTP inputs: one server context from --tls-cert, --tls-key and --tls-client-ca."""

from __future__ import annotations

import ssl
from typing import Final

from gelfingest.config import Config

# A client that connects and says nothing (or speaks plain TCP to a TLS port) is let go after this long.
HANDSHAKE_TIMEOUT: Final = 10.0


def server_context(cert: str, key: str, *, password: str = "", client_ca: str = "") -> ssl.SSLContext:
    """TLS 1.2 or newer with Python's default ciphers; with ``client_ca`` every client must present a
    certificate that it signed. Raises ssl.SSLError or OSError for files that cannot be used."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key or None, password or None)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def input_context(config: Config) -> ssl.SSLContext | None:
    """The inputs' context from ``--tls-cert`` (None without one). Files that cannot be used raise an
    OSError naming the flags, which the command reports as "cannot start: ..."."""
    c = config
    if not c.tls_cert:
        return None
    try:
        return server_context(c.tls_cert, c.tls_key, password=c.tls_key_password, client_ca=c.tls_client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise OSError(f"--tls-cert {c.tls_cert} / --tls-key {c.tls_key or '(in the certificate)'}"
                      f"{' / --tls-client-ca ' + c.tls_client_ca if c.tls_client_ca else ''}: {exc}") from None
