"""A person's e-mail address: what the gateway accepts, and where an address came from.

An address ends up in mail headers (``To:``), in the SMTP envelope and, as ``--mail-user``,
on an sbatch command line, so it is read strictly: one line, plain ASCII, at most 254
characters (RFC 5321's limit on a path), and the shape Slurm's ``--mail-user`` reader takes
(``domain.sbatch_options.kinds.email``). Each refusal says what is wrong, in words a
researcher can act on. No I/O here.
"""

from __future__ import annotations

import re
from enum import StrEnum

from myriagate.errors import FieldError, InvalidRequest, Text

MAX_LENGTH = 254
# Local part: letters, digits and ._+- (not starting with '-', which a command line would read
# as an option; no '%', an old relaying trick); domain: dot-separated labels, a final label of
# letters. No quoted local parts, no IP literals: nobody at CRIANN's universities needs them,
# and every reader takes these.
_LOCAL = re.compile(r"^(?!-)(?!\.)(?!.*\.\.)[A-Za-z0-9._+-]{1,64}(?<!\.)\Z")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_TLD = re.compile(r"^[A-Za-z]{2,24}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


class EmailSource(StrEnum):
    """Who vouched for a user's address (stored value = API value)."""

    ADMIN = "admin"  # set by an administrator (or before sources were recorded)
    SSO = "sso"  # sent by the institution's single sign-on, through the trusted proxy
    USER = "user"  # set by the user and confirmed through the link mailed to it


def _refuse(message: Text, field: str) -> InvalidRequest:
    return InvalidRequest(message, fields=[FieldError((field,), message)])


def checked_address(text: str, field: str = "address") -> str:
    """``text`` as an address the gateway can mail and give sbatch; InvalidRequest otherwise.

    Spaces around the address are dropped; anything else is read as written (case kept: a
    mailbox's local part may be case-sensitive).
    """
    value = text.strip(" ")
    if not value:
        raise _refuse(Text("Give an e-mail address."), field)
    if _CONTROL.search(value):
        # A line break here would start a new mail header (header injection): never repaired.
        raise _refuse(
            Text("An e-mail address must be one line, without line breaks or control characters."), field
        )
    if len(value) > MAX_LENGTH:
        raise _refuse(Text("An e-mail address has at most %(limit)s characters.", limit=MAX_LENGTH), field)
    if not value.isascii():
        raise _refuse(
            Text(
                "Write the e-mail address in plain ASCII: addresses with accented or other "
                "non-ASCII letters cannot be used here."
            ),
            field,
        )
    local, at, domain = value.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or not _LOCAL.match(local)
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise _refuse(Text("%(address)s is not an e-mail address (name@example.org).", address=value), field)
    return value


def same_address(a: str | None, b: str | None) -> bool:
    """Whether two addresses are the same mailbox as far as the gateway cares: the domain is
    case-insensitive; the local part is compared as written."""
    if a is None or b is None:
        return a is b
    local_a, _, domain_a = a.rpartition("@")
    local_b, _, domain_b = b.rpartition("@")
    return local_a == local_b and domain_a.lower() == domain_b.lower()
