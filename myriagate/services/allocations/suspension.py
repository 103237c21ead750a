"""Suspending a project by hand, and lifting it (docs/allocations.md, "Suspending a project").

A centre suspends a project at once (a security incident, an expired agreement, a misuse):
while suspended, every new submission for it (API, form, CLI, interactive sessions, a job
submitted again) is refused before anything is written, held or sent (``refuse_if_suspended``,
called by the submission service), and ``admin slurm-sync`` pauses its Slurm account
(``GrpSubmitJobs=0``). Jobs already queued or running are not touched: cancelling them is a
separate decision, and the answer says how many there are. Who may: exactly who may grant
(platform admins; the university admin of the project's institution). The suspension (who,
when, why) is on the project; every suspension and lifting is audited with its reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import Membership, Project, User
from myriagate.db.repos import projects as projects_repo
from myriagate.domain import values
from myriagate.errors import (
    Conflict,
    FieldError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProjectSuspended,
    Text,
)
from myriagate.ports import Clock
from myriagate.services.common import audit, authz
from myriagate.services.people.member_jobs import ACTIVE_STATES, QUEUED_STATES

MAX_REASON = 1000  # characters: a sentence or two, shown to the project's researchers


@dataclass(frozen=True)
class Suspension:
    """A project's suspension as its readers see it, with its jobs still queued or running."""

    cluster: str
    slurm_account: str
    institution: str
    suspended_at: datetime | None
    suspended_by: str | None
    reason: str | None
    queued_jobs: int = 0
    running_jobs: int = 0
    can_change: bool = False  # the reader may suspend or resume it

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


def _since(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _refusal(cluster: str, slurm_account: str, since: datetime, reason: str | None) -> ProjectSuspended:
    detail = Text(
        "project %(account)s on %(cluster)s is suspended by its administrators since %(since)s: "
        "%(reason)s. No new job can be submitted for it until they lift the suspension; your jobs "
        "already queued or running are not affected",
        account=slurm_account,
        cluster=cluster,
        since=_since(since),
        reason=reason or "",
    )
    return ProjectSuspended(detail, reason=reason or "", suspended_at=since.isoformat())


def refuse_if_suspended(session: Session, cluster: str, slurm_account: str | None) -> None:
    """Raise ProjectSuspended when the project (cluster, slurm_account) is suspended.

    Read from the database, not from a Project the session may hold: a stale copy merged into
    the session (found on the dev cluster: ``session.merge`` of a user carries its projects)
    must not let a submission through.
    """
    if slurm_account is None:
        return
    row = session.execute(
        sa.select(Project.suspended_at, Project.suspension_reason).where(
            Project.cluster == cluster, Project.slurm_account == slurm_account
        )
    ).one_or_none()
    if row is not None and row.suspended_at is not None:
        raise _refusal(cluster, slurm_account, row.suspended_at, row.suspension_reason)


def lock_open_membership(
    session: Session, user_id: uuid.UUID, cluster: str, slurm_account: str | None
) -> None:
    """Inside the transaction that writes a job, after its first write: ``user_id`` is still a
    member of the project and the project is not suspended, both rows share-locked until the
    commit by one statement (PostgreSQL; SQLite's writer lock is already held). A suspension or
    a removal then either committed before and is seen here, or waits for this job's commit
    and counts it among the jobs it leaves alone. ProjectSuspended or PermissionDenied."""
    if slurm_account is None:
        return
    row = session.execute(
        sa.select(Project.suspended_at, Project.suspension_reason)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user_id, Project.cluster == cluster)
        .where(Project.slurm_account == slurm_account)
        .with_for_update(read=True, of=(Project, Membership))
    ).one_or_none()
    if row is None:
        raise PermissionDenied(
            Text(
                "you are no longer a member of %(account)s on %(cluster)s",
                account=slurm_account,
                cluster=cluster,
            )
        )
    if row.suspended_at is not None:
        raise _refusal(cluster, slurm_account, row.suspended_at, row.suspension_reason)


def _project(session: Session, cluster: str, slurm_account: str) -> Project:
    project = projects_repo.get_project(session, cluster, slurm_account)
    if project is None:
        raise NotFound(Text("no project %(account)s on %(cluster)s", account=slurm_account, cluster=cluster))
    return project


def _can_see(actor: User, project: Project) -> bool:
    if authz.can_manage_membership(actor, project_institution=project.institution):
        return True
    return any(
        m.cluster == project.cluster and m.slurm_account == project.slurm_account for m in actor.memberships
    )


