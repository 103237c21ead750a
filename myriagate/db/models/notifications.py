"""Notifications: the outbox of deliveries, per-user preferences and webhooks, the balance watch.

The outbox (``notifications``) holds one row per (event, recipient, target) — ``target`` is
``email`` or ``webhook:<id>`` — written in the same transaction as the change that caused
the event; a unique key makes queuing the same event twice a no-op. ``next_attempt_at`` is
NULL once nothing more is to be done (sent or given up), so "what is due" is one index
range. See docs/notifications.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from myriagate.db.base import Base, str_enum
from myriagate.domain.notifications import Channel, NotificationKind

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Notification(Base):
    """One delivery to do (or done): an event for one user through one target."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("event_key", "user_id", "target"),
        sa.Index("ix_notifications_next_attempt_at", "next_attempt_at"),
        sa.Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    # What happened, stable across retries: ``job:<uuid>:job_finished``, ``balance:<uuid>:10:…``.
    event_key: Mapped[str] = mapped_column(sa.String(255))
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, length=16))
    target: Mapped[str] = mapped_column(sa.String(64))
    # Deleting a webhook drops its pending deliveries with it.
    webhook_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(255))
    sent_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class NotificationPreference(Base):
    """A user's choice for one kind of event; no row means the documented default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind), primary_key=True)
    email: Mapped[bool] = mapped_column(server_default=sa.false())
    webhook: Mapped[bool] = mapped_column(server_default=sa.false())


class Webhook(Base):
    """A URL a user wants events POSTed to, signed with its own secret (shown once)."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    # Needed in clear to sign each delivery (HMAC), so it cannot be hashed like a token: stored
    # sealed (myriagate.sealed_secrets, a key derived from MYRIAGATE_SECRET_KEY), never in clear.
    sealed_secret: Mapped[str] = mapped_column("secret", sa.String(512))
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime]


class BalanceWatch(Base):
    """What the balance watch last saw of an allocation, so each level is told once.

    ``level`` is the lowest threshold already notified since the grant last changed;
    ``grant_version`` counts the grant changes seen (it keys the "grant changed" events).
    """

    __tablename__ = "balance_watch"

    allocation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("allocations.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int]
    granted_core_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    granted_gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    grant_version: Mapped[int] = mapped_column(default=0, server_default="0")
    last_entry_id: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    checked_at: Mapped[datetime]
