"""Suspending a project by hand (docs/allocations.md, "Suspending a project"): who may, what a
suspension refuses (every new submission and dry run, before anything is written, held or
sent), what it leaves alone (jobs already queued or running), and lifting it. Every refusal
changes nothing. SQLite and PostgreSQL (the ``session`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import AuditEvent, Job, User
from myriagate.db.models.allocations import LedgerEntry
from myriagate.db.models.users import MembershipRole, Project
from myriagate.db.repos import projects as projects_repo
from myriagate.errors import Conflict, InvalidRequest, NotFound, PermissionDenied, ProjectSuspended
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import suspension
from myriagate.services.people import users as people
from myriagate.services.submission import dependencies
from myriagate.services.submission.preview import preview_job
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

SCRIPT = "#!/bin/bash\n#SBATCH --job-name=run\nsrun ./model\n"
SMALL = {"time": "00:10:00", "mem": "1000M"}


def _admin(session: Session, clock: FakeClock, username: str, *, institution: str | None = None) -> User:
    user = make_user(session, username, username.split("@")[0], [], clock)
    if institution is None:
        user.is_platform_admin = True
    else:
        user.university_admin_of = institution
    session.commit()
    return user


@pytest.fixture
def world(session: Session, clock: FakeClock, alice: User) -> dict[str, User]:
    """Caen (alice's caen-climat, 100 core-hours) and Rouen, their admins, a platform admin, a lead."""
    for code in ("unicaen", "univ-rouen"):
        if projects_repo.get_institution(session, code) is None:
            projects_repo.add_institution(session, code=code, name=code)
    project = projects_repo.get_project(session, CLUSTER, "caen-climat")
    assert project is not None
    project.institution = "unicaen"
    session.commit()
    platform = _admin(session, clock, "root@criann.fr")
    period = allocations.create_period(session, platform, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, platform, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(1000), clock=clock)  # fmt: skip
    allocations.grant(session, platform, cluster=CLUSTER, slurm_account="caen-climat",
                      amount=allocations.hours(100), clock=clock, ledger=SqlLedger)  # fmt: skip
    lead = make_user(session, "carol@unicaen.fr", "carol", ["caen-climat"], clock)
    lead.memberships[0].role = MembershipRole.PROJECT_LEAD
    session.commit()
    return {
        "alice": alice,
        "lead": lead,
        "platform": platform,
        "caen": _admin(session, clock, "dean@unicaen.fr", institution="unicaen"),
        "rouen": _admin(session, clock, "roger@univ-rouen.fr", institution="univ-rouen"),
    }


def _submit(session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock) -> Job:
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=SMALL)
    return submit_job(session, backends=backends, profile=profile, user=user, request=request, clock=clock,
                      ledger=SqlLedger)  # fmt: skip


def _counts(session: Session) -> tuple[int, int, int]:
    def count(model: type[object]) -> int:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0

    return count(Job), count(LedgerEntry), count(AuditEvent)


