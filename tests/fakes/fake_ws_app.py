"""A WebSocket echo server on loopback standing in for an interactive app's kernel channel:
it accepts a handshake only with the expected ``Authorization`` header, answers each text
message with ``echo: <text>``, and records the handshakes it saw."""

from __future__ import annotations

import socket
import threading
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection, Request, TextMessage

from tests.fakes.app_tls import serve_tls


class FakeWsApp:
    def __init__(self, authorization: str) -> None:
        self.authorization = authorization
        self.handshakes: list[dict[str, Any]] = []
        self._server = serve_tls(socket.create_server(("127.0.0.1", 0)))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        with conn:
            while True:
                data = conn.recv(65536)
                ws.receive_data(data or None)
                for event in ws.events():
                    if isinstance(event, Request):
                        headers = {k.decode().lower(): v.decode() for k, v in event.extra_headers}
                        self.handshakes.append({"target": event.target, "headers": headers,
                                                "subprotocols": event.subprotocols})  # fmt: skip
                        if headers.get("authorization") != self.authorization:
                            conn.sendall(ws.send(RejectConnection(status_code=403)))
                            return
                        chosen = event.subprotocols[0] if event.subprotocols else None
                        conn.sendall(ws.send(AcceptConnection(subprotocol=chosen)))
                    elif isinstance(event, TextMessage):
                        conn.sendall(ws.send(TextMessage(data="echo: " + event.data)))
                    elif isinstance(event, CloseConnection):
                        conn.sendall(ws.send(event.response()))
                        return
                if not data:
                    return
