"""A real nginx UDP balancer for the tests (Debian's nginx with its stream module; FACTS.md)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class NginxUdpBalancer:
    """Round robin per datagram: every datagram is a session of its own, so chunks scatter."""

    def __init__(self, listen_port: int, backends: list[int], hash_source: bool = False) -> None:
        self.port = listen_port
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-"))
        servers = "".join(f"server 127.0.0.1:{p};" for p in backends)
        balance = "hash $remote_addr$remote_port;" if hash_source else ""
        (self.dir / "nginx.conf").write_text(f"""
load_module {STREAM_MODULE};
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
stream {{
    upstream gelf {{ {balance} {servers} }}
    # A 100-chunk message arrives as one burst: the default socket buffer (about 90 datagrams) overflows.
    server {{ listen 127.0.0.1:{listen_port} udp rcvbuf=4m; proxy_pass gelf; proxy_responses 0; proxy_timeout 1s; }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]

    def stop(self) -> str:
        """Stop it; return what it logged (warnings and errors)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        try:
            log = (self.dir / "error.log").read_text()
        except OSError:
            log = ""
        shutil.rmtree(self.dir, ignore_errors=True)
        return log
