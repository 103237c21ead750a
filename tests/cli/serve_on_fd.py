"""Serve the gateway with uvicorn on an inherited listening TCP socket (``LiveGateway``).

    python tests/cli/serve_on_fd.py FD WORKERS KEEP_ALIVE_S

uvicorn's own ``--fd`` takes any inherited socket for a Unix one (``socket.fromfd(fd,
AF_UNIX, ...)``), so asyncio never sets ``TCP_NODELAY`` on the connections it accepts: each
answer's body then waits for the client's delayed ACK of its headers (about 40 ms on Linux),
which ``myriagate serve --port`` never does. Here the socket keeps its real family.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess


def main(fd: int, workers: int, keep_alive_s: int) -> None:
    sock = socket.socket(fileno=fd)  # family and type read from the descriptor
    config = uvicorn.Config(
        "myriagate.web.app:create_app",
        factory=True,
        workers=workers,
        log_level="warning",
        timeout_keep_alive=keep_alive_s,  # as `myriagate serve`
    )
    server = uvicorn.Server(config)
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:4]))
