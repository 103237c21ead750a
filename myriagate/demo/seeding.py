"""Demo seeding that can run again over a dev database that earlier use has changed.

Each run puts the demo's own rows back to what the demo needs and leaves everything else as
it is: demo users that are missing are created, and existing ones get back their cluster
login, roles, memberships and the demo password; a demo project with less than 90 % of its
demo grant left is topped up so that what is left is again the whole demo grant (a project
spent by earlier runs or by hand would refuse the demo's jobs: "Insufficient allocation"),
raising its institution's quota when the top-up needs room. Users, grants and jobs the demo
does not own are never touched. What was done is returned as a ``SeedReport``, which
``myriagate admin demo`` prints as one line.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import AllocationPeriod
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.demo.data import (
    ALL_PEOPLE,
    DEMO_ADMIN,
    DEMO_GRANT_HOURS,
    DEMO_INSTITUTIONS,
    DEMO_PROJECTS,
    DEMO_QUOTA_HOURS,
    DEMO_UNIVERSITY_ADMIN,
    DemoUser,
)
from myriagate.domain.costs import Cost
from myriagate.domain.states import FINAL_STATES
from myriagate.ports import Clock, LedgerFactory
from myriagate.services.people.auth import check_password, set_password

ALL_DEMO_USERS: tuple[DemoUser, ...] = ALL_PEOPLE
# A demo grant is topped up (back to the whole demo grant) once less than this share is left.
TOP_UP_BELOW = 0.9


@dataclass
class SeedReport:
    """What one seeding run created or put back (amounts in core-seconds)."""

    created_users: list[str] = field(default_factory=list)
    restored: dict[str, list[str]] = field(default_factory=dict)  # username -> what was put back
    new_grants: dict[str, int] = field(default_factory=dict)  # account -> granted now
    topped_up: dict[str, int] = field(default_factory=dict)  # account -> added now
    quotas_raised: list[str] = field(default_factory=list)
    unfinished_jobs: int = 0  # the demo users' jobs of earlier runs not ended yet

    @property
    def fresh(self) -> bool:
        """Nothing of the demo was there before: every demo user and grant was made now."""
        every_user = len(self.created_users) == len(ALL_DEMO_USERS)
        return every_user and len(self.new_grants) == len(DEMO_GRANT_HOURS)

    def summary(self) -> str:
        """One plain line saying whether the database was new or kept, and what changed."""
        if self.fresh:
            grants = ", ".join(f"{a} {_hours(s)}" for a, s in self.new_grants.items())
            return f"Demo data: new database: created the demo users and projects, granted {grants} of CPU."
        parts = []
        if self.topped_up:
            parts.append(
                "topped up "
                + ", ".join(
                    f"{a} (+{_hours(s)} CPU, back to {DEMO_GRANT_HOURS[a]:,} h left)"
                    for a, s in self.topped_up.items()
                )
            )
        elif not self.new_grants:
            parts.append("demo grants had enough left (over 90 %)")
        if self.new_grants:
            parts.append("granted " + ", ".join(f"{a} {_hours(s)}" for a, s in self.new_grants.items()))
        if self.quotas_raised:
            parts.append("raised the quota of " + ", ".join(self.quotas_raised))
        if self.created_users:
            parts.append("created " + ", ".join(self.created_users))
        for username, what in self.restored.items():
            parts.append(f"restored {username} ({', '.join(what)})")
        if self.unfinished_jobs:
            parts.append(
                f"{self.unfinished_jobs} job(s) of earlier runs not ended yet (the worker follows them)"
            )
        return "Demo data: existing database kept: " + "; ".join(parts) + "."


def _hours(core_seconds: int) -> str:
    hours = f"{core_seconds / 3600:,.1f}".removesuffix(".0")
    return f"{hours} h"


def seed(
    session: Session, *, cluster: str, clock: Clock, ledger: LedgerFactory, password: str | None = None
) -> SeedReport:
    """Bring the demo's users, projects and grants to what the demo needs; see the module."""
    report = SeedReport()
    seed_users(session, cluster=cluster, clock=clock, password=password, report=report)
    seed_allocations(session, cluster=cluster, clock=clock, ledger=ledger, report=report)
    report.unfinished_jobs = _unfinished_jobs(session, cluster, report)
    return report


def seed_users(
    session: Session,
    *,
    cluster: str,
    clock: Clock,
    password: str | None = None,
    report: SeedReport | None = None,
) -> list[User]:
    """Create the demo institutions, projects and users, or put the demo users back as the
    demo describes them; other users are left alone.

    With ``password``, every demo user can sign in with it (dev cluster only).
    """
    report = report if report is not None else SeedReport()
    for code, name in DEMO_INSTITUTIONS:
        if projects_repo.get_institution(session, code) is None:
            projects_repo.add_institution(session, code=code, name=name)
    for account, institution, title in DEMO_PROJECTS:
        if projects_repo.get_project(session, cluster, account) is None:
            projects_repo.add_project(
                session,
                cluster=cluster,
                slurm_account=account,
                institution=institution,
                name=title,
                created_at=clock.now(),
            )
    users: list[User] = []
    for demo in ALL_DEMO_USERS:
        user = users_repo.get_by_username(session, demo.username)
        if user is None:
            user = users_repo.add(
                session,
                username=demo.username,
                cluster_login=demo.login,
                display_name=demo.display_name,
                created_at=clock.now(),
            )
            report.created_users.append(demo.username)
            _restore(session, user, demo, cluster, password)
        else:
            changed = _restore(session, user, demo, cluster, password)
            if changed:
                report.restored[demo.username] = changed
        users.append(user)
    session.commit()
    return users


