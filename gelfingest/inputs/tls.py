"""TLS for the TCP and HTTP inputs: one server context from --tls-cert, --tls-key and --tls-client-ca."""

from __future__ import annotations

import ssl

# A client that connects and says nothing (or speaks plain TCP to a TLS port) is let go after this long.
HANDSHAKE_TIMEOUT = 10.0


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
