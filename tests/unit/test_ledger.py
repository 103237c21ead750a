"""SqlLedger on SQLite and PostgreSQL: holds, settlements, releases, grants and their history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import MAX_SECONDS, SettleItem, SqlLedger
from myriagate.db.models.allocations import EntryKind, LedgerEntry
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.errors import Conflict, InsufficientAllocation, InvalidRequest, NotFound
from tests.conftest import CLUSTER, FakeClock

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = 3600


def seed_allocation(
    session: Session, *, granted: Cost, quota: Cost | None = None, account: str = "caen-climat"
) -> uuid.UUID:
    """An institution with a quota, a project, a 2026 period and an allocation granted ``granted``."""
    if projects_repo.get_institution(session, "unicaen") is None:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
    project = projects_repo.add_project(
        session, cluster=CLUSTER, slurm_account=account, institution="unicaen", created_at=T0
    )
    period = allocations_repo.current_period(session, CLUSTER, T0) or allocations_repo.create_period(
        session,
        cluster=CLUSTER,
        name="2026",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    if allocations_repo.get_quota(session, "unicaen", period.id) is None:
        allocations_repo.set_quota(
            session, institution="unicaen", period_id=period.id, amount=quota or Cost(10**9, 10**8)
        )
    allocation = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=period.id, created_at=T0
    )
    if not granted.is_zero:
        SqlLedger(session).grant(allocation.id, granted, author="admin@criann.fr", reason="2026 call")
    session.commit()
    return allocation.id


@pytest.fixture
def alloc(session: Session) -> uuid.UUID:
    return seed_allocation(session, granted=Cost(10 * HOUR, 2 * HOUR))


@pytest.fixture
def ledger(session: Session, clock: FakeClock) -> SqlLedger:
    return SqlLedger(session, clock=clock)


def fresh_balance(factory: sessionmaker[Session], allocation_id: uuid.UUID) -> Any:
    """The balance as another process sees it (only committed changes)."""
    with factory() as other:
        return SqlLedger(other).balance(allocation_id)


def all_entries(session: Session, allocation_id: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = session.execute(
        sa.select(
            LedgerEntry.id,
            LedgerEntry.kind,
            LedgerEntry.core_seconds,
            LedgerEntry.gpu_seconds,
            LedgerEntry.job_id,
        )
        .where(LedgerEntry.allocation_id == allocation_id)
        .order_by(LedgerEntry.id)
    )
    return [tuple(row) for row in rows]


def assert_totals_are_sums_of_entries(session: Session, allocation_id: uuid.UUID) -> None:
    """granted = Σgrant + Σadjustment, held = Σ open holds, charged = Σcharge (models docstring)."""
    entries = all_entries(session, allocation_id)
    closed = {job for _, kind, _, _, job in entries if kind in (EntryKind.RELEASE, EntryKind.CHARGE)}

    def total(*kinds: EntryKind, open_only: bool = False) -> tuple[int, int]:
        picked = [
            (core, gpu)
            for _, kind, core, gpu, job in entries
            if kind in kinds and not (open_only and job in closed)
        ]
        return sum(c for c, _ in picked), sum(g for _, g in picked)

    balance = SqlLedger(session).balance(allocation_id)
    granted = balance.granted
    assert (granted.core_seconds, granted.gpu_seconds) == total(EntryKind.GRANT, EntryKind.ADJUSTMENT)
    assert (balance.held.core_seconds, balance.held.gpu_seconds) == total(EntryKind.HOLD, open_only=True)
    assert (balance.charged.core_seconds, balance.charged.gpu_seconds) == total(EntryKind.CHARGE)


# --- holds ----------------------------------------------------------------------------------
def test_a_hold_that_fits_is_reserved_and_one_that_does_not_is_refused(
    session: Session, session_factory: sessionmaker[Session], ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(6 * HOUR))
    session.commit()
    assert fresh_balance(session_factory, alloc).remaining == Cost(4 * HOUR, 2 * HOUR)

    with pytest.raises(InsufficientAllocation, match="only 14400 core-seconds"):
        ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(4 * HOUR + 1))
    with pytest.raises(InsufficientAllocation):
        ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(0, 2 * HOUR + 1))
    session.commit()
    balance = fresh_balance(session_factory, alloc)
    assert balance.held == Cost(6 * HOUR) and balance.remaining == Cost(4 * HOUR, 2 * HOUR)
    # Exactly what is left still fits.
    ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(4 * HOUR, 2 * HOUR))
    session.commit()
    assert fresh_balance(session_factory, alloc).remaining.is_zero


def test_a_retried_hold_never_counts_twice_even_on_a_spent_allocation(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    job = uuid.uuid4()
    for _ in range(3):
        ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(4 * HOUR))
        session.commit()
    assert ledger.balance(alloc).held == Cost(4 * HOUR)
    ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(6 * HOUR, 2 * HOUR))
    session.commit()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(4 * HOUR))  # spent, yet no error
    session.commit()
    assert ledger.balance(alloc).held == Cost(10 * HOUR, 2 * HOUR)
    assert [kind for _, kind, *_ in all_entries(session, alloc)].count(EntryKind.HOLD) == 2


def test_a_hold_is_part_of_the_callers_transaction(
    session: Session, session_factory: sessionmaker[Session], ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    job = uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(HOUR))
    session.rollback()  # e.g. the job row could not be written
    assert fresh_balance(session_factory, alloc).held == Cost()
    assert ledger.hold_of(job) is None


def test_holds_on_unknown_allocations_and_implausible_amounts_are_refused(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    with pytest.raises(NotFound):
        ledger.hold(allocation_id=uuid.uuid4(), job_id=uuid.uuid4(), amount=Cost(1))
    with pytest.raises(InvalidRequest):
        ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(MAX_SECONDS + 1))
    assert ledger.balance(alloc).held == Cost()


# --- settling and releasing -------------------------------------------------------------------
def test_settle_charges_what_ran_and_gives_back_the_rest_once(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    job = uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(4 * HOUR, HOUR))
    session.commit()
    assert ledger.hold_of(job) == Cost(4 * HOUR, HOUR)
    for _ in range(2):  # the worker retries after a crash: nothing counts twice
        ledger.settle(job_id=job, actual=Cost(HOUR + 17, 600))
        session.commit()
    balance = ledger.balance(alloc)
    assert balance.held == Cost() and balance.charged == Cost(HOUR + 17, 600)
    assert balance.remaining == Cost(9 * HOUR - 17, 2 * HOUR - 600)
    assert ledger.hold_of(job) is None
    ledger.release(job_id=job)  # a late release after settling changes nothing
    session.commit()
    assert ledger.balance(alloc) == balance
    assert_totals_are_sums_of_entries(session, alloc)


def test_a_job_that_never_started_releases_everything_and_release_is_idempotent(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    job = uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(5 * HOUR))
    session.commit()
    for _ in range(3):
        ledger.release(job_id=job)
        session.commit()
    assert ledger.balance(alloc).remaining == Cost(10 * HOUR, 2 * HOUR)
    ledger.release(job_id=uuid.uuid4())  # never held: nothing to do
    with pytest.raises(NotFound):
        ledger.settle(job_id=uuid.uuid4(), actual=Cost(1))
    assert_totals_are_sums_of_entries(session, alloc)


def test_a_released_job_that_turns_out_to_have_run_is_still_charged(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    # The vanished-hold sweep released it, then sacct shows it did run.
    job = uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(2 * HOUR))
    ledger.release(job_id=job)
    ledger.settle(job_id=job, actual=Cost(HOUR))
    session.commit()
    balance = ledger.balance(alloc)
    assert balance.held == Cost() and balance.charged == Cost(HOUR)
    assert_totals_are_sums_of_entries(session, alloc)


def test_an_overrun_is_charged_in_full_and_covered_by_an_adjustment_never_overdrawn(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=first, amount=Cost(3 * HOUR))
    ledger.hold(allocation_id=alloc, job_id=second, amount=Cost(7 * HOUR, 2 * HOUR))
    session.commit()
    # Slurm gave the first job a whole node: it used 5 h against a 3 h hold, and nothing was left.
    ledger.settle(job_id=first, actual=Cost(5 * HOUR))
    session.commit()
    balance = ledger.balance(alloc)
    assert balance.charged == Cost(5 * HOUR)  # what the cluster delivered
    assert balance.held == Cost(7 * HOUR, 2 * HOUR)
    assert balance.granted == Cost(12 * HOUR, 2 * HOUR)  # 2 h written off as an overrun
    assert balance.remaining.is_zero
    page = ledger.entries(alloc, limit=10)
    overrun = [e for e in page.items if e.kind is EntryKind.ADJUSTMENT]
    assert len(overrun) == 1 and overrun[0].reason == "overrun" and overrun[0].author == "ledger"
    assert (overrun[0].core_seconds, overrun[0].job_id) == (2 * HOUR, first)
    assert_totals_are_sums_of_entries(session, alloc)


def test_settle_many_settles_a_batch_once_and_skips_unknown_jobs(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    jobs = [uuid.uuid4() for _ in range(5)]
    for job in jobs:
        ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(HOUR))
    session.commit()
    items = [SettleItem(job, Cost(60 * (i + 1))) for i, job in enumerate(jobs)] + [
        SettleItem(uuid.uuid4(), Cost(9))
    ]
    assert ledger.settle_many(items) == 5
    assert ledger.settle_many(items) == 0
    session.commit()
    balance = ledger.balance(alloc)
    assert balance.held == Cost() and balance.charged == Cost(60 * 15)
    assert_totals_are_sums_of_entries(session, alloc)


def test_open_holds_lists_what_was_neither_released_nor_settled(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    kept, released, settled = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for job in (kept, released, settled):
        ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(HOUR))
    ledger.release(job_id=released)
    ledger.settle(job_id=settled, actual=Cost(5))
    session.commit()
    assert [(h.job_id, h.amount) for h in ledger.open_holds()] == [(kept, Cost(HOUR))]
    assert ledger.allocation_of(kept) == alloc


# --- outside the gateway -----------------------------------------------------------------------
def test_jobs_run_outside_the_gateway_are_charged_once_per_slurm_job_id(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    assert ledger.charge_outside(alloc, "4242", Cost(HOUR)) is True
    assert ledger.charge_outside(alloc, "4242", Cost(HOUR)) is False
    assert ledger.charge_outside(alloc, "4243_7", Cost(30)) is True
    session.commit()
    assert ledger.balance(alloc).charged == Cost(HOUR + 30)
    assert_totals_are_sums_of_entries(session, alloc)


# --- grants, adjustments, quotas ------------------------------------------------------------------
def test_grants_stay_within_the_institution_quota(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    alloc = seed_allocation(session, granted=Cost(60 * HOUR), quota=Cost(100 * HOUR, 0))
    other = seed_allocation(session, granted=Cost(30 * HOUR), account="caen-bio")
    ledger = SqlLedger(session)
    with pytest.raises(Conflict, match="quota of unicaen"):
        ledger.grant(alloc, Cost(10 * HOUR + 1), author="ua@unicaen.fr", reason="top-up")
    with pytest.raises(Conflict):
        ledger.grant(other, Cost(0, 1), author="ua@unicaen.fr", reason="no GPU quota")
    session.rollback()
    assert fresh_balance(session_factory, alloc).granted == Cost(60 * HOUR)
    ledger.grant(alloc, Cost(10 * HOUR), author="ua@unicaen.fr", reason="mid-year top-up")
    session.commit()
    assert fresh_balance(session_factory, alloc).granted == Cost(70 * HOUR)
    with pytest.raises(Conflict, match="already granted"):
        allocations_repo.set_quota(
            session, institution="unicaen", period_id=_period_of(session, alloc), amount=Cost(99 * HOUR)
        )


def test_an_overrun_past_the_quota_does_not_block_grants_of_the_other_resource(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    # A CPU-only project whose job was given GPUs it did not ask for (a whole node on a
    # GPU node): the overrun adjustment writes off GPU-seconds the institution has no quota
    # for. A later CPU-hours grant adds no GPU-seconds, so that must not block it.
    alloc = seed_allocation(session, granted=Cost(100 * HOUR), quota=Cost(278 * HOUR, 0))
    ledger = SqlLedger(session)
    job = uuid.uuid4()
    ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(HOUR))
    ledger.settle(job_id=job, actual=Cost(HOUR, 23))
    session.commit()
    assert fresh_balance(session_factory, alloc).granted == Cost(100 * HOUR, 23)
    ledger.grant(alloc, Cost(50 * HOUR), author="ua@unicaen.fr", reason="top-up")
    session.commit()
    assert fresh_balance(session_factory, alloc).granted == Cost(150 * HOUR, 23)
    with pytest.raises(Conflict, match="GPU"):
        ledger.grant(alloc, Cost(0, 1), author="ua@unicaen.fr", reason="no GPU quota")


@pytest.mark.parametrize("bad", [0, -5])
def test_zero_and_negative_grants_are_refused(session: Session, alloc: uuid.UUID, bad: int) -> None:
    with pytest.raises(InvalidRequest):
        SqlLedger(session).grant(alloc, Cost(bad), author="a", reason="r")
    assert SqlLedger(session).balance(alloc).granted == Cost(10 * HOUR, 2 * HOUR)


def test_adjustments_are_signed_and_never_go_below_what_is_used(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(8 * HOUR))
    with pytest.raises(Conflict, match="below what is already held"):
        ledger.adjust(alloc, core_seconds=-3 * HOUR, gpu_seconds=0, author="admin", reason="correction")
    for bad in (1.5, float("nan"), True):
        with pytest.raises(InvalidRequest):
            ledger.adjust(alloc, core_seconds=bad, gpu_seconds=0, author="admin", reason="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        ledger.adjust(alloc, core_seconds=0, gpu_seconds=0, author="admin", reason="nothing")
    balance = ledger.adjust(
        alloc, core_seconds=-2 * HOUR, gpu_seconds=HOUR, author="admin", reason="moved to GPU"
    )
    session.commit()
    assert balance.granted == Cost(8 * HOUR, 3 * HOUR) and balance.remaining == Cost(0, 3 * HOUR)
    assert_totals_are_sums_of_entries(session, alloc)


# --- reading ------------------------------------------------------------------------------------
def test_balance_is_one_read_of_the_maintained_totals(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    for _ in range(20):
        ledger.hold(allocation_id=alloc, job_id=uuid.uuid4(), amount=Cost(60))
    session.commit()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert ledger.balance(alloc).held == Cost(1200)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1 and "ledger_entries" not in statements[0]


def test_history_is_append_only_and_pages_newest_first(
    session: Session, ledger: SqlLedger, alloc: uuid.UUID
) -> None:
    jobs = [uuid.uuid4() for _ in range(7)]
    for job in jobs:
        ledger.hold(allocation_id=alloc, job_id=job, amount=Cost(60))
    session.commit()
    before = all_entries(session, alloc)
    for job in jobs:
        ledger.settle(job_id=job, actual=Cost(30))
    ledger.release(job_id=jobs[0])
    session.commit()
    after = all_entries(session, alloc)
    assert after[: len(before)] == before  # nothing rewritten, only appended
    assert len(after) == len(before) + len(jobs)  # one charge each; the late release is a no-op

    seen: list[int] = []
    cursor: int | None = None
    while True:
        page = ledger.entries(alloc, limit=4, cursor=cursor)
        seen += [entry.id for entry in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted((row[0] for row in after), reverse=True)


def _period_of(session: Session, allocation_id: uuid.UUID) -> uuid.UUID:
    allocation = allocations_repo.get_allocation(session, allocation_id)
    assert allocation is not None
    return allocation.period_id
