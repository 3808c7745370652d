"""A real nginx UDP balancer for the tests (Debian's nginx with its stream module; FACTS.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


class _Nginx:
    """nginx run by hand from a configuration of its own in a throw-away directory (``self.dir``)."""

    dir: Path
    proc: subprocess.Popen[bytes]

    def _launch(self) -> None:
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


class NginxUdpBalancer(_Nginx):
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
        self._launch()



def local_nginx_conf(conf: str, directory: Path) -> str:
    """A configuration written for nginx's own image (compose's) made runnable by hand here: Debian's stream
    module loaded, and the pid and error log in ``directory``."""
    return (f"load_module {STREAM_MODULE};\npid {directory}/nginx.pid;\nerror_log {directory}/error.log warn;\n"
            f"daemon off;\n{conf}")


class NginxFromConf(_Nginx):
    """nginx run from a configuration given as text (compose's, with its names and ports made local)."""

    def __init__(self, conf: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-conf-"))
        (self.dir / "nginx.conf").write_text(local_nginx_conf(conf, self.dir))
        self._launch()


class Haproxy:
    """haproxy run from a configuration given as text (compose's, with its names and ports made local)."""

    def __init__(self, conf: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="haproxy-"))
        (self.dir / "haproxy.cfg").write_text(conf)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy did not start: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class HaproxyTcpBalancer(Haproxy):
    """haproxy in TCP mode, round robin per connection (it cannot balance UDP; FACTS.md)."""

    def __init__(self, listen_port: int, backends: list[int]) -> None:
        self.port = listen_port
        servers = "\n".join(f"    server s{k} 127.0.0.1:{p}" for k, p in enumerate(backends))
        super().__init__(f"""
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend gelf
    bind 127.0.0.1:{listen_port}
    default_backend instances
backend instances
    balance roundrobin
{servers}
""")


class NginxTlsProxy(_Nginx):
    """HTTPS with authentication in front of the real Elasticsearch (whose OSS build has neither): what a
    secured cluster looks like to gelfingest. ``authorizations``: the Authorization headers it lets through;
    any other gets 401 as Elasticsearch's security would answer."""

    def __init__(self, listen_port: int, upstream: str, cert: Path, key: str | Path,
                 authorizations: list[str]) -> None:
        self.port = listen_port
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-tls-"))
        allowed = "".join(f'        "{a}" 1;\n' for a in authorizations)
        # As root its workers would run as nobody, who cannot read our private 0700 directory.
        user = "user root;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    client_max_body_size 100m;
    client_body_buffer_size 16m;
    map $http_authorization $allowed {{
        default 0;
{allowed}    }}
    server {{
        listen 127.0.0.1:{listen_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            if ($allowed = 0) {{
                add_header WWW-Authenticate 'Basic realm="security"' always;
                return 401 '{{"error":"security_exception","status":401}}';
            }}
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
""")
        self._launch()

