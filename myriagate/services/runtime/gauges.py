"""What ``/metrics`` reads from the database at each scrape: two GROUP BY queries.

Jobs are counted per (cluster, state) over the ``ix_jobs_cluster_state`` index; ledger totals
are the allocations' maintained totals summed per cluster (through their period), so neither
query reads the ledger entries themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, AllocationPeriod
from myriagate.db.models.jobs import Job
from myriagate.observability.database import DatabaseGauges, LedgerTotals


def read_gauges(session_factory: Callable[[], Session]) -> DatabaseGauges:
    """Job counts by (cluster, state) and ledger totals by cluster, in one short session."""
    with session_factory() as session:
        jobs = {
            (cluster, str(state)): int(count)
            for cluster, state, count in session.execute(
                sa.select(Job.cluster, Job.state, sa.func.count()).group_by(Job.cluster, Job.state)
            )
        }
        totals = sa.select(
            AllocationPeriod.cluster,
            sa.func.sum(Allocation.granted_core_seconds),
            sa.func.sum(Allocation.held_core_seconds),
            sa.func.sum(Allocation.charged_core_seconds),
            sa.func.sum(Allocation.granted_gpu_seconds),
            sa.func.sum(Allocation.held_gpu_seconds),
            sa.func.sum(Allocation.charged_gpu_seconds),
        ).join(AllocationPeriod, Allocation.period_id == AllocationPeriod.id)
        ledger = {
            row[0]: LedgerTotals(*(int(value or 0) for value in row[1:]))
            for row in session.execute(totals.group_by(AllocationPeriod.cluster))
        }
    return DatabaseGauges(jobs=jobs, ledger=ledger)
