"""CertificateAuthority: short-lived USER certificates that sshd accepts for one login."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from myriagate.errors import ConfigError, UnsafeValue
from myriagate.runners.certificates import CertificateAuthority


class StepClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _write_key(path: Path, key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


CaKey = tuple[Path, ed25519.Ed25519PrivateKey]


@pytest.fixture
def ca_key(tmp_path: Path) -> CaKey:
    key = ed25519.Ed25519PrivateKey.generate()
    return _write_key(tmp_path / "ssh_user_ca", key), key


def _cert(line: str) -> serialization.SSHCertificate:
    return serialization.load_ssh_public_identity(line.encode())  # type: ignore[return-value]


def test_certificate_names_only_the_login_and_is_a_user_certificate(ca_key: CaKey) -> None:
    path, key = ca_key
    clock = StepClock(1_800_000_000)
    user_key = CertificateAuthority(path, validity_s=300, clock=clock).key_for("alice")

    cert = _cert(user_key.certificate)
    assert cert.valid_principals == [b"alice"]
    assert cert.type is serialization.SSHCertificateType.USER
    assert cert.key_id == b"myriagate:alice:1800000000"
    assert cert.critical_options == {}
    assert cert.extensions == {}  # no pty, agent or forwarding unless asked
    assert user_key.certificate.startswith("ssh-ed25519-cert-v01@openssh.com ")
    # Signed by our CA, and the signature holds.
    cert.verify_cert_signature()
    assert cert.signature_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_port_forwarding_only_when_asked_for_the_interactive_proxy(ca_key: CaKey) -> None:
    user_key = CertificateAuthority(ca_key[0], validity_s=300, permit_port_forwarding=True).key_for("alice")
    assert _cert(user_key.certificate).extensions == {b"permit-port-forwarding": b""}


def test_validity_is_backdated_a_minute_and_lasts_validity_s(ca_key: CaKey) -> None:
    clock = StepClock(1_800_000_000)
    user_key = CertificateAuthority(ca_key[0], validity_s=120, clock=clock).key_for("bob")
    cert = _cert(user_key.certificate)
    assert cert.valid_after == user_key.valid_after == 1_800_000_000 - 60
    assert cert.valid_before == user_key.valid_before == 1_800_000_000 + 120


def test_paramiko_key_carries_the_certificate_of_its_own_public_key(ca_key: CaKey) -> None:
    user_key = CertificateAuthority(ca_key[0]).key_for("carol")
    assert isinstance(user_key.pkey, paramiko.Ed25519Key)
    assert user_key.pkey.public_blob is not None
    assert user_key.pkey.public_blob.key_type == "ssh-ed25519-cert-v01@openssh.com"
    cert = _cert(user_key.certificate)
    cert_pub = cert.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert cert_pub.decode().split()[1] == user_key.pkey.get_base64()
    # The key can sign, i.e. it holds the private half.
    assert user_key.pkey.can_sign()


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen (openssh-client)")
def test_ssh_keygen_reads_the_certificate_as_sshd_would(ca_key: CaKey, tmp_path: Path) -> None:
    path, _ = ca_key
    user_key = CertificateAuthority(path, validity_s=300).key_for("alice")
    cert_file = tmp_path / "alice-cert.pub"
    cert_file.write_text(user_key.certificate + "\n")
    listing = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert_file)], capture_output=True, text=True, check=True
    ).stdout
    ca_fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert "Type: ssh-ed25519-cert-v01@openssh.com user certificate" in listing
    assert f"Signing CA: ED25519 {ca_fingerprint}" in listing
    assert "Principals: \n                alice\n" in listing
    assert f'Key ID: "{user_key.key_id}"' in listing
    assert "Extensions: (none)" in listing


def test_cached_key_is_reused_then_renewed_before_expiry(ca_key: CaKey) -> None:
    clock = StepClock(1_800_000_000)
    ca = CertificateAuthority(ca_key[0], validity_s=300, renew_before_s=60, clock=clock)
    first = ca.key_for("alice")
    clock.now += 200  # 100 s left: still more than renew_before_s
    assert ca.key_for("alice") is first
    clock.now += 50  # 50 s left: renew
    second = ca.key_for("alice")
    assert second is not first
    assert second.valid_before == clock.now + 300
    assert second.pkey.get_base64() != first.pkey.get_base64()  # a new key pair, not only a new cert


def test_each_login_gets_its_own_key(ca_key: CaKey) -> None:
    ca = CertificateAuthority(ca_key[0])
    alice, bob = ca.key_for("alice"), ca.key_for("bob")
    assert alice.pkey.get_base64() != bob.pkey.get_base64()
    assert _cert(bob.certificate).valid_principals == [b"bob"]


@pytest.mark.parametrize("login", ["root; id", "Alice", "", "-oProxyCommand=x", "a b"])
def test_invalid_login_is_refused(ca_key: CaKey, login: str) -> None:
    with pytest.raises(UnsafeValue):
        CertificateAuthority(ca_key[0]).key_for(login)


def test_no_user_key_is_written_next_to_the_ca(ca_key: CaKey) -> None:
    path, _ = ca_key
    CertificateAuthority(path).key_for("alice")
    assert sorted(p.name for p in path.parent.iterdir()) == ["ssh_user_ca"]


def test_missing_ca_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the SSH user CA key"):
        CertificateAuthority(tmp_path / "nope")


def test_ca_key_readable_by_others_is_refused(ca_key: CaKey) -> None:
    path, _ = ca_key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        CertificateAuthority(path)


def test_non_ed25519_ca_key_is_refused(tmp_path: Path) -> None:
    path = _write_key(tmp_path / "ecdsa_ca", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigError, match="must be Ed25519"):
        CertificateAuthority(path)


def test_garbage_ca_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage"
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not an unencrypted OpenSSH private key"):
        CertificateAuthority(path)
