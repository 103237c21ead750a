"""The link that confirms a user's own e-mail address: a signed, expiring claim, and its mail.

The link carries ``v1.<payload>.<signature>``: the payload (base64url JSON) names the user,
the address and when the link was asked for and stops being valid; the signature is an
HMAC-SHA256 of it under a key derived from the gateway's secret key, so nobody can make or
alter one. A valid signature is not enough: the service also checks that the link is for the
signed-in user and for the address still waiting for confirmation (asked for at that very
time), so only the newest link works, and only once. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from myriagate.errors import InvalidRequest, Text

VERSION = "v1"
MAX_TOKEN_LENGTH = 1024
_KEY_LABEL = b"myriagate/email-verification/v1"


@dataclass(frozen=True)
class VerificationClaim:
    """What a confirmation link says: this user asked at ``requested_at`` to receive mail at
    ``address``; valid until ``expires_at`` (Unix seconds, both)."""

    user_id: uuid.UUID
    address: str
    requested_at: int
    expires_at: int


def verification_key(secret_key: str) -> bytes:
    """The signing key of confirmation links, derived from ``MYRIAGATE_SECRET_KEY`` so that it is
    used for nothing else (webhook secrets have their own key, sessions their own hashes)."""
    return hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def sign_claim(key: bytes, claim: VerificationClaim) -> str:
    document = {"u": str(claim.user_id), "a": claim.address, "r": claim.requested_at, "e": claim.expires_at}
    payload = _b64(json.dumps(document, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{VERSION}.{payload}"
    return f"{signed}.{_mac(key, signed)}"


def _damaged() -> InvalidRequest:
    return InvalidRequest(
        Text(
            "This confirmation link is incomplete or was not made by this gateway: copy the whole "
            "link from the e-mail, or ask for a new one."
        )
    )


def token_of(text: str) -> str:
    """The token in ``text``: the token itself, or a whole link pasted (``…?token=<token>``)."""
    text = text.strip()
    _, found, after = text.partition("token=")
    return after.split("&", 1)[0].split("#", 1)[0] if found else text


def read_claim(key: bytes, token: str, *, now: datetime) -> VerificationClaim:
    """The claim of a genuine, unexpired link; InvalidRequest (damaged, forged or expired)."""
    token = token.strip()
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise _damaged()
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != VERSION or not payload or not signature:
        raise _damaged()
    # The signature is checked before anything in the payload is believed (expiry included).
    if not hmac.compare_digest(_mac(key, f"{version}.{payload}"), signature):
        raise _damaged()
    try:
        document = json.loads(_unb64(payload))
        claim = VerificationClaim(
            user_id=uuid.UUID(str(document["u"])),
            address=str(document["a"]),
            requested_at=int(document["r"]),
            expires_at=int(document["e"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _damaged() from None
    if now.timestamp() >= claim.expires_at:
        raise InvalidRequest(
            Text(
                "This confirmation link has expired: ask for a new one on your notification settings "
                "page (or with: myriagate notifications email ADDRESS)."
            )
        )
    return claim


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str


def _when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def verification_mail(*, link: str, token: str, username: str, expires_at: int) -> Mail:
    """The message sent to an address to confirm it (French, then English: users have no
    stored language). ``username`` comes from the gateway's own records, cleaned by the caller."""
    until = _when(expires_at)
    body = (
        f"Bonjour,\n\n"
        f"Le compte myriagate « {username} » demande à recevoir ses notifications à cette adresse.\n"
        f"Pour confirmer, ouvrez ce lien en étant connecté·e à ce compte (valable jusqu'au {until}) :\n\n"
        f"{link}\n\n"
        f"ou lancez : myriagate notifications verify {token}\n\n"
        f"Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne vous sera envoyé.\n"
        f"\n-- \n\n"
        f"Hello,\n\n"
        f'The myriagate account "{username}" asks to receive its notifications at this address.\n'
        f"To confirm, open this link while signed in to that account (valid until {until}):\n\n"
        f"{link}\n\n"
        f"or run: myriagate notifications verify {token}\n\n"
        f"If you did not ask for this, ignore this message: nothing will be sent to you.\n"
    )
    return Mail("[myriagate] Confirmez votre adresse / Confirm your address", body)


def trial_mail(*, username: str) -> Mail:
    """The message of the "send a test" button: proof that mail reaches the address."""
    body = (
        f"Ceci est un message d'essai demandé par le compte myriagate « {username} » : "
        f"les notifications par e-mail vous parviendront à cette adresse.\n"
        f"\n-- \n\n"
        f'This is a test message asked for by the myriagate account "{username}": '
        f"e-mail notifications will reach you at this address.\n"
    )
    return Mail("[myriagate] Message d'essai / Test message", body)
