"""A real gateway in subprocesses: uvicorn serving the app on a free port, plus `myriagate worker`.

The listening socket is bound here and handed to uvicorn (``tests/cli/serve_on_fd.py``), so
the port is free and known before the server starts. Server and worker logs go to a file, not
to the CLI's output.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from myriagate.cli.server import KEEP_ALIVE_S


class LiveGateway:
    """``with LiveGateway(env, log_path) as gw: gw.url`` — both processes stop on exit."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 1, worker: bool = True) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.workers = workers
        self.with_worker = worker
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log: IO[bytes] | None = None

    def __enter__(self) -> LiveGateway:
        self._log = self.log_path.open("ab")
        fd = self.sock.fileno()
        os.set_inheritable(fd, True)
        # uvicorn on the inherited socket, taken for the TCP socket it is (see serve_on_fd).
        serve = [sys.executable, str(Path(__file__).with_name("serve_on_fd.py"))]
        serve += [str(fd), str(self.workers), str(KEEP_ALIVE_S)]
        self._start(serve, pass_fds=(fd,))
        if self.with_worker:
            self._start([sys.executable, "-c", "from myriagate.cli.main import run; run()", "worker"])
        self._wait_ready()
        return self

    def _start(self, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
        self.procs.append(
            subprocess.Popen(
                argv, env=self.env, pass_fds=pass_fds, stdout=self._log, stderr=subprocess.STDOUT
            )
        )

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the gateway did not answer within {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, max_bytes: int = 4000) -> str:
        return self.log_path.read_bytes()[-max_bytes:].decode("utf-8", "replace")

    def __exit__(self, *_: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self.sock.close()
        if self._log is not None:
            self._log.close()
            self._log = None
