"""Webhook delivery connects to the address it checked (threats S31, DNS
rebinding): no second resolution between the check and the connection.

The network is simulated, as a DNS server and a router would behave: ``socket.getaddrinfo``
answers ``hooks.rebind.test`` with a public address the first time and 127.0.0.1 afterwards
(a rebinding name with a short TTL), and ``socket.create_connection`` routes that public
address to a receiver on 127.0.0.3, the "public" server. An internal service listens on
127.0.0.1 at the same port: it must never see a request. Real HTTP (and TLS) servers.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from myriagate.notifications import DeliveryFailed
from myriagate.notifications.webhooks import HttpWebhookPoster

NAME = "hooks.rebind.test"
PUBLIC = "93.184.216.34"  # globally routable: passes the check outside dev mode
PUBLIC_SERVER = "127.0.0.3"  # where the simulated network delivers PUBLIC's traffic
INTERNAL = "127.0.0.1"  # what the name answers after the check: must stay unreached


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    requests: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def start_receiver(host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> Receiver:
    requests: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            requests.append({"path": self.path, **dict(self.headers.items())})
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    receiver = Receiver(server, requests)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: receiver.server_names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def public_and_internal(tls: ssl.SSLContext | None = None) -> tuple[Receiver, Receiver]:
    """The public receiver and an internal one on the same port (so a rebinding would land)."""
    for _ in range(20):
        public = start_receiver(PUBLIC_SERVER, tls=tls)
        try:
            return public, start_receiver(INTERNAL, public.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            public.server.shutdown()
            public.server.server_close()
    raise RuntimeError("no port free on both addresses")


@dataclass
class Network:
    lookups: list[str] = field(default_factory=list)
    connections: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> Network:
    """``NAME`` answers PUBLIC once, then INTERNAL; PUBLIC is routed to PUBLIC_SERVER."""
    network = Network()
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NAME:
            network.lookups.append(host)
            address = PUBLIC if len(network.lookups) == 1 else INTERNAL
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        network.connections.append(address)
        host, port = address
        return real_connect((PUBLIC_SERVER if host == PUBLIC else host, port), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return network


def stop(*receivers: Receiver) -> None:
    for receiver in receivers:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_delivery_goes_to_the_checked_address_not_to_a_second_dns_answer(rebinding_dns: Network) -> None:
    public, internal = public_and_internal()
    try:
        poster = HttpWebhookPoster(dev_mode=False, timeout_s=3)
        poster.post(f"http://{NAME}:{public.port}/hook?key=k", b'{"event":"x"}', {"X-Myriagate-Event": "x"})
    finally:
        stop(public, internal)
    assert internal.requests == [], "the delivery reached the internal address of a second lookup"
    assert rebinding_dns.lookups == [NAME]  # resolved once, for the check
    assert rebinding_dns.connections == [(PUBLIC, public.port)]
    [request] = public.requests
    assert request["path"] == "/hook?key=k" and request["Host"] == f"{NAME}:{public.port}"
    assert request["X-Myriagate-Event"] == "x"


def test_a_name_answering_an_internal_address_at_check_time_is_refused_without_a_connection(
    rebinding_dns: Network,
) -> None:
    rebinding_dns.lookups.append("an earlier lookup")  # the name now answers INTERNAL
    poster = HttpWebhookPoster(dev_mode=False, timeout_s=3)
    with pytest.raises(DeliveryFailed) as info:
        poster.post(f"http://{NAME}:8080/hook", b"{}", {})
    assert not info.value.transient and "127.0.0.1" in info.value.detail
    assert rebinding_dns.connections == []


# --- https: the connection goes to the checked IP, TLS still checks the name ---------------------
def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None = None
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
    )


class Pki:
    """A test CA; ``client`` trusts it alone, ``server(name)`` serves a certificate for ``name``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = (
            _certificate("myriagate test CA", self.ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.client = ssl.create_default_context(
            cadata=self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        )

    def server(self, name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _certificate(name, key, issuer=self.ca_cert.subject)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        chain, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key_file)
        return context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def test_https_delivery_to_the_checked_ip_sends_the_name_as_sni_and_verifies_it(
    rebinding_dns: Network, pki: Pki
) -> None:
    public, internal = public_and_internal(tls=pki.server(NAME))
    try:
        poster = HttpWebhookPoster(dev_mode=False, timeout_s=3, verify=pki.client)
        poster.post(f"https://{NAME}:{public.port}/hook", b"{}", {})
    finally:
        stop(public, internal)
    assert internal.requests == []
    assert rebinding_dns.connections == [(PUBLIC, public.port)]
    assert public.server_names == [NAME]
    [request] = public.requests
    assert request["Host"] == f"{NAME}:{public.port}"


def test_https_delivery_to_a_server_with_another_names_certificate_fails(
    rebinding_dns: Network, pki: Pki
) -> None:
    public, internal = public_and_internal(tls=pki.server("someone-else.test"))
    try:
        poster = HttpWebhookPoster(dev_mode=False, timeout_s=3, verify=pki.client)
        with pytest.raises(DeliveryFailed) as info:
            poster.post(f"https://{NAME}:{public.port}/hook", b"{}", {})
    finally:
        stop(public, internal)
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.detail
    assert public.requests == [] and internal.requests == []
