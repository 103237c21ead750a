"""Queries of the notification outbox, preferences, webhooks and balance watch.

Queuing is ``INSERT … ON CONFLICT DO NOTHING`` on the outbox's unique key, so an event
queued twice (a retried tick, two workers) is one delivery, without an IntegrityError that
would spoil the caller's transaction. Claiming is one conditional ``UPDATE … WHERE
next_attempt_at <= :now RETURNING id``: a claimed row's ``next_attempt_at`` moves into the
future, so a second sender's UPDATE no longer matches it (PostgreSQL re-checks the condition
after waiting for the row lock; SQLite writers take turns).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, AllocationPeriod, EntryKind, LedgerEntry
from myriagate.db.models.notifications import BalanceWatch, Notification, NotificationPreference, Webhook
from myriagate.db.models.users import Membership, MembershipRole, Project, User
from myriagate.domain.notifications import NotificationKind

OUTBOX = cast(sa.Table, Notification.__table__)


def queue(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert outbox rows, skipping any already queued; how many were offered.

    One constant statement run with a parameter list: compiled once and cached, which
    matters when a tick finishes a thousand jobs (a multi-VALUES statement compiles anew
    each time).
    """
    values = [dict(r) for r in rows]
    if values:
        session.execute(_insert_once(session.get_bind().dialect.name), values)
    return len(values)


@functools.cache
def _insert_once(dialect: str) -> sa.Executable:
    keys = ["event_key", "user_id", "target"]
    if dialect == "postgresql":
        return postgresql.insert(OUTBOX).on_conflict_do_nothing(index_elements=keys)
    if dialect == "sqlite":
        return sqlite.insert(OUTBOX).on_conflict_do_nothing(index_elements=keys)
    raise NotImplementedError(f"the outbox is not implemented for {dialect}")


def claim(session: Session, holder: str, *, now: datetime, until: datetime, limit: int) -> list[int]:
    """Take up to ``limit`` due deliveries for ``holder`` until ``until`` (not committed)."""
    c = OUTBOX.c
    due = sa.select(c.id).where(c.next_attempt_at <= now).order_by(c.next_attempt_at, c.id).limit(limit)
    stmt = (
        sa.update(OUTBOX)
        .where(c.id.in_(due.scalar_subquery()), c.next_attempt_at <= now)
        .values(claimed_by=holder, next_attempt_at=until, attempts=c.attempts + 1)
        .returning(c.id)
    )
    return sorted(int(i) for i in session.execute(stmt).scalars())


def finish(
    session: Session,
    notification_id: int,
    holder: str,
    *,
    sent_at: datetime | None = None,
    abandoned_at: datetime | None = None,
    retry_at: datetime | None = None,
    error: str | None = None,
) -> bool:
    """Record the outcome of ``holder``'s attempt; False when the claim was lost meanwhile."""
    c = OUTBOX.c
    result = session.execute(
        sa.update(OUTBOX)
        .where(c.id == notification_id, c.claimed_by == holder)
        .values(
            sent_at=sent_at,
            abandoned_at=abandoned_at,
            next_attempt_at=retry_at,
            claimed_by=None,
            last_error=error[:2000] if error else None,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def purge(session: Session, *, before: datetime) -> int:
    """Delete delivered or abandoned rows created before ``before``."""
    c = OUTBOX.c
    result = session.execute(sa.delete(OUTBOX).where(c.next_attempt_at.is_(None), c.created_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


def of_user(session: Session, user_id: uuid.UUID, *, limit: int = 50) -> list[Notification]:
    stmt = (
        sa.select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


# --- preferences and webhooks ------------------------------------------------------------
def preferences(session: Session, user_id: uuid.UUID) -> dict[NotificationKind, NotificationPreference]:
    rows = session.scalars(sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id))
    return {row.kind: row for row in rows}


def set_preference(
    session: Session, user_id: uuid.UUID, kind: NotificationKind, *, email: bool, webhook: bool
) -> NotificationPreference:
    row = session.get(NotificationPreference, (user_id, kind))
    if row is None:
        row = NotificationPreference(user_id=user_id, kind=kind, email=email, webhook=webhook)
        session.add(row)
    else:
        row.email, row.webhook = email, webhook
    return row


def webhooks(session: Session, user_id: uuid.UUID) -> list[Webhook]:
    stmt = sa.select(Webhook).where(Webhook.user_id == user_id).order_by(Webhook.created_at, Webhook.id)
    return list(session.scalars(stmt))


def get_webhook(session: Session, webhook_id: uuid.UUID) -> Webhook | None:
    return session.get(Webhook, webhook_id)


# --- balance watch -------------------------------------------------------------------------
def current_allocations(
    session: Session, now: datetime
) -> list[tuple[Allocation, Project, AllocationPeriod, BalanceWatch | None]]:
    """Allocations of the periods running at ``now``, with what the watch last saw of them."""
    stmt = (
        sa.select(Allocation, Project, AllocationPeriod, BalanceWatch)
        .join(Project, Project.id == Allocation.project_id)
        .join(AllocationPeriod, AllocationPeriod.id == Allocation.period_id)
        .outerjoin(BalanceWatch, BalanceWatch.allocation_id == Allocation.id)
        .where(AllocationPeriod.starts_at <= now, AllocationPeriod.ends_at > now)
        .order_by(Allocation.id)
    )
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]


def grant_entries(session: Session, allocation_id: uuid.UUID, *, after_id: int) -> list[LedgerEntry]:
    """Grants and adjustments of an allocation after ``after_id`` (uses the (allocation, id) index)."""
    stmt = (
        sa.select(LedgerEntry)
        .where(
            LedgerEntry.allocation_id == allocation_id,
            LedgerEntry.id > after_id,
            LedgerEntry.kind.in_([EntryKind.GRANT, EntryKind.ADJUSTMENT]),
        )
        .order_by(LedgerEntry.id)
    )
    return list(session.scalars(stmt))


def project_leads(session: Session, project: Project) -> list[User]:
    stmt = (
        sa.select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.project_id == project.id,
            Membership.role == MembershipRole.PROJECT_LEAD,
            User.is_active.is_(True),
        )
        .order_by(User.username)
    )
    return list(session.scalars(stmt))
