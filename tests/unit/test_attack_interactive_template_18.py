"""Issue #18 attacked: the JupyterLab script announced whoever answered at its port.

The script picks a free port, closes it, starts JupyterLab on it (``--port=N`` is on its
command line, which every login on the node reads with ``ps``) and writes the connection file
once ``api/status`` answers at that port. JupyterLab takes a second or more to listen: on the
dev cluster bob's watcher bound the port 50 ms after alice's JupyterLab appeared in ``ps``, the
script's probe reached bob's server (sending it the token) and the connection file named bob's
server; only JupyterLab then failing to listen ended the job. The script now writes the file
only when the socket listening at the port is JupyterLab's own (its file descriptors, from
``/proc``), and says why it stops otherwise.

The rendered script runs here for real under bash, with a fake environment whose
``jupyter-lab`` either listens as JupyterLab does or, as a JupyterLab that lost its port, does
not, while "bob" (a server of the test) answers at the port first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from myriagate.scripts.interactive_apps import InteractiveApps
from myriagate.settings import Settings

BASH = shutil.which("bash")
SESSION = "0b9c8f1e-4a5d-4e2b-9c1a-2f3e4d5c6b7a"
pytestmark = pytest.mark.skipif(
    BASH is None or not Path("/proc/net/tcp").exists(), reason="needs bash and Linux's /proc"
)

# What the fake environment's jupyter-lab does: listen and answer as JupyterLab would
# ("listen"), or never listen ("lost": its port was taken) while it writes the port it was given.
FAKE_APP = """\
import http.server, os, sys, time
args = dict(a.split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
host, port = args["--ip"], int(args["--port"])
open(os.environ["FAKE_PORT_FILE"] + ".tmp", "w").write("%s %d" % (host, port))
os.rename(os.environ["FAKE_PORT_FILE"] + ".tmp", os.environ["FAKE_PORT_FILE"])
if os.environ["FAKE_MODE"] == "lost":
    time.sleep(3)
    sys.exit(1)
import hashlib, json, ssl
token = open(os.environ["JUPYTER_TOKEN_FILE"]).read()
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == "token " + token
        self.send_response(200 if ok else 403)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer((host, port), App)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(args["--ServerApp.certfile"], args["--ServerApp.keyfile"])
server.socket = context.wrap_socket(server.socket, server_side=True)
served = hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(args["--ServerApp.certfile"]).read())).hexdigest()
seen = {"pin": served, "token_in_environment": "JUPYTER_TOKEN" in os.environ, "token": token}
open(os.environ["FAKE_PORT_FILE"] + ".app", "w").write(json.dumps(seen))
server.timeout = 0.2
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    server.handle_request()
"""


class _Bob(BaseHTTPRequestHandler):
    """Another login's server: it answers anything, and keeps what it was sent."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Bob.seen.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[Path]:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(sys.executable)
    app = env / "bin" / "jupyter-lab"
    app.write_text(f"#!{sys.executable}\n{FAKE_APP}")
    app.chmod(0o755)
    yield env


def _run(
    environment: Path, home: Path, mode: str, bob: bool
) -> tuple[subprocess.CompletedProcess[str], Path]:
    script = InteractiveApps(Settings(dev_mode=True)).render(
        "jupyter", {"session_id": SESSION, "environment": str(environment), "idle_minutes": 0}
    )
    port_file = home / "port"
    env = {"PATH": os.defpath, "HOME": str(home), "FAKE_MODE": mode, "FAKE_PORT_FILE": str(port_file)}
    process = subprocess.Popen(
        [str(BASH), "-c", script],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    servers: list[ThreadingHTTPServer] = []
    if bob:  # bob binds the port as soon as the app shows it (here from a file; bob reads ps)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.002)
        host, port = port_file.read_text().split()
        server = ThreadingHTTPServer((host, int(port)), _Bob)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out, err = process.communicate(timeout=30)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), (
        home / ".myriagate" / "interactive" / SESSION / "connection.json"
    )


class _Watch:
    """What the gateway could read in the session's directory while the script runs."""

    def __init__(self, home: Path) -> None:
        self.directory = home / ".myriagate" / "interactive" / SESSION
        self.written: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for name in ("connection.json", "connection.json.new"):
                with contextlib.suppress(OSError):
                    self.written.append((self.directory / name).read_text())
            time.sleep(0.002)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return self.written


def test_the_connection_file_names_the_app_that_listens(environment: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    watch = _Watch(home)
    done, connection = _run(environment, home, "listen", bob=False)
    written = watch.stop()
    assert done.returncode == 0 and "myriagate: JupyterLab ready" in done.stdout, done
    host, port = (home / "port").read_text().split()
    announced = json.loads(next(text for text in written if text.endswith("\n")))
    assert (announced["host"], announced["port"]) == (host, int(port))
    app = json.loads((home / "port.app").read_text())
    # The certificate the app served is the one the file names for the gateway to pin, and the
    # token reached the app from a file, not from an environment its kernels would inherit.
    assert announced["tls_sha256"] == app["pin"] and len(app["pin"]) == 64
    assert announced["token"] == app["token"] and not app["token_in_environment"]
    assert not connection.exists()  # removed when the app ended, with the key and the directory
    assert not connection.parent.exists()


def test_a_port_another_login_took_first_is_never_announced(environment: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _Bob.seen.clear()
    watch = _Watch(home)
    done, connection = _run(environment, home, "lost", bob=True)
    written = watch.stop()
    assert done.returncode != 0, done
    assert not written, (
        f"a connection file naming bob's server was written ({len(written)} reads): {written[0]}"
    )
    assert not _Bob.seen, "the app's token was sent to bob's server"
    assert "held by a program other than JupyterLab" in done.stderr, done.stderr
    assert not connection.exists()
