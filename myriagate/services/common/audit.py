"""Recording audited actions. The caller's transaction decides when they become durable."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.audit import AuditEvent
from myriagate.db.repos import audit as audit_repo

log = structlog.get_logger(__name__)

SYSTEM = "system"
WORKER = "worker"
# Who did it: a user's id, or SYSTEM / WORKER.
Actor = uuid.UUID | str


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: tuple[str, object] | None = None,
    detail: Mapping[str, Any] | None = None,
    source: str = "api",
    *,
    at: datetime | None = None,
) -> AuditEvent:
    """Add an audit event (``actor`` is a user id or ``system``/``worker``; target is (type, id)).

    The event is added to the session, not committed, so it lands in the same transaction as
    the change it describes.
    """
    return audit_repo.add(session, **event_values(actor, action, target, detail, source, at=at))


def event_values(
    actor: Actor,
    action: str,
    target: tuple[str, object] | None = None,
    detail: Mapping[str, Any] | None = None,
    source: str = "api",
    *,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The columns of the event ``record`` adds, logged as ``record`` logs it: for a caller
    that writes the row with a statement of its own (a submission writes its rows in one go)."""
    target_type, target_id = (target[0], str(target[1])) if target is not None else (None, None)
    log.info("audit", action=action, actor=str(actor), target_type=target_type, target_id=target_id)
    return {
        "at": at if at is not None else datetime.now(UTC),
        "actor": str(actor),
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "detail": dict(detail or {}),
        "source": source,
    }