def test_a_suspended_project_refuses_every_new_submission_and_leaves_its_queued_jobs_alone(
    session: Session, clock: FakeClock, world: dict[str, User], backends: FakeSlurmBackendFactory
) -> None:
    queued = _submit(session, backends, world["alice"], clock)
    found = suspension.suspend(session, world["caen"], CLUSTER, "caen-climat",
                               reason="  security incident #42  ", clock=clock)  # fmt: skip
    assert (found.suspended, found.suspended_by) == (True, "dean@unicaen.fr")
    assert found.reason == "security incident #42"
    assert found.suspended_at == clock.now()
    assert found.queued_jobs + found.running_jobs == 1  # said on the confirmation, not touched
    before = _counts(session)
    with pytest.raises(ProjectSuspended, match="security incident #42") as refused:
        _submit(session, backends, world["alice"], clock)
    assert refused.value.http_status == 409 and refused.value.code == "project_suspended"
    assert refused.value.extensions["reason"] == "security incident #42"
    with pytest.raises(ProjectSuspended):  # a dry run answers what a submission would
        preview_job(session, profile=load_profile(CLUSTER, Settings(dev_mode=True)), user=world["alice"],
                    request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=SMALL),
                    clock=clock, ledger=SqlLedger)  # fmt: skip
    assert _counts(session) == before  # no job, no hold, nothing audited
    assert len(backends.cluster.jobs) == 1  # nothing more reached Slurm
    session.refresh(queued)
    assert queued.state.value in {"pending", "running"}  # the queued job runs on
    [balance] = allocations.balances(session, world["alice"], at=clock.now(), ledger=SqlLedger)
    assert balance.suspension_reason == "security incident #42"

    clock.advance(60)
    lifted = suspension.resume(session, world["platform"], CLUSTER, "caen-climat",
                               reason="incident closed", clock=clock)  # fmt: skip
    assert (lifted.suspended, lifted.suspended_by, lifted.reason) == (False, None, None)
    _submit(session, backends, world["alice"], clock)  # accepted again
    events = session.execute(
        sa.select(AuditEvent.action, AuditEvent.detail).where(AuditEvent.action.like("project.%"))
        .order_by(AuditEvent.at)
    ).all()  # fmt: skip
    assert [(a, d["reason"]) for a, d in events] == [
        ("project.suspend", "security incident #42"),
        ("project.resume", "incident closed"),
    ]
    assert events[1][1]["suspended_by"] == "dean@unicaen.fr"  # what was lifted is kept


@pytest.mark.parametrize("who", ["rouen", "lead", "alice"])
def test_others_may_not_suspend_or_resume_and_nothing_changes(
    session: Session, clock: FakeClock, world: dict[str, User], who: str
) -> None:
    before = _counts(session)
    with pytest.raises(PermissionDenied):
        suspension.suspend(session, world[who], CLUSTER, "caen-climat", reason="misuse", clock=clock)
    suspension.suspend(session, world["platform"], CLUSTER, "caen-climat", reason="misuse", clock=clock)
    after_suspend = _counts(session)
    with pytest.raises(PermissionDenied):
        suspension.resume(session, world[who], CLUSTER, "caen-climat", reason="let me", clock=clock)
    assert _counts(session) == after_suspend and after_suspend[2] == before[2] + 1
    session.expire_all()
    project = session.scalar(sa.select(Project).where(Project.slurm_account == "caen-climat"))
    assert project is not None and project.suspension_reason == "misuse"


def test_members_see_the_suspension_and_outsiders_do_not(
    session: Session, clock: FakeClock, world: dict[str, User]
) -> None:
    suspension.suspend(session, world["platform"], CLUSTER, "caen-climat", reason="agreement expired")
    seen = suspension.status(session, world["alice"], CLUSTER, "caen-climat")
    assert (seen.reason, seen.can_change) == ("agreement expired", False)
    assert suspension.status(session, world["caen"], CLUSTER, "caen-climat").can_change is True
    with pytest.raises(PermissionDenied):
        suspension.status(session, world["rouen"], CLUSTER, "caen-climat")


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "two\nlines", "nul\x00", "x" * 1001,
     # shown to researchers, leads, admins and in the audit: nothing that changes how text reads
     "misuse by \u202eexe.tnemeerga", "one\u2028two", "next\x85line", "isolate \u2067x\u2069"],
)  # fmt: skip
def test_a_suspension_needs_a_plain_reason(
    session: Session, clock: FakeClock, world: dict[str, User], reason: str
) -> None:
    before = _counts(session)
    with pytest.raises(InvalidRequest, match="reason"):
        suspension.suspend(session, world["platform"], CLUSTER, "caen-climat", reason=reason, clock=clock)
    assert _counts(session) == before
    assert suspension.status(session, world["platform"], CLUSTER, "caen-climat").suspended is False


def test_twice_or_unknown_or_not_suspended_is_refused(
    session: Session, clock: FakeClock, world: dict[str, User]
) -> None:
    with pytest.raises(Conflict, match="not suspended"):
        suspension.resume(session, world["platform"], CLUSTER, "caen-climat", reason="why", clock=clock)
    suspension.suspend(session, world["platform"], CLUSTER, "caen-climat", reason="first", clock=clock)
    with pytest.raises(Conflict, match="already suspended"):
        suspension.suspend(session, world["caen"], CLUSTER, "caen-climat", reason="second", clock=clock)
    assert suspension.status(session, world["platform"], CLUSTER, "caen-climat").reason == "first"
    with pytest.raises(NotFound):
        suspension.suspend(session, world["platform"], CLUSTER, "caen-nope", reason="x", clock=clock)


