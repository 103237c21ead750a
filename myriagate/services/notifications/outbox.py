"""Notifications, the queuing side: which events are worth telling, to whom, through what.

Events are queued in the caller's transaction (the outbox): ``job_state_changed`` is called
by ``transitions.move`` right after the history row, and the balance watch queues allocation
events. Nothing is sent here; ``services.notifications.sender`` delivers. Recipients: the job's
owner for job events, the project's leads for allocation events (members see balances on
their dashboard and are refused at submit; they are not mailed). Each recipient gets one
delivery per channel they want: e-mail (if they have an address) and each of their
webhooks. Preferences and webhooks are managed here too (docs/notifications.md).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.notifications import Webhook
from myriagate.db.models.users import User
from myriagate.db.repos import notifications as repo
from myriagate.domain.job_explanations import exit_code_shown
from myriagate.domain.notifications import (
    EMAIL_DEFAULTS,
    WEBHOOK_DEFAULTS,
    Channel,
    NotificationKind,
    job_notification,
)
from myriagate.domain.states import JobState
from myriagate.domain.webhook_rules import check_url
from myriagate.errors import InvalidRequest, NotFound
from myriagate.ports import Clock
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.common import audit

log = structlog.get_logger(__name__)
MAX_WEBHOOKS_PER_USER = 5


@dataclass(frozen=True)
class Preference:
    email: bool
    webhook: bool


# --- queuing -------------------------------------------------------------------------------
def job_state_changed(
    session: Session, job: Job, from_state: JobState | None, to_state: JobState, *, at: datetime
) -> int:
    """Queue the notification a job's move deserves (if any) for its owner; how many deliveries."""
    kind = job_notification(from_state, to_state, cancel_requested=job.cancel_requested_at is not None)
    if kind is None:
        return 0
    owner = session.get(User, job.user_id)
    if owner is None or not owner.is_active:
        return 0
    payload = {
        "job_id": str(job.id),
        "slurm_job_id": job.slurm_job_id,
        "job_name": job.job_name,
        "cluster": job.cluster,
        "slurm_account": job.slurm_account,
        "from_state": from_state.value if from_state else None,
        "state": to_state.value,
        "reason": job.reason,
        # The script's own exit code only: sacct prints 0 for a job cancelled, timed out or
        # killed, which no e-mail should call its exit code (domain.job_explanations).
        "exit_code": exit_code_shown(to_state, job.exit_code, job.signal),
        "signal": job.signal if to_state.is_final else None,
        "at": at.isoformat(),
    }
    return queue(session, kind=kind, event_key=f"job:{job.id}:{kind.value}", payload=payload,
                 recipients=[owner], at=at)  # fmt: skip


def queue(
    session: Session,
    *,
    kind: NotificationKind,
    event_key: str,
    payload: Mapping[str, Any],
    recipients: Iterable[User],
    at: datetime,
) -> int:
    """Queue ``event_key`` for each recipient and channel they want; never twice (unique key)."""
    rows: list[dict[str, Any]] = []
    for user in recipients:
        prefs, hooks = _channels_of(session, user.id)
        pref = prefs[kind]
        base = {"event_key": event_key, "kind": kind, "user_id": user.id, "payload": dict(payload),
                "created_at": at, "next_attempt_at": at, "attempts": 0}  # fmt: skip
        if pref.email and user.email:
            rows.append({**base, "channel": Channel.EMAIL, "target": "email", "webhook_id": None})
        if pref.webhook:
            for hook in hooks:
                rows.append({**base, "channel": Channel.WEBHOOK, "target": f"webhook:{hook.id}",
                             "webhook_id": hook.id})  # fmt: skip
    # Not logged: the job's move is, and a tick may queue thousands (the sender logs sends).
    return repo.queue(session, rows)


_CACHE = "myriagate.notifications.channels"


