"""Notifications, the delivery side: claim due outbox rows, send them, retry with back-off.

Each pass claims up to ``limit`` due rows with one conditional UPDATE (repos.notifications),
commits the claim, then sends them one by one and records each outcome at once. A claim
lasts ``CLAIM_S``: a sender killed mid-pass leaves rows that become due again after that, so
nothing is lost; the price is that a message sent just before the crash may go out twice
(at-least-once, like any outbox). Failures are retried after ``RETRY_DELAYS_S``; a failure
that cannot get better (address refused, redirect, no channel configured) or the last
attempt gives up (``abandoned_at`` with ``last_error``). Rows older than ``MAX_AGE`` are not
sent any more: a week-old "job started" helps nobody.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.notifications import Notification, Webhook
from myriagate.db.models.users import User
from myriagate.db.repos import notifications as repo
from myriagate.domain.notification_text import render
from myriagate.domain.notifications import Channel
from myriagate.domain.webhook_rules import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from myriagate.errors import ConfigError, MyriagateError
from myriagate.ports import Clock, Mailer, WebhookPoster
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.common.leases import holder_id

log = structlog.get_logger(__name__)

CLAIM_S = 120.0
# Attempt n failed → next attempt after RETRY_DELAYS_S[n-1]; after the last, give up (~6 h).
RETRY_DELAYS_S: tuple[float, ...] = (30, 120, 600, 1800, 3600, 7200, 7200)
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
MAX_AGE = timedelta(days=2)
KEEP_FOR = timedelta(days=30)


@dataclass(frozen=True)
class Channels:
    """The configured ways out; None means that channel is not set up on this gateway.

    ``webhook_secrets`` opens the webhooks' stored (sealed) secrets to sign deliveries.
    """

    mailer: Mailer | None = None
    webhooks: WebhookPoster | None = None
    webhook_secrets: SecretSealer | None = None


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    abandoned: int = 0
    errors: list[str] = field(default_factory=list)


class _GiveUp(Exception):
    """Delivery cannot succeed later either."""


def run_pending(
    session_factory: sessionmaker[Session],
    channels: Channels,
    *,
    clock: Clock,
    holder: str | None = None,
    limit: int = 100,
) -> SendResult:
    """One pass: deliver every due notification (up to ``limit``); what happened."""
    me = holder or holder_id()
    result = SendResult()
    with session_factory() as session:
        now = clock.now()
        ids = repo.claim(session, me, now=now, until=now + timedelta(seconds=CLAIM_S), limit=limit)
        session.commit()
        down: dict[str, MyriagateError] = {}  # destinations that failed in this pass
        for notification_id in ids:
            _deliver_one(session, channels, notification_id, me, clock, result, down)
    return result


def _deliver_one(
    session: Session,
    channels: Channels,
    notification_id: int,
    me: str,
    clock: Clock,
    result: SendResult,
    down: dict[str, MyriagateError],
) -> None:
    row = session.get(Notification, notification_id)
    if row is None:  # its webhook was deleted meanwhile (cascade)
        return
    try:
        if row.created_at < clock.now() - MAX_AGE:
            raise _GiveUp(f"older than {MAX_AGE.days} days: not sent any more")
        _send(session, channels, row, clock, down)
    except (_GiveUp, MyriagateError) as exc:
        error = exc.detail if isinstance(exc, MyriagateError) else str(exc)
        final = isinstance(exc, _GiveUp) or not exc.transient or row.attempts >= MAX_ATTEMPTS
        now = clock.now()
        if final:
            repo.finish(session, row.id, me, abandoned_at=now, error=error)
            result.abandoned += 1
        else:
            retry_at = now + timedelta(seconds=RETRY_DELAYS_S[row.attempts - 1])
            repo.finish(session, row.id, me, retry_at=retry_at, error=error)
            result.retried += 1
        result.errors.append(error)
        log.warning("notice.not_sent", id=row.id, kind=row.kind.value, attempts=row.attempts,
                    final=final, error=error)  # fmt: skip
    else:
        repo.finish(session, row.id, me, sent_at=clock.now())
        result.sent += 1
    session.commit()


def _send(
    session: Session, channels: Channels, row: Notification, clock: Clock, down: dict[str, MyriagateError]
) -> None:
    # A destination that just failed transiently is not tried again in this pass: an SMTP
    # server that hangs would otherwise cost its timeout once per queued message.
    destination = "email" if row.channel is Channel.EMAIL else f"webhook:{row.webhook_id}"
    if destination in down:
        raise down[destination]
    try:
        _send_to(session, channels, row, clock)
    except MyriagateError as exc:
        if exc.transient:
            down[destination] = exc
        raise


def _send_to(session: Session, channels: Channels, row: Notification, clock: Clock) -> None:
    if row.channel is Channel.EMAIL:
        user = session.get(User, row.user_id)
        if channels.mailer is None:
            raise _GiveUp("no SMTP server configured (MYRIAGATE_SMTP_HOST)")
        if user is None or not user.email:
            raise _GiveUp("the user has no e-mail address any more")
        message = render(row.kind, row.payload)
        channels.mailer.send(user.email, message.subject, message.body)
        return
    hook = session.get(Webhook, row.webhook_id) if row.webhook_id else None
    if hook is None:
        raise _GiveUp("the webhook was deleted")
    if channels.webhooks is None:
        raise _GiveUp("webhooks are not enabled on this gateway")
    if channels.webhook_secrets is None:
        raise _GiveUp("no key to open the webhook's secret (MYRIAGATE_SECRET_KEY) on this sender")
    try:
        secret = channels.webhook_secrets.unseal(hook.sealed_secret)
    except ConfigError as exc:  # the secret key changed: no later attempt can do better
        raise _GiveUp(f"{exc.detail}; restore the old key, or delete the webhook and add it again") from exc
    body = webhook_body(row)
    timestamp = int(clock.now().timestamp())
    headers = {
        EVENT_HEADER: row.kind.value,
        DELIVERY_HEADER: str(row.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    channels.webhooks.post(hook.url, body, headers)


def webhook_body(row: Notification) -> bytes:
    """The JSON a webhook receives: the event's key, kind, time and payload."""
    document = {
        "event": row.event_key,
        "kind": row.kind.value,
        "delivery": row.id,
        "created_at": row.created_at.isoformat(),
        "data": row.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def purge(session_factory: sessionmaker[Session], *, clock: Clock) -> int:
    """Forget deliveries done or abandoned more than ``KEEP_FOR`` ago."""
    with session_factory() as session:
        count = repo.purge(session, before=clock.now() - KEEP_FOR)
        session.commit()
    return count


def run_loop(
    session_factory: sessionmaker[Session],
    channels: Channels,
    stop: threading.Event,
    *,
    clock: Clock,
    interval_s: float = 5.0,
    every_minute: Callable[[], object] | None = None,
) -> None:
    """Deliver until ``stop`` is set; ``every_minute`` (the balance watch) runs beside it."""
    me = holder_id()
    last_minute: datetime | None = None
    while not stop.is_set():
        try:
            now = clock.now()
            if every_minute is not None and (
                last_minute is None or now - last_minute >= timedelta(minutes=1)
            ):
                last_minute = now
                every_minute()
                purge(session_factory, clock=clock)
            result = run_pending(session_factory, channels, clock=clock, holder=me)
            busy = result.sent + result.retried + result.abandoned > 0
        except Exception:  # a failed pass must not end the thread: log it and try again
            log.exception("notice.loop_error")
            busy = False
        stop.wait(0 if busy else interval_s)
