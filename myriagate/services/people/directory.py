"""Read-only lists for the admin pages: institutions, projects and the audit log.

Scopes follow the API's matrix (docs/api.md, docs/allocations.md): platform admins see
everything; a university admin sees their own institution and its projects; the audit log is
for platform admins only. Changes go through ``services.allocations.grants`` as in the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.users import Institution, Project, User
from myriagate.errors import PermissionDenied
from myriagate.services.common import authz

MAX_AUDIT_PAGE = 200


def _require_admin(actor: User) -> None:
    if not (actor.is_platform_admin or actor.university_admin_of):
        raise PermissionDenied("only university admins and platform admins can do this")


def institutions(session: Session, actor: User) -> list[Institution]:
    """All institutions for a platform admin; their own for a university admin."""
    _require_admin(actor)
    stmt = sa.select(Institution).order_by(Institution.code)
    if not actor.is_platform_admin:
        stmt = stmt.where(Institution.code == actor.university_admin_of)
    return list(session.scalars(stmt))


def projects(session: Session, actor: User) -> list[Project]:
    """The projects whose grants ``actor`` manages, by cluster and account."""
    _require_admin(actor)
    stmt = sa.select(Project).order_by(Project.cluster, Project.slurm_account)
    if not actor.is_platform_admin:
        stmt = stmt.where(Project.institution == actor.university_admin_of)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class AuditLine:
    event: AuditEvent
    actor_name: str  # a username, or ``system`` / ``worker``


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditLine]
    has_more: bool


def audit_log(
    session: Session, actor: User, *, action: str | None = None, limit: int = 50, offset: int = 0
) -> AuditPage:
    """Audit events, newest first (platform admins), optionally of actions starting with ``action``."""
    authz.require_platform_admin(actor)
    limit = max(1, min(limit, MAX_AUDIT_PAGE))
    stmt = sa.select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    events = list(session.scalars(stmt.offset(max(0, offset)).limit(limit + 1)))
    ids = {uuid.UUID(e.actor) for e in events if _is_uuid(e.actor)}
    names = {
        uid: name for uid, name in session.execute(sa.select(User.id, User.username).where(User.id.in_(ids)))
    }
    lines = [
        AuditLine(e, names.get(uuid.UUID(e.actor), e.actor) if _is_uuid(e.actor) else e.actor)
        for e in events[:limit]
    ]
    return AuditPage(items=lines, has_more=len(events) > limit)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