def test_a_stale_copy_of_the_project_in_the_session_does_not_let_a_submission_through(
    session: Session, session_factory: sessionmaker[Session], clock: FakeClock, world: dict[str, User],
    backends: FakeSlurmBackendFactory,
) -> None:  # fmt: skip
    """Found on the dev cluster: the submitting session held the project as it was before the
    suspension (a merged user carries it), and the check read that copy."""
    stale = session.scalar(sa.select(Project).where(Project.slurm_account == "caen-climat"))
    assert stale is not None and stale.suspended_at is None
    with session_factory() as other:
        admin = other.get_one(User, world["platform"].id)
        suspension.suspend(other, admin, CLUSTER, "caen-climat", reason="incident", clock=clock)
    assert stale.suspended_at is None  # still the old copy in this session
    with pytest.raises(ProjectSuspended, match="incident"):
        _submit(session, backends, world["alice"], clock)
    assert len(backends.cluster.jobs) == 0


def test_a_suspension_committed_while_a_submission_is_in_flight_refuses_it(
    session: Session, session_factory: sessionmaker[Session], clock: FakeClock, world: dict[str, User],
    backends: FakeSlurmBackendFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Found attacking the suspension: the check ran once, at the start of the submission, and
    an admin's suspension committed between it and the job's commit let the job reach Slurm
    after the admin had been told the project was suspended (and how many jobs it had)."""
    real_resolve = dependencies.resolve
    suspended: list[suspension.Suspension] = []

    def suspend_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not suspended:  # the admin's request, in its own session, lands mid-submission
            with session_factory() as other:
                admin = other.get_one(User, world["caen"].id)
                suspended.append(
                    suspension.suspend(other, admin, CLUSTER, "caen-climat", reason="incident", clock=clock)
                )
        return real_resolve(*args, **kwargs)

    monkeypatch.setattr(dependencies, "resolve", suspend_meanwhile)
    before = _counts(session)
    with pytest.raises(ProjectSuspended, match="incident"):
        _submit(session, backends, world["alice"], clock)
    assert suspended and suspended[0].queued_jobs + suspended[0].running_jobs == 0
    assert len(backends.cluster.jobs) == 0  # nothing reached Slurm
    session.rollback()
    jobs, holds, audits = _counts(session)
    assert (jobs, holds) == before[:2]  # no job, no hold (the suspension alone is audited)
    assert audits == before[2] + 1


def test_a_member_removed_while_their_submission_is_in_flight_is_refused(
    session: Session, session_factory: sessionmaker[Session], clock: FakeClock, world: dict[str, User],
    backends: FakeSlurmBackendFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Found attacking the members API: the membership was read once, before the job's
    transaction, so a member removed meanwhile still had the job written, held on the project
    and sent to Slurm, after the admin had been told the member's jobs (none)."""
    real_resolve = dependencies.resolve
    removed: list[object] = []

    def remove_meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not removed:
            with session_factory() as other:
                admin = other.get_one(User, world["platform"].id)
                left = people.remove_membership(other, admin, world["alice"].id, cluster=CLUSTER,
                                                slurm_account="caen-climat", clock=clock)  # fmt: skip
                removed.append(left)
        return real_resolve(*args, **kwargs)

    monkeypatch.setattr(dependencies, "resolve", remove_meanwhile)
    before = _counts(session)
    with pytest.raises(PermissionDenied, match="no longer a member of caen-climat"):
        _submit(session, backends, world["alice"], clock)
    assert removed == [[]]  # the removal saw no job of hers to warn about
    assert len(backends.cluster.jobs) == 0  # nothing reached Slurm
    session.rollback()
    jobs, holds, _ = _counts(session)
    assert (jobs, holds) == before[:2]  # no job, no hold
