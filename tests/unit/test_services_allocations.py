"""Allocation use cases: periods, quotas, grants within quota, adjustments, balances, reports,
the hold at submit and the estimate of a dry run. Every refusal leaves nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import AuditEvent, Job, User
from myriagate.db.models.allocations import Allocation, LedgerEntry
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.errors import Conflict, InsufficientAllocation, InvalidRequest, NotFound, PermissionDenied
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import reports as usage_reports
from myriagate.services.submission.preview import preview_job
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

H = 3600
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=run\nsrun ./model\n"
# 1 CPU + 1000 MB for 10 minutes on court: Slurm's billing is ⌊1 + 1000/1024 × 0.25⌋ = 1 per
# second, so 600 (the old rule rounded the total up instead: 747).
SMALL = {"time": "00:10:00", "mem": "1000M"}
SMALL_COST = Cost(600, 0)


@pytest.fixture
def admin(session: Session, clock: FakeClock) -> User:
    user = make_user(session, "root@criann.fr", "root", [], clock)
    user.is_platform_admin = True
    session.commit()
    return user


@pytest.fixture
def caen_admin(session: Session, clock: FakeClock) -> User:
    user = make_user(session, "dean@unicaen.fr", "dean", [], clock)
    user.university_admin_of = "unicaen"
    session.commit()
    return user


@pytest.fixture
def world(session: Session, clock: FakeClock, admin: User) -> dict[str, object]:
    """Caen and Rouen, a project each, a 2026 period, and Caen's quota of 1000 core-hours."""
    for code in ("unicaen", "univ-rouen"):
        projects_repo.add_institution(session, code=code, name=code)
    projects_repo.add_project(session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen",
                              created_at=clock.now())  # fmt: skip
    projects_repo.add_project(session, cluster=CLUSTER, slurm_account="rouen-chimie",
                              institution="univ-rouen", created_at=clock.now())  # fmt: skip
    session.commit()
    period = allocations.create_period(session, admin, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, admin, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(1000), clock=clock)  # fmt: skip
    return {"period": period}


def entries(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) or 0


def test_grant_within_quota_then_balance_for_members(
    session: Session, clock: FakeClock, world: dict[str, object], caen_admin: User, alice: User, bob: User
) -> None:
    result = allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                               amount=allocations.hours(600), reason="call 2026-1", clock=clock,
                               ledger=SqlLedger)  # fmt: skip
    allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                      amount=allocations.hours("400"), reason="top-up", clock=clock,
                      ledger=SqlLedger)  # fmt: skip
    [mine] = allocations.balances(session, alice, at=clock.now(), ledger=SqlLedger)
    assert mine.allocation_id == result.allocation_id
    assert mine.balance.granted == Cost(1000 * H, 0) and mine.balance.remaining == Cost(1000 * H, 0)
    assert allocations.balances(session, bob, at=clock.now(), ledger=SqlLedger) == []  # not his project
    with pytest.raises(NotFound):
        allocations.history(session, bob, result.allocation_id, ledger=SqlLedger)
    page = allocations.history(session, alice, result.allocation_id, ledger=SqlLedger)
    assert [(e.kind, e.author, e.reason) for e in page.items] == [
        ("grant", "dean@unicaen.fr", "top-up"),
        ("grant", "dean@unicaen.fr", "call 2026-1"),
    ]
    actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("allocation.%")))
    assert sorted(actions) == ["allocation.grant", "allocation.grant", "allocation.period_create",
                               "allocation.quota_set"]  # fmt: skip


def test_grant_beyond_the_institution_quota_is_refused_and_changes_nothing(
    session: Session, clock: FakeClock, world: dict[str, object], caen_admin: User
) -> None:
    allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                      amount=allocations.hours(900), clock=clock, ledger=SqlLedger)  # fmt: skip
    before = entries(session)
    with pytest.raises(Conflict, match="exceed the quota of unicaen"):
        allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                          amount=allocations.hours(101), clock=clock, ledger=SqlLedger)  # fmt: skip
    assert entries(session) == before
    assert session.scalar(sa.select(Allocation.granted_core_seconds)) == 900 * H