def _channels_of(
    session: Session, user_id: uuid.UUID
) -> tuple[dict[NotificationKind, Preference], list[Webhook]]:
    """A user's preferences and webhooks, read once per transaction.

    A tick finishing a thousand jobs of one user asks a thousand times. Preferences and
    webhooks change only through their own requests (which commit), so the answer is kept in
    ``session.info`` and dropped whenever a transaction ends (commit, rollback, close).
    """
    if _CACHE not in session.info:  # first use by this session: empty it whenever a transaction ends
        session.info[_CACHE] = {}
        sa.event.listen(session, "after_transaction_end", _forget_channels)
    cache: dict[uuid.UUID, tuple[dict[NotificationKind, Preference], list[Webhook]]] = session.info[_CACHE]
    if user_id not in cache:
        cache[user_id] = (preferences_of(session, user_id), repo.webhooks(session, user_id))
    return cache[user_id]


def _forget_channels(session: Session, _transaction: object) -> None:
    session.info[_CACHE].clear()


# --- preferences -----------------------------------------------------------------------------
def preferences_of(session: Session, user_id: uuid.UUID) -> dict[NotificationKind, Preference]:
    """Every kind's choice for ``user_id``: the stored one, else the documented default."""
    stored = repo.preferences(session, user_id)
    return {
        kind: Preference(stored[kind].email, stored[kind].webhook)
        if kind in stored
        else Preference(EMAIL_DEFAULTS[kind], WEBHOOK_DEFAULTS[kind])
        for kind in NotificationKind
    }


def set_preferences(
    session: Session,
    user: User,
    changes: Mapping[NotificationKind, Mapping[str, bool | None]],
    *,
    clock: Clock,
) -> dict[NotificationKind, Preference]:
    """Change some kinds' channels (``{"email": bool, "webhook": bool}``, either omitted)."""
    current = preferences_of(session, user.id)
    for kind, change in changes.items():
        email, webhook = change.get("email"), change.get("webhook")
        repo.set_preference(
            session,
            user.id,
            kind,
            email=current[kind].email if email is None else bool(email),
            webhook=current[kind].webhook if webhook is None else bool(webhook),
        )
    audit.record(session, user.id, "notifications.preferences", ("user", user.id),
                 {k.value: dict(v) for k, v in changes.items()}, at=clock.now())  # fmt: skip
    session.commit()
    return preferences_of(session, user.id)


# --- webhooks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str


def add_webhook(
    session: Session,
    user: User,
    *,
    url: str,
    description: str = "",
    dev_mode: bool,
    clock: Clock,
    sealer: SecretSealer,
) -> NewWebhook:
    """Register a webhook for ``user`` after checking its URL; the secret is returned once
    and stored only sealed by ``sealer`` (``SecretSealer.for_webhooks``)."""
    check_url(url, dev_mode=dev_mode)
    if len(description) > 255:
        raise InvalidRequest("a webhook description has at most 255 characters")
    if len(repo.webhooks(session, user.id)) >= MAX_WEBHOOKS_PER_USER:
        raise InvalidRequest(f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user")
    secret = secrets.token_urlsafe(32)
    hook = Webhook(
        user_id=user.id,
        url=url,
        sealed_secret=sealer.seal(secret),
        description=description,
        created_at=clock.now(),
    )
    session.add(hook)
    session.flush()
    audit.record(session, user.id, "notifications.webhook_add", ("webhook", hook.id), {"url": url},
                 at=clock.now())  # fmt: skip
    session.commit()
    return NewWebhook(hook, secret)


def list_webhooks(session: Session, user: User) -> list[Webhook]:
    return repo.webhooks(session, user.id)


def delete_webhook(session: Session, user: User, webhook_id: uuid.UUID, *, clock: Clock) -> None:
    """Remove one of ``user``'s webhooks (and its pending deliveries); NotFound otherwise."""
    hook = repo.get_webhook(session, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise NotFound(f"no webhook {webhook_id}")
    session.delete(hook)
    audit.record(session, user.id, "notifications.webhook_delete", ("webhook", webhook_id),
                 {"url": hook.url}, at=clock.now())  # fmt: skip
    session.commit()
