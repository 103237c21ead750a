"""Allocation periods never overlap, and a job's account at a time finds exactly one allocation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.errors import AlreadyExists, Conflict, InvalidRequest

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def test_overlapping_periods_of_a_cluster_are_refused_and_nothing_is_created(session: Session) -> None:
    allocations_repo.create_period(
        session, cluster="myria", name="2026", starts_at=at(2026), ends_at=at(2027)
    )
    for start, end in [(at(2026, 6), at(2026, 7)), (at(2025, 12), at(2026, 1, 2)), (at(2025), at(2028))]:
        with pytest.raises(Conflict, match="overlaps '2026'"):
            allocations_repo.create_period(session, cluster="myria", name="x", starts_at=start, ends_at=end)
    with pytest.raises(InvalidRequest):
        allocations_repo.create_period(
            session, cluster="myria", name="x", starts_at=at(2030), ends_at=at(2030)
        )
    # Back to back is fine ([start, end) intervals), and so is another cluster.
    allocations_repo.create_period(
        session, cluster="myria", name="2027", starts_at=at(2027), ends_at=at(2028)
    )
    allocations_repo.create_period(
        session, cluster="devcluster", name="2026", starts_at=at(2026), ends_at=at(2027)
    )
    session.commit()
    assert [p.name for p in allocations_repo.periods(session, "myria")] == ["2026", "2027"]
    current = allocations_repo.current_period(session, "myria", at(2027))
    assert current is not None and current.name == "2027"
    assert allocations_repo.current_period(session, "myria", at(2029)) is None


def test_the_allocation_paying_for_a_job_is_found_by_account_and_time(session: Session) -> None:
    projects_repo.add_institution(session, code="univ-rouen", name="Université de Rouen")
    project = projects_repo.add_project(
        session, cluster="myria", slurm_account="rouen-chimie", institution="univ-rouen", created_at=T0
    )
    y2026 = allocations_repo.create_period(
        session, cluster="myria", name="2026", starts_at=at(2026), ends_at=at(2027)
    )
    y2027 = allocations_repo.create_period(
        session, cluster="myria", name="2027", starts_at=at(2027), ends_at=at(2028)
    )
    a2026 = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=y2026.id, created_at=T0
    )
    a2027 = allocations_repo.create_allocation(
        session, project_id=project.id, period_id=y2027.id, created_at=T0
    )
    with pytest.raises(AlreadyExists):
        allocations_repo.create_allocation(session, project_id=project.id, period_id=y2026.id, created_at=T0)
    session.commit()
    assert allocations_repo.allocation_at(session, "myria", "rouen-chimie", at(2026, 12, 31)) is a2026
    assert allocations_repo.allocation_at(session, "myria", "rouen-chimie", at(2027, 3)) is a2027
    assert allocations_repo.allocation_at(session, "myria", "rouen-chimie", at(2031)) is None
    assert allocations_repo.allocation_at(session, "devcluster", "rouen-chimie", at(2026, 3)) is None
    assert allocations_repo.allocation_at(session, "myria", "unknown", at(2026, 3)) is None
    assert [a.id for a in allocations_repo.allocations_of_project(session, project.id)] == [
        a2027.id,
        a2026.id,
    ]
