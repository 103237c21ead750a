"""Appending to and reading the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.audit import AuditEvent


def add(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    target_type: str | None,
    target_id: str | None,
    detail: Mapping[str, Any],
    source: str,
) -> AuditEvent:
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=dict(detail),
        source=source,
    )
    session.add(event)
    return event


def for_target(session: Session, target_type: str, target_id: str) -> list[AuditEvent]:
    """Events about one object, oldest first."""
    stmt = (
        sa.select(AuditEvent)
        .where(AuditEvent.target_type == target_type, AuditEvent.target_id == target_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return list(session.scalars(stmt))
