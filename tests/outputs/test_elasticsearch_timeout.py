"""The Elasticsearch output's request timeout is the one configured: a server that takes the connection
and never answers is given up on after --elasticsearch-timeout, not the transport's own 10 s default."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from elastic_transport import ConnectionTimeout

from gelfingest.config import load_config
from gelfingest.outputs.elasticsearch import ElasticsearchOutput


@pytest.mark.parametrize("timeout", [1.5])
def test_a_silent_server_times_out_after_the_configured_timeout(timeout: float) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(listener.accept()[0] for _ in range(8)), daemon=True).start()
    port = listener.getsockname()[1]
    config = load_config(["--elasticsearch", f"http://127.0.0.1:{port}", "--elasticsearch-timeout", str(timeout),
                          "--install-template", "false"], environ={})

    async def one_request() -> float:
        output = ElasticsearchOutput(config)
        await output.start()
        started = time.monotonic()
        try:
            with pytest.raises(ConnectionTimeout):
                await output.request("POST", "/_bulk", b"{}\n")
            return time.monotonic() - started
        finally:
            await output.close()

    try:
        elapsed = asyncio.run(one_request())
    finally:
        listener.close()
        for s in held:
            s.close()
    # Within the configured timeout plus slack (the transport alone would wait its default 10 s).
    assert timeout <= elapsed < timeout + 3