def test_university_admins_grant_only_in_their_institution(
    session: Session, clock: FakeClock, world: dict[str, object], caen_admin: User, alice: User
) -> None:
    with pytest.raises(PermissionDenied):
        allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="rouen-chimie",
                          amount=allocations.hours(1), clock=clock, ledger=SqlLedger)  # fmt: skip
    with pytest.raises(PermissionDenied):
        allocations.grant(session, alice, cluster=CLUSTER, slurm_account="caen-climat",
                          amount=allocations.hours(1), clock=clock, ledger=SqlLedger)  # fmt: skip
    with pytest.raises(PermissionDenied):
        allocations.set_quota(session, caen_admin, institution="unicaen",
                              period_id=world["period"].id, amount=allocations.hours(5000))  # type: ignore[attr-defined]  # fmt: skip
    assert entries(session) == 0


@pytest.mark.parametrize("amount", ["-5", "0.0001", "NaN", "inf", "1e13", "ten"])
def test_bad_amounts_are_refused(amount: str) -> None:
    with pytest.raises(InvalidRequest):
        allocations.hours(amount)


def test_zero_grant_and_unknown_project_are_refused(
    session: Session, clock: FakeClock, world: dict[str, object], caen_admin: User
) -> None:
    with pytest.raises(InvalidRequest, match="more than zero"):
        allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                          amount=allocations.hours(0), clock=clock, ledger=SqlLedger)  # fmt: skip
    with pytest.raises(NotFound, match="unknown project"):
        allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-nope",
                          amount=allocations.hours(1), clock=clock, ledger=SqlLedger)  # fmt: skip
    assert entries(session) == 0 and session.scalar(sa.select(sa.func.count()).select_from(Allocation)) == 0


def test_fractional_hours_become_whole_seconds() -> None:
    assert allocations.hours("0.5", Decimal("1.25")) == Cost(1800, 4500)


def test_overlapping_periods_are_refused(session: Session, clock: FakeClock, world: dict[str, object],
                                         admin: User) -> None:  # fmt: skip
    with pytest.raises(Conflict, match="overlaps"):
        allocations.create_period(session, admin, cluster=CLUSTER, name="mid-2026",
                                  starts_at=datetime(2026, 6, 1, tzinfo=UTC),
                                  ends_at=datetime(2027, 6, 1, tzinfo=UTC))  # fmt: skip
    with pytest.raises(InvalidRequest):
        allocations.create_period(session, admin, cluster=CLUSTER, name="backwards",
                                  starts_at=datetime(2028, 6, 1, tzinfo=UTC),
                                  ends_at=datetime(2028, 1, 1, tzinfo=UTC))  # fmt: skip


def test_adjustment_needs_a_reason_and_keeps_its_author(
    session: Session, clock: FakeClock, world: dict[str, object], caen_admin: User
) -> None:
    granted = allocations.grant(session, caen_admin, cluster=CLUSTER, slurm_account="caen-climat",
                                amount=allocations.hours(10), clock=clock, ledger=SqlLedger)  # fmt: skip
    with pytest.raises(InvalidRequest, match="reason"):
        allocations.adjust(session, caen_admin, allocation_id=granted.allocation_id, core_seconds=-H,
                           gpu_seconds=0, reason=" ", ledger=SqlLedger)  # fmt: skip
    balance = allocations.adjust(session, caen_admin, allocation_id=granted.allocation_id, core_seconds=-H,
                                 gpu_seconds=0, reason="credit reversed", clock=clock,
                                 ledger=SqlLedger)  # fmt: skip
    assert balance.granted == Cost(9 * H, 0)
    last = allocations.history(session, caen_admin, granted.allocation_id, ledger=SqlLedger).items[0]
    assert (last.kind, last.core_seconds, last.author) == ("adjustment", -H, "dean@unicaen.fr")


# --- the hold at submit ------------------------------------------------------------------
def _submit(session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock,
            **overrides: str) -> Job:  # fmt: skip
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides={**SMALL, **overrides})
    return submit_job(session, backends=backends, profile=profile, user=user, request=request, clock=clock,
                      ledger=SqlLedger)  # fmt: skip