def _restore(session: Session, user: User, demo: DemoUser, cluster: str, password: str | None) -> list[str]:
    """Put what the demo relies on back on ``user``; returns what had to change."""
    wanted = {
        "cluster_login": demo.login,
        "is_active": True,
        "institution": demo.institution,
        "is_platform_admin": demo is DEMO_ADMIN,
        "university_admin_of": demo.institution if demo is DEMO_UNIVERSITY_ADMIN else None,
    }
    changed = [name.replace("_", " ") for name, value in wanted.items() if getattr(user, name) != value]
    for name, value in wanted.items():
        setattr(user, name, value)
    stored = user.password_hash
    if password is not None and (stored is None or not check_password(stored, password)):
        set_password(user, password)
        changed.append("password")
    memberships = {(m.cluster, m.slurm_account): m for m in user.memberships}
    for account, role in demo.accounts:
        membership = memberships.get((cluster, account))
        if membership is None:
            users_repo.add_membership(session, user, cluster=cluster, slurm_account=account, role=role)
            changed.append(f"member of {account}")
        elif membership.role is not role:
            membership.role = role
            changed.append(f"{role.value} of {account}")
    return changed


def seed_allocations(
    session: Session, *, cluster: str, clock: Clock, ledger: LedgerFactory, report: SeedReport | None = None
) -> SeedReport:
    """A period around now, a quota per demo institution, and a grant per demo project with
    the demo grant left to spend (granted now, or topped up through ``ledger``)."""
    report = report if report is not None else SeedReport()
    now = clock.now()
    period = _period_at(session, cluster, now)
    for code, _name in DEMO_INSTITUTIONS:
        if allocations_repo.get_quota(session, code, period.id) is None:
            allocations_repo.set_quota(
                session, institution=code, period_id=period.id, amount=Cost(DEMO_QUOTA_HOURS * 3600, 0)
            )
    book = ledger(session)
    for account, hours in DEMO_GRANT_HOURS.items():
        project = projects_repo.get_project(session, cluster, account)
        if project is None:
            continue  # seed_users makes them; without it there is nothing to grant to
        target = Cost(hours * 3600, 0)
        allocation = allocations_repo.allocation_for(session, project.id, period.id)
        if allocation is None:
            allocation = allocations_repo.create_allocation(
                session, project_id=project.id, period_id=period.id, created_at=now
            )
            missing, added = target, report.new_grants
        else:
            # Held counts as spent: jobs of earlier runs may still hold their walltime.
            left = book.balance(allocation.id).remaining
            if left.core_seconds >= target.core_seconds * TOP_UP_BELOW:
                continue  # the demo's own few minutes a run are no reason to grant again
            missing, added = target.minus_floor_zero(left), report.topped_up
        if _make_room(session, project.institution, period.id, missing):
            report.quotas_raised.append(project.institution)
        reason = "demo grant" if added is report.new_grants else "demo top-up (deploy/dev-up.sh run again)"
        book.grant(allocation.id, missing, author="demo", reason=reason)
        added[account] = missing.core_seconds
    session.commit()
    return report


def _period_at(session: Session, cluster: str, now: datetime) -> AllocationPeriod:
    """The period containing ``now``, or a new one: this calendar year, narrowed to the gap
    between the periods already there (an admin may have made some by hand)."""
    period = allocations_repo.current_period(session, cluster, now)
    if period is not None:
        return period
    starts_at = datetime(now.year, 1, 1, tzinfo=UTC)
    ends_at = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    for other in allocations_repo.periods(session, cluster):
        if _aware(other.ends_at) <= now:
            starts_at = max(starts_at, _aware(other.ends_at))
        else:  # starts after now: none contains it
            ends_at = min(ends_at, _aware(other.starts_at))
    return allocations_repo.create_period(
        session, cluster=cluster, name=str(now.year), starts_at=starts_at, ends_at=ends_at
    )


def _aware(at: datetime) -> datetime:
    # SQLite gives datetimes back without their zone; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _make_room(session: Session, institution: str, period_id: uuid.UUID, amount: Cost) -> bool:
    """Raise the institution's quota when ``amount`` more would not fit; True if it did."""
    granted = allocations_repo.granted_total(session, institution, period_id)
    quota = allocations_repo.get_quota(session, institution, period_id)
    have = Cost(quota.core_seconds, quota.gpu_seconds) if quota is not None else Cost(0, 0)
    needed = granted + amount
    if needed.fits_in(have):
        return False
    raised = Cost(max(have.core_seconds, needed.core_seconds), max(have.gpu_seconds, needed.gpu_seconds))
    allocations_repo.set_quota(session, institution=institution, period_id=period_id, amount=raised)
    return True


def _unfinished_jobs(session: Session, cluster: str, report: SeedReport) -> int:
    """The demo users' jobs on ``cluster`` that have not ended (earlier runs' or by hand)."""
    if len(report.created_users) == len(ALL_DEMO_USERS):
        return 0
    usernames = [demo.username for demo in ALL_DEMO_USERS]
    stmt = (
        sa.select(sa.func.count())
        .select_from(Job)
        .join(User, User.id == Job.user_id)
        .where(
            User.username.in_(usernames),
            Job.cluster == cluster,
            Job.state.not_in(FINAL_STATES),
        )
    )
    return int(session.execute(stmt).scalar_one())
