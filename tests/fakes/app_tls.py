"""TLS for the test apps standing in for JupyterLab: a self-signed certificate made once per
test run, its fingerprint for the connection files, and a way to serve TLS with it (the
gateway's proxy pins the fingerprint: docs/interactive.md)."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import socket
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def _certificate(name: str = "myriagate-session") -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM), as the job script's ``openssl req -x509`` makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def fingerprint(name: str = "myriagate-session") -> str:
    """The SHA-256 of the certificate's DER form, lower-case hex (the connection file's pin)."""
    der = ssl.PEM_cert_to_DER_cert(_certificate(name)[0].decode())
    return hashlib.sha256(der).hexdigest()


@functools.cache
def server_context(name: str = "myriagate-session") -> ssl.SSLContext:
    cert, key = _certificate(name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as where:  # load_cert_chain reads files only
        cert_path, key_path = os.path.join(where, "cert.pem"), os.path.join(where, "key.pem")
        with open(cert_path, "wb") as out:
            out.write(cert)
        with open(key_path, "wb") as out:
            out.write(key)
        context.load_cert_chain(cert_path, key_path)
    return context


def serve_tls(listening: socket.socket, name: str = "myriagate-session") -> ssl.SSLSocket:
    """The listening socket, serving TLS with the test certificate ``name``; the handshake of
    each accepted connection runs in the thread that first reads it, not in ``accept``."""
    return server_context(name).wrap_socket(listening, server_side=True, do_handshake_on_connect=False)


def connection_file(host: str, port: int, token: str, pin: str | None = None) -> bytes:
    """What the app's job script writes once it answers: where it listens, its token and the
    fingerprint of its certificate (the test certificate's unless ``pin`` is given)."""
    pinned = pin or fingerprint()
    return json.dumps({"host": host, "port": port, "token": token, "tls_sha256": pinned}).encode()