def _view(session: Session, actor: User, project: Project) -> Suspension:
    counts = session.execute(
        sa.select(Job.state, sa.func.count())
        .where(
            Job.cluster == project.cluster,
            Job.slurm_account == project.slurm_account,
            Job.state.in_(sorted(ACTIVE_STATES)),
        )
        .group_by(Job.state)
    ).all()
    queued = sum(n for state, n in counts if state in QUEUED_STATES)
    running = sum(n for _, n in counts) - queued
    return Suspension(
        project.cluster, project.slurm_account, project.institution, project.suspended_at,
        project.suspended_by, project.suspension_reason, queued, running,
        authz.can_manage_membership(actor, project_institution=project.institution),
    )  # fmt: skip


def status(session: Session, actor: User, cluster: str, slurm_account: str) -> Suspension:
    """The project's suspension (members, its institution's admins, platform admins)."""
    project = _project(session, cluster, slurm_account)
    if not _can_see(actor, project):
        raise PermissionDenied(
            Text(
                "only the project's members, its institution's admins and platform admins see its suspension"
            )
        )
    return _view(session, actor, project)


def _managed(session: Session, actor: User, cluster: str, slurm_account: str) -> Project:
    project = _project(session, cluster, slurm_account)
    if not authz.can_manage_membership(actor, project_institution=project.institution):
        raise PermissionDenied(
            Text(
                "only an admin of %(institution)s or a platform admin can suspend or resume %(account)s",
                institution=project.institution,
                account=project.slurm_account,
            )
        )
    return project


def _reason(reason: str) -> str:
    text = reason.strip()
    # Shown to the project's people, on pages, in the CLI and in the audit: no control
    # character, and nothing that changes how the text reads (a right-to-left override).
    if not text or len(text) > MAX_REASON or values.has_hidden_characters(text):
        said = Text(
            "give a reason of 1 to %(n)s characters on one line, none of them a control character",
            n=MAX_REASON,
        )
        raise InvalidRequest(said, fields=[FieldError(("reason",), said)])
    return text


def suspend(
    session: Session,
    actor: User,
    cluster: str,
    slurm_account: str,
    *,
    reason: str,
    clock: Clock | None = None,
    source: str = "api",
) -> Suspension:
    """Suspend the project now (Conflict when it already is: nothing changes); audited."""
    project = _managed(session, actor, cluster, slurm_account)
    text = _reason(reason)
    now = (clock or SystemClock()).now()
    # Conditional: of two admins suspending at once, one wins and the other is told.
    done = session.execute(
        sa.update(Project)
        .where(Project.id == project.id, Project.suspended_at.is_(None))
        .values(suspended_at=now, suspended_by=actor.username, suspension_reason=text)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        session.rollback()
        session.refresh(project)
        raise Conflict(_already(project))
    view = _after(session, actor, project)
    audit.record(session, actor.id, "project.suspend", ("project", project.id),
                 {"cluster": cluster, "account": slurm_account, "reason": text, "queued_jobs":
                  view.queued_jobs, "running_jobs": view.running_jobs}, source, at=now)  # fmt: skip
    session.commit()
    return view


def _already(project: Project) -> Text:
    return Text(
        "%(account)s is already suspended (since %(since)s, by %(by)s): resume it first to change the reason",
        account=project.slurm_account,
        since=_since(project.suspended_at) if project.suspended_at else "?",
        by=project.suspended_by or "?",
    )


def _after(session: Session, actor: User, project: Project) -> Suspension:
    session.flush()
    session.refresh(project)
    return _view(session, actor, project)


def resume(
    session: Session,
    actor: User,
    cluster: str,
    slurm_account: str,
    *,
    reason: str,
    clock: Clock | None = None,
    source: str = "api",
) -> Suspension:
    """Lift the project's suspension (Conflict when it is not suspended); who, when and why
    are audited, with the suspension that was lifted."""
    project = _managed(session, actor, cluster, slurm_account)
    text = _reason(reason)
    now = (clock or SystemClock()).now()
    was = (project.suspended_at, project.suspended_by, project.suspension_reason)
    done = session.execute(
        sa.update(Project)
        .where(Project.id == project.id, Project.suspended_at.is_not(None))
        .values(suspended_at=None, suspended_by=None, suspension_reason=None)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        session.rollback()
        raise Conflict(Text("%(account)s is not suspended", account=slurm_account))
    audit.record(session, actor.id, "project.resume", ("project", project.id),
                 {"cluster": cluster, "account": slurm_account, "reason": text,
                  "suspended_at": was[0].isoformat() if was[0] else None, "suspended_by": was[1],
                  "suspension_reason": was[2]}, source, at=now)  # fmt: skip
    view = _after(session, actor, project)
    session.commit()
    return view
