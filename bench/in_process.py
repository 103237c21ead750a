"""What the benchmarks that serve a gateway in their own process share: a uvicorn server on a
free loopback port, a call timed in milliseconds, a 95th percentile (bench/files.py,
bench/interactive.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from myriagate.web.app import create_app
from myriagate.wiring import Gateway


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def free_port() -> int:
    """A loopback port free right now (for a server started just after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(gateway: Gateway, port: int | None = None) -> tuple[str, uvicorn.Server, threading.Thread]:
    """The gateway's app served on ``port`` (a free one by default): its base URL, the server
    and its thread."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread
