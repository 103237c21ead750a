"""The reconciliation report on real sacct output: Slurm's usage versus the gateway's charges."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.errors import InvalidRequest
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import reconciliation
from myriagate.settings import Settings
from myriagate.slurm.usage import SacctUsage
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_runner import DATA_DIR, FakeRunner

START = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
END = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def reader() -> SacctUsage:
    return SacctUsage(FakeRunner().reply("sacct", (DATA_DIR / "sacctmgr_sacct_window.txt").read_bytes()))


def seed(session: Session) -> dict[str, object]:
    projects_repo.add_institution(session, code="urouen", name="Rouen")
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    period = allocations_repo.create_period(
        session, cluster=CLUSTER, name="2026", starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2027, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    ids: dict[str, object] = {}
    for account, institution in (("rouen-chimie", "urouen"), ("mgtest-probe27708", "unicaen")):
        allocations_repo.set_quota(session, institution=institution, period_id=period.id, amount=Cost(10**6))
        project = projects_repo.add_project(
            session, cluster=CLUSTER, slurm_account=account, institution=institution, created_at=START
        )
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=START
        )
        SqlLedger(session).grant(allocation.id, Cost(10**5), author="admin", reason="call")
        ids[account] = allocation.id
    session.commit()
    return ids


def test_matching_charges_pass_and_uncharged_usage_is_flagged(session: Session) -> None:
    ids = seed(session)
    ledger = SqlLedger(session, clock=FakeClock(datetime(2026, 11, 28, 17, 45, tzinfo=UTC)))
    # bob's three 3-second jobs on debug (1 CPU, 1000M): sacct's billing=1 × 3 s = 3 each.
    # (The old rule priced them ⌈(1 + 0.25 × 1000/1024) × 3⌉ = 4.)
    for job in ("8895", "8934", "11988"):
        ledger.charge_outside(ids["rouen-chimie"], job, Cost(3))  # type: ignore[arg-type]
    session.commit()
    profile = load_profile("devcluster", Settings(dev_mode=True))
    rows = reconciliation.reconcile(
        session, profile=profile, reader=reader(), start=START, end=END, tolerance_s=10
    )
    by_account = {r.slurm_account: r for r in rows}
    assert set(by_account) == {"rouen-chimie", "mgtest-probe27708"}
    rouen = by_account["rouen-chimie"]
    assert (rouen.slurm_jobs, rouen.slurm_core_seconds, rouen.charged_core_seconds) == (8, 9, 9)
    assert rouen.diff_core_seconds == 0 and not rouen.flagged
    probe = by_account["mgtest-probe27708"]  # 19 s at billing=1 (1 CPU + 100M), never charged
    assert (probe.slurm_core_seconds, probe.charged_core_seconds, probe.diff_core_seconds) == (19, 0, 19)
    assert probe.flagged and probe.institution == "unicaen"

    parsed = list(csv.DictReader(io.StringIO(reconciliation.to_csv(rows))))
    assert [r["slurm_account"] for r in parsed] == ["mgtest-probe27708", "rouen-chimie"]
    assert parsed[0]["flagged"] == "True" and parsed[1]["diff_core_seconds"] == "0"
    assert reconciliation.to_dicts(rows)[1]["charged_entries"] == 3


def test_charges_outside_the_window_do_not_count(session: Session) -> None:
    ids = seed(session)
    late = SqlLedger(session, clock=FakeClock(datetime(2026, 11, 28, 18, 0, tzinfo=UTC)))
    late.charge_outside(ids["rouen-chimie"], "8895", Cost(4))  # type: ignore[arg-type]
    session.commit()
    profile = load_profile("devcluster", Settings(dev_mode=True))
    rows = reconciliation.reconcile(session, profile=profile, reader=reader(), start=START, end=END)
    assert {r.slurm_account: r.charged_core_seconds for r in rows}["rouen-chimie"] == 0


@pytest.mark.parametrize(
    ("diff", "reference", "flagged"), [(60, 100_000, False), (61, 1000, True), (1001, 100_000, True)]
)
def test_tolerance_is_both_absolute_and_relative(diff: int, reference: int, flagged: bool) -> None:
    assert reconciliation.beyond(diff, reference, percent=Decimal(1), minimum_s=60) is flagged
    assert reconciliation.beyond(-diff, reference, percent=Decimal(1), minimum_s=60) is flagged


def test_empty_window_is_refused(session: Session) -> None:
    profile = load_profile("devcluster", Settings(dev_mode=True))
    with pytest.raises(InvalidRequest):
        reconciliation.reconcile(session, profile=profile, reader=reader(), start=END, end=START)