def test_submit_holds_the_worst_case_and_refuses_what_does_not_fit(
    session: Session, clock: FakeClock, world: dict[str, object], admin: User, alice: User,
    backends: FakeSlurmBackendFactory,
) -> None:  # fmt: skip
    granted = allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                                amount=Cost(2 * SMALL_COST.core_seconds + 10, 0), clock=clock,
                                ledger=SqlLedger)  # fmt: skip
    first = _submit(session, backends, alice, clock)
    _submit(session, backends, alice, clock)
    assert SqlLedger(session).hold_of(first.id) == SMALL_COST
    jobs_before = session.scalar(sa.select(sa.func.count()).select_from(Job))
    with pytest.raises(InsufficientAllocation):
        _submit(session, backends, alice, clock)
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == jobs_before
    assert len(backends.cluster.jobs) == 2  # nothing reached Slurm
    balance = allocations.balance_of(session, alice, granted.allocation_id, ledger=SqlLedger).balance
    assert balance.held == Cost(2 * SMALL_COST.core_seconds, 0) and balance.remaining == Cost(10, 0)


def test_the_allocation_row_is_locked_only_for_the_holds_last_statements(
    session: Session, clock: FakeClock, world: dict[str, object], admin: User, alice: User,
    backends: FakeSlurmBackendFactory,
) -> None:  # fmt: skip
    # Every submission of a project waits on its allocation row from the hold's UPDATE to the
    # commit, holding a pooled connection: under load, a long window starved the API's pool.
    allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                      amount=Cost(10 * SMALL_COST.core_seconds, 0), clock=clock,
                      ledger=SqlLedger)  # fmt: skip
    statements: list[str] = []
    engine = session.get_bind()

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()))  # PostgreSQL's start WITH … AS (INSERT …

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        _submit(session, backends, alice, clock)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    locked_at = next(i for i, s in enumerate(statements) if s.startswith("UPDATE allocations"))
    # After the UPDATE: only the commit (not a statement here); the job, its state change,
    # its audit entry and the hold's ledger entry were written before the lock was taken.
    after = statements[locked_at + 1 :]
    before_sbatch = after[: next((i for i, s in enumerate(after) if "UPDATE jobs" in s), len(after))]
    assert before_sbatch == []
    assert any(s.startswith("INSERT INTO ledger") for s in statements[:locked_at])
    assert any("INSERT INTO audit_events" in s for s in statements[:locked_at])
    assert any("INSERT INTO jobs" in s for s in statements[:locked_at])


def test_a_project_without_allocation_cannot_submit(
    session: Session, clock: FakeClock, world: dict[str, object], bob: User, backends: FakeSlurmBackendFactory
) -> None:
    with pytest.raises(InsufficientAllocation, match="rouen-chimie has no allocation for the current period"):
        _submit(session, backends, bob, clock)
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert not backends.cluster.jobs


def test_dry_run_reports_the_estimate(
    session: Session, clock: FakeClock, world: dict[str, object], admin: User, alice: User
) -> None:
    allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                      amount=allocations.hours(1), clock=clock, ledger=SqlLedger)  # fmt: skip
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides={**SMALL, "array": "0-3"})
    preview = preview_job(profile=profile, user=alice, request=request, session=session, ledger=SqlLedger,
                          clock=clock)  # fmt: skip
    assert preview.estimate is not None
    assert preview.estimate.hold == Cost(4 * SMALL_COST.core_seconds, 0)
    assert preview.estimate.remaining_after == Cost(H - 4 * SMALL_COST.core_seconds, 0)
    assert preview.estimate.fits and entries(session) == 1  # the grant only: a dry run writes nothing


def test_usage_report_rows_and_csv(
    session: Session, clock: FakeClock, world: dict[str, object], admin: User, alice: User, caen_admin: User
) -> None:
    granted = allocations.grant(session, admin, cluster=CLUSTER, slurm_account="caen-climat",
                                amount=allocations.hours(10), clock=clock, ledger=SqlLedger)  # fmt: skip
    SqlLedger(session, clock=clock).charge_outside(granted.allocation_id, "777", Cost(7200, 0))
    session.commit()
    rows = usage_reports.usage_report(session, caen_admin, month="2026-01", group_by="user")
    assert [(r.slurm_account, r.username, r.jobs, r.core_hours) for r in rows] == [
        ("caen-climat", usage_reports.OUTSIDE, 1, Decimal("2.00"))
    ]
    csv_text = usage_reports.to_csv(rows)
    assert csv_text.splitlines()[1] == "2026-01,unicaen,devcluster,caen-climat,(outside),1,7200,0,2.00,0.00"
    assert usage_reports.usage_report(session, admin, month="2026-02") == []
    with pytest.raises(InvalidRequest):
        usage_reports.usage_report(session, admin, month="2026-13")
