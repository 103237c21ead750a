"""A user's notification address: set by themselves and confirmed by a mailed link, or sent by
the institution's single sign-on; and the "send a test" of the settings page.

``User.email`` is the only address anything is sent to (notifications, Slurm's --mail-user),
and it always holds an address someone vouched for: an administrator, the single sign-on, or
the user who proved they read that mailbox. An address a user types waits in
``email_pending`` until its link is followed by the same user; until then the previous
address (if any) keeps receiving mail and the new one receives nothing but the link
(docs/notifications.md, "The address").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from myriagate.db.models.users import User
from myriagate.domain.email_addresses import EmailSource, checked_address, same_address
from myriagate.domain.email_verification import (
    VerificationClaim,
    read_claim,
    sign_claim,
    verification_mail,
)
from myriagate.domain.notification_text import clean
from myriagate.errors import (
    Conflict,
    InvalidRequest,
    MyriagateError,
    NotDelivered,
    PermissionDenied,
    RateLimited,
    Text,
)
from myriagate.ports import Clock, Mailer
from myriagate.services.common import audit

log = structlog.get_logger(__name__)

VERIFICATION_TTL = timedelta(hours=24)
# One link per minute at most: each one is a mail to an address nobody vouched for yet.
RESEND_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class LinkSent:
    address: str
    expires_at: datetime


def no_mail() -> Conflict:
    return Conflict(Text("This gateway sends no e-mail: ask its administrators to set up its mail server."))


def mail_failed(exc: MyriagateError, address: str) -> NotDelivered:
    """The researcher's words for a failed send: never the mail server's host or settings."""
    if exc.transient:
        return NotDelivered(
            Text("The gateway's mail server did not take the message: try again in a few minutes."),
            transient=True,
        )
    return NotDelivered(Text("The mail server refused to send to %(address)s.", address=address))


def request_verification(
    session: Session,
    user: User,
    address: str,
    *,
    clock: Clock,
    key: bytes,
    mailer: Mailer | None,
    link_for: Callable[[str], str],
) -> LinkSent | None:
    """Ask to receive mail at ``address``: mail it a confirmation link (``link_for(token)``).

    None when ``address`` is already the confirmed one (nothing to confirm; a pending change
    is dropped). Refused: an unusable address (InvalidRequest, nothing changed), a gateway
    without mail (Conflict), a second link within ``RESEND_AFTER`` (RateLimited).
    """
    address = checked_address(address)
    if same_address(address, user.email):
        if user.email_pending is not None:
            user.email_pending = user.email_pending_at = None
            session.commit()
        return None
    if mailer is None:
        raise no_mail()
    now = clock.now().replace(microsecond=0)  # the link names this second exactly
    _refuse_too_soon(user.email_pending_at, now)
    expires = now + VERIFICATION_TTL
    claim = VerificationClaim(user.id, address, int(now.timestamp()), int(expires.timestamp()))
    token = sign_claim(key, claim)
    link = link_for(token)  # may be refused (no public URL): before anything changes
    _take_the_minute(session, user, address, now)
    audit.record(session, user.id, "notifications.email_requested", ("user", user.id),
                 {"address": address}, at=now)  # fmt: skip
    session.commit()  # before the mail goes: the link must find its request
    mail = verification_mail(
        link=link, token=token, username=clean(user.username), expires_at=claim.expires_at
    )
    try:
        mailer.send(address, mail.subject, mail.body)
    except MyriagateError as exc:
        log.warning("notify.verification_not_sent", error=exc.detail)
        user.email_pending_at = None  # nothing arrived: asking again at once is fine
        session.commit()
        raise mail_failed(exc, address) from exc
    log.info("notify.verification_sent", user_id=str(user.id))
    return LinkSent(address, expires)


def _refuse_too_soon(asked_at: datetime | None, now: datetime) -> None:
    """RateLimited (with the seconds left) while the last link is less than a minute old."""
    if asked_at is not None and now - asked_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - asked_at)).total_seconds()) + 1
        raise RateLimited(
            Text(
                "A link was sent less than a minute ago: wait %(seconds)s s before asking again.",
                seconds=wait,
            ),
            retry_after_s=wait,
        )


def _take_the_minute(session: Session, user: User, address: str, now: datetime) -> None:
    """Store the pending address, unless another link went within the minute since ``user``
    was read: requests sent together must not each pass the check (one mail each to addresses
    nobody vouched for), so the check and the write are one conditional UPDATE."""
    free = sa.or_(User.email_pending_at.is_(None), User.email_pending_at <= now - RESEND_AFTER)
    stmt = sa.update(User).where(User.id == user.id, free).values(email_pending=address, email_pending_at=now)
    result = session.execute(stmt, execution_options={"synchronize_session": False})
    if getattr(result, "rowcount", 0) != 1:
        session.rollback()
        session.refresh(user)
        # Freed again since (the other link's mail failed): still one request at a time.
        _refuse_too_soon(user.email_pending_at or now, now)
    set_committed_value(user, "email_pending", address)
    set_committed_value(user, "email_pending_at", now)


def checked_link(user: User, token: str, *, clock: Clock, key: bytes) -> VerificationClaim:
    """What a confirmation link asks, if ``user`` may follow it now (nothing is changed).

    Refused: a damaged, forged or expired link (InvalidRequest), a link of another account
    (PermissionDenied), a link superseded by a newer request (InvalidRequest). The link of an
    address already confirmed is accepted: following it again is harmless.
    """
    claim = read_claim(key, token, now=clock.now())
    if claim.user_id != user.id:
        log.warning("notify.verification_other_user", user_id=str(user.id))
        raise PermissionDenied(
            Text(
                "This link was sent for another account: sign in with the account that asked for "
                "it, then open the link again."
            )
        )
    if user.email_pending is None and user.email == claim.address:
        return claim
    asked_at = user.email_pending_at
    if (
        user.email_pending != claim.address
        or asked_at is None
        or int(asked_at.timestamp()) != claim.requested_at
    ):
        raise InvalidRequest(
            Text(
                "This link is no longer valid: a newer link was sent since, or the address was "
                "changed. Use the newest e-mail, or ask for a new link."
            )
        )
    return claim


def confirm(session: Session, user: User, token: str, *, clock: Clock, key: bytes) -> str:
    """Follow a confirmation link as ``user`` (refusals: ``checked_link``): the address it names
    becomes the one their mail goes to, confirmed by them; returns it."""
    claim = checked_link(user, token, clock=clock, key=key)
    if user.email_pending is None and user.email == claim.address:
        return claim.address
    previous = user.email
    user.email, user.email_source, user.email_verified_at = claim.address, EmailSource.USER, clock.now()
    user.email_pending = user.email_pending_at = None
    audit.record(session, user.id, "notifications.email_verified", ("user", user.id),
                 {"address": claim.address, "previous": previous}, at=clock.now())  # fmt: skip
    session.commit()
    return claim.address


def from_single_sign_on(session: Session, user: User, header: str | None, *, clock: Clock) -> None:
    """Take the address the trusted proxy sent for ``user`` (not committed: the caller does).

    It counts as confirmed (the institution vouches for it) and replaces an address set by an
    administrator or an earlier sign-on, never one the user confirmed themselves. An address
    that cannot be used is ignored (and logged): it must not stop anyone signing in.
    """
    if not header or user.email_source is EmailSource.USER:
        return
    try:
        address = checked_address(header)
    except InvalidRequest:
        log.warning("sso_email_ignored", user_id=str(user.id))
        return
    if user.email == address and user.email_source is EmailSource.SSO:
        return
    previous = user.email
    user.email, user.email_source, user.email_verified_at = address, EmailSource.SSO, clock.now()
    if same_address(user.email_pending, address):
        user.email_pending = user.email_pending_at = None
    audit.record(session, user.id, "notifications.email_from_sso", ("user", user.id),
                 {"address": address, "previous": previous}, at=clock.now())  # fmt: skip
