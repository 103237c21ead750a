"""The "send a test" buttons: one message to the user's address, or one signed POST to one of
their webhooks, sent at once (not through the outbox) so the answer says whether it arrived.

A test webhook delivery is shaped and signed like every other (docs/notifications.md,
"Webhooks"), with ``kind`` ``test``, ``delivery`` 0 and an ``event`` of its own
(``test:<uuid>``), so a receiver can check its signature code with it and tell it apart.
"""

from __future__ import annotations

import json
import re
import uuid

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.notifications import Webhook
from myriagate.db.models.users import User
from myriagate.db.repos import notifications as repo
from myriagate.domain.email_verification import trial_mail
from myriagate.domain.notification_text import clean
from myriagate.domain.webhook_rules import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from myriagate.errors import ConfigError, Conflict, MyriagateError, NotDelivered, NotFound, Text
from myriagate.logs import redact_url
from myriagate.ports import Clock, Mailer, WebhookPoster
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications.addresses import mail_failed, no_mail

log = structlog.get_logger(__name__)
TRIAL_KIND = "test"


def send_trial_email(user: User, mailer: Mailer | None) -> str:
    """Send the test message to ``user``'s confirmed address; returns the address."""
    if mailer is None:
        raise no_mail()
    if not user.email:
        raise Conflict(Text("You have no confirmed e-mail address yet: there is nowhere to send a test."))
    mail = trial_mail(username=clean(user.username))
    try:
        mailer.send(user.email, mail.subject, mail.body)
    except MyriagateError as exc:
        log.warning("notify.trial_email_not_sent", error=exc.detail)
        raise mail_failed(exc, user.email) from exc
    return user.email


def trial_body(user: User, *, at_iso: str) -> bytes:
    document = {
        "event": f"{TRIAL_KIND}:{uuid.uuid4()}",
        "kind": TRIAL_KIND,
        "delivery": 0,
        "created_at": at_iso,
        "data": {"message": "a test delivery asked for from myriagate", "username": user.username},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def send_trial_webhook(
    session: Session,
    user: User,
    webhook_id: uuid.UUID,
    *,
    poster: WebhookPoster | None,
    sealer: SecretSealer,
    clock: Clock,
) -> Webhook:
    """POST a signed test delivery to one of ``user``'s webhooks; the webhook it went to.

    NotFound for a webhook that is not theirs; NotDelivered (with the webhook's answer, its
    URL shown without path or query) when it did not take it.
    """
    hook = repo.get_webhook(session, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise NotFound(Text("You have no such webhook."))
    session.commit()  # no database connection is held while the webhook answers (or not)
    if poster is None:
        raise Conflict(Text("This gateway sends no webhooks."))
    try:
        secret = sealer.unseal(hook.sealed_secret)
    except ConfigError as exc:
        raise Conflict(
            Text("This webhook's secret can no longer be read on this gateway: delete it and add it again.")
        ) from exc
    now = clock.now()
    body = trial_body(user, at_iso=now.isoformat())
    timestamp = int(now.timestamp())
    headers = {
        EVENT_HEADER: TRIAL_KIND,
        DELIVERY_HEADER: "0",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    try:
        poster.post(hook.url, body, headers)
    except MyriagateError as exc:
        log.info("notify.trial_webhook_not_sent", error=exc.detail)
        message = Text(
            "The test did not reach %(url)s: %(why)s.", url=redact_url(hook.url), why=why_not(exc.detail)
        )
        raise NotDelivered(message, transient=exc.transient) from exc
    return hook


_REDIRECT = re.compile(r"answered a redirect \((\d{3})\)")
_ANSWERED = re.compile(r"answered HTTP (\d{3})")


def why_not(detail: str) -> str:
    """What ``HttpWebhookPoster`` said went wrong, in words a researcher can act on (and that
    pages can say in French); its own text when it is none of the usual cases."""
    if found := _REDIRECT.search(detail):
        return Text(
            "it answered a redirect (HTTP %(status)s), and redirects are never followed", status=found[1]
        )
    if found := _ANSWERED.search(detail):
        return Text("it answered HTTP %(status)s instead of a 2xx success", status=found[1])
    if "does not resolve" in detail or "has no address" in detail:
        return Text("its host name does not resolve")
    if "unreachable" in detail:
        return Text("its server could not be reached (connection refused or no answer in time)")
    if " refused: " in detail:
        return Text(
            "its address is not allowed for webhooks (%(reason)s)", reason=detail.partition(" refused: ")[2]
        )
    return detail
