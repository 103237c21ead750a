"""Short-lived SSH user certificates signed by the gateway's user CA.

For each cluster login the CA makes an ephemeral Ed25519 key pair in memory and signs a USER
certificate whose only principal is that login, valid for a few minutes. The cluster's sshd
trusts the CA (``TrustedUserCAKeys``), so no per-user key is stored anywhere: the private key
lives in this process only and is replaced before the certificate expires.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from myriagate.domain import values
from myriagate.errors import ConfigError

# Clocks drift: a certificate valid from "now" may be "not yet valid" on a node a second behind.
_BACKDATE_S = 60
# Shorter would not cover a handshake on a slow link. Operators are held to 30 s and more
# (MYRIAGATE_SSH_CERT_VALIDITY_S); tests of expiry use a few seconds.
_MIN_VALIDITY_S = 5


@dataclass(frozen=True)
class UserKey:
    """An ephemeral key with its certificate loaded, ready for ``auth_publickey``."""

    login: str
    pkey: paramiko.PKey
    certificate: str  # OpenSSH one-line form: "ssh-ed25519-cert-v01@openssh.com AAAA… key-id"
    key_id: str
    valid_after: int  # Unix seconds
    valid_before: int
    # The same private key in OpenSSH PEM form, for the OpenSSH tools (ssh, sftp) that the
    # stager drives: they can only read a key from a file, which the stager writes to a 0700
    # directory for the few hundred milliseconds of an SSH handshake. Kept out of repr().
    openssh_private_key: str = field(default="", repr=False)


class CertificateAuthority:
    """Signs short-lived user certificates with an OpenSSH Ed25519 CA key; thread-safe.

    ``key_for(login)`` returns a cached key until less than ``renew_before_s`` of validity is
    left, then signs a new one, so a caller always gets at least that much time to connect.
    ``forget(login)`` drops the cached key: the next ``key_for`` signs a fresh one.
    """

    def __init__(
        self,
        ca_key_path: Path | str,
        validity_s: int = 300,
        *,
        renew_before_s: int | None = None,
        clock: Callable[[], float] = time.time,
        permit_port_forwarding: bool = False,
    ) -> None:
        if validity_s < _MIN_VALIDITY_S:
            raise ConfigError(f"SSH certificate validity must be at least {_MIN_VALIDITY_S} s")
        self._validity_s = validity_s
        default_renew = min(max(30, validity_s // 3), validity_s // 2)
        self._renew_before_s = renew_before_s if renew_before_s is not None else default_renew
        if self._renew_before_s >= validity_s:
            raise ConfigError("renew_before_s must be shorter than the certificate validity")
        self._clock = clock
        self._forwarding = permit_port_forwarding
        self._ca_key = _load_ca_key(Path(ca_key_path))
        self._lock = threading.Lock()
        self._keys: dict[str, UserKey] = {}

    @property
    def validity_s(self) -> int:
        return self._validity_s

    def key_for(self, login: str) -> UserKey:
        values.login(login)
        with self._lock:
            cached = self._keys.get(login)
            if cached is not None and cached.valid_before - self._clock() > self._renew_before_s:
                return cached
            fresh = self._sign(login)
            self._keys[login] = fresh
            return fresh

    def forget(self, login: str) -> None:
        """Drop ``login``'s cached key (its user was disabled): nothing signed stays in memory."""
        with self._lock:
            self._keys.pop(login, None)

    def _sign(self, login: str) -> UserKey:
        now = int(self._clock())
        user_key = ed25519.Ed25519PrivateKey.generate()
        key_id = f"myriagate:{login}:{now}"
        valid_after, valid_before = now - _BACKDATE_S, now + self._validity_s
        # No other extension: the gateway only runs commands and SFTP, so it asks for no pty
        # and no agent; sshd then refuses them for this certificate. Port forwarding only when
        # asked (the cluster pools: the interactive proxy opens direct-tcpip channels to the
        # apps, docs/interactive.md); the key never leaves the gateway, which opens no other.
        builder = (
            serialization.SSHCertificateBuilder()
            .public_key(user_key.public_key())
            .serial(secrets.randbits(64))
            .type(serialization.SSHCertificateType.USER)
            .key_id(key_id.encode())
            .valid_principals([login.encode()])
            .valid_after(valid_after)
            .valid_before(valid_before)
        )
        if self._forwarding:
            builder = builder.add_extension(b"permit-port-forwarding", b"")
        cert = builder.sign(self._ca_key)
        cert_line = f"{cert.public_bytes().decode()} {key_id}"
        # paramiko cannot take a cryptography key object; the OpenSSH encoding goes through
        # memory only, never a file.
        pem = user_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        pkey = paramiko.Ed25519Key(file_obj=io.StringIO(pem))
        pkey.load_certificate(cert_line)
        return UserKey(
            login=login,
            pkey=pkey,
            certificate=cert_line,
            key_id=key_id,
            valid_after=valid_after,
            valid_before=valid_before,
            openssh_private_key=pem,
        )


def _load_ca_key(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the SSH user CA key {path}: {exc.strerror}") from exc
    # Same rule as OpenSSH: a key others can read is refused rather than used.
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the SSH user CA key {path} is accessible by group or others; chmod 600 it")
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted OpenSSH private key: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"the SSH user CA key {path} must be Ed25519, not {type(key).__name__}")
    return key
