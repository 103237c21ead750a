"""Secrets the gateway must use in clear (webhook signing keys), kept encrypted at rest.

A webhook's secret keys an HMAC on every delivery, so it cannot be hashed like a password or
a token; it is sealed instead: Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``)
under a key derived with HKDF-SHA256 from ``MYRIAGATE_SECRET_KEY`` and a purpose label, so a
copy of the database (a backup, a file another login could read) does not give the secrets
away, and each purpose has a key of its own. A secret sealed under another
``MYRIAGATE_SECRET_KEY`` (the key was changed) cannot be opened: ``unseal`` raises a
``ConfigError`` that says so, and the caller decides what follows (a delivery is abandoned).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from myriagate.errors import ConfigError

WEBHOOK_SECRETS = b"myriagate/webhook-secrets/v1"
# Fixed and public: HKDF's salt only separates this derivation from any other use of the key.
_SALT = b"myriagate sealed secrets"


@lru_cache(maxsize=8)
def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class SecretSealer:
    """Seals and opens the secrets of one purpose under a key derived from the secret key."""

    def __init__(self, secret_key: str, purpose: bytes, *, what: str) -> None:
        self._fernet = _fernet(secret_key, purpose)
        self.what = what

    @classmethod
    def for_webhooks(cls, secret_key: str) -> SecretSealer:
        return cls(secret_key, WEBHOOK_SECRETS, what="a webhook's signing secret")

    def seal(self, secret: str) -> str:
        """The stored form of ``secret``: URL-safe base64 text, different at every call."""
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str:
        """The secret ``seal`` returned ``sealed`` for; ConfigError when this key cannot open it."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise ConfigError(
                f"{self.what} cannot be decrypted with this MYRIAGATE_SECRET_KEY: it was sealed "
                "under another key (was MYRIAGATE_SECRET_KEY changed?)"
            ) from exc
