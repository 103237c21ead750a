"""The proxy's TLS to an interactive app, with the app's certificate pinned (issue #18).

Once an app is gone, any login with a process on its node can listen at its port; the gateway
must then complete no connection there, and send nothing: not the owner's request, not the
app's secret. Here real TLS servers on loopback stand in for the app and for the squatter (one
with a certificate of its own, one speaking plain HTTP), over plain sockets as tunnels.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from myriagate.web.interactive_tls import NotThePinnedServer, PinnedTlsStream
from tests.fakes.app_tls import fingerprint, serve_tls


class _Server:
    """Accepts connections; echoes what it reads, and keeps every byte it was sent."""

    def __init__(self, listening: socket.socket) -> None:
        self.listening, self.received = listening, bytearray()
        self.port: int = listening.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listening.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                self.received += data
                conn.sendall(data)
                if data == b"end close_notify":
                    conn.unwrap().close()  # type: ignore[attr-defined]
                    return
                if data == b"end cut":
                    return  # closed with no TLS goodbye, as a killed app's socket is


@pytest.fixture
def app() -> Iterator[_Server]:
    server = _Server(serve_tls(socket.create_server(("127.0.0.1", 0))))
    yield server
    server.listening.close()


def _tls(port: int, pin: str | None = None) -> PinnedTlsStream:
    stream = PinnedTlsStream(socket.create_connection(("127.0.0.1", port), timeout=10), pin or fingerprint())
    stream.handshake()
    return stream


def test_the_app_holding_the_pinned_certificate_is_talked_to(app: _Server) -> None:
    stream = _tls(app.port)
    stream.sendall(b"GET / HTTP/1.1\r\n\r\n")
    got = b""
    while len(got) < 18:
        got += stream.recv(100)
    assert got == b"GET / HTTP/1.1\r\n\r\n"
    stream.close()


def test_a_server_with_another_certificate_gets_nothing(app: _Server) -> None:
    squatter = _Server(serve_tls(socket.create_server(("127.0.0.1", 0)), name="bob-made-this"))
    assert fingerprint("bob-made-this") != fingerprint()
    with pytest.raises(NotThePinnedServer):
        _tls(squatter.port)  # alice's pin, bob's server
    assert squatter.received == bytearray()  # the handshake ended before any request
    squatter.listening.close()


def test_a_plain_http_server_at_the_port_is_refused() -> None:
    plain = _Server(socket.create_server(("127.0.0.1", 0)))
    with pytest.raises(ssl.SSLError):
        _tls(plain.port)
    assert b"token" not in bytes(plain.received)
    plain.listening.close()


def test_a_malformed_pin_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        PinnedTlsStream(socket.socket(), "AB" * 32)


def test_non_blocking_sends_keep_what_the_tunnel_did_not_take(app: _Server) -> None:
    stream = _tls(app.port)
    stream.settimeout(0.0)
    payload = b"z" * (32 << 20)  # more than the sockets' buffers take at once
    sent = stream.send(payload)
    assert sent == len(payload)
    assert stream.pending > 0  # kept, not lost: sendall finishes it
    got = bytearray()
    reader = threading.Thread(target=_read_exactly, args=(stream, got, len(payload)))
    stream.settimeout(10)
    reader.start()
    stream.sendall(b"")
    reader.join(30)
    assert stream.pending == 0 and bytes(got) == payload
    stream.close()


def _read_exactly(stream: PinnedTlsStream, into: bytearray, size: int) -> None:
    while len(into) < size:
        data = stream.recv(65536)
        if not data:
            return
        into += data


def test_one_thread_reads_while_another_sends(app: _Server) -> None:
    """As the WebSocket relay does: records must not be mixed up between the two."""
    stream = _tls(app.port)
    messages = [f"message {n:05d};".encode() * 20 for n in range(2000)]
    expected = b"".join(messages)
    got = bytearray()
    reader = threading.Thread(target=_read_exactly, args=(stream, got, len(expected)))
    reader.start()
    for message in messages:
        stream.sendall(message)
    reader.join(60)
    assert bytes(got) == expected
    stream.close()


@pytest.mark.parametrize("ending", ["close_notify", "cut"])
def test_the_end_of_the_stream_reads_as_empty(app: _Server, ending: str) -> None:
    """An app that ends (cleanly, or killed: no TLS goodbye) ends the stream, not an error."""
    stream = _tls(app.port)
    stream.sendall(f"end {ending}".encode())
    got = bytearray()
    _read_exactly(stream, got, 100)  # the echo, then the end
    assert bytes(got) == f"end {ending}".encode()
    assert stream.recv(10) == b""


def test_a_server_that_drips_its_handshake_is_given_up_on_in_time() -> None:
    """Whatever listens at a freed port speaks first in the handshake: bob's server sent the
    header of a 16 KiB handshake record, then a byte every half second. Each read came within
    the stream's timeout, so the handshake (and the gateway's thread in it) waited for ever;
    the deadline is now the handshake's, not each read's."""
    listening = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listening.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")
            while not stop.wait(0.5):
                conn.sendall(b"\x00")

    threading.Thread(target=drip, daemon=True).start()
    stream = PinnedTlsStream(socket.create_connection(listening.getsockname(), timeout=10), fingerprint())
    outcome: list[BaseException] = []

    def shake() -> None:
        try:
            stream.handshake(timeout_s=2.0)
        except BaseException as exc:
            outcome.append(exc)

    shaking = threading.Thread(target=shake, daemon=True)
    shaking.start()
    shaking.join(8)
    stop.set()
    listening.close()
    assert not shaking.is_alive(), "the handshake was still waiting 8 s on (a 2 s deadline)"
    assert [type(e) for e in outcome] == [TimeoutError]
    stream.close()
