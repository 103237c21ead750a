"""The reconciliation report: per project, what Slurm accounted versus what the gateway charged.

"Seen by Slurm" is ``sacct`` (every job that ended in the window, all users, gateway or not),
priced as the gateway charges (``charging.charge_on``: sacct's billing TRES × elapsed seconds,
GPUs × elapsed seconds; a record without a billing TRES by the partition's rule from the
profile), so both columns are in the same integer core- and GPU-seconds. "Charged" is
the sum of the ledger's ``charge`` entries of the window. A job is counted in the window where
it ended; the gateway charges it when the worker settles it, seconds to minutes later, so a
job ending just before a month boundary can show up as a difference (docs/slurm-sync.md).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.users import Project
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import JobUsage
from myriagate.domain.spreadsheet_cells import spreadsheet_cell
from myriagate.errors import InvalidRequest
from myriagate.ports import UsageReader
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import charging


@dataclass(frozen=True)
class ReconciliationRow:
    cluster: str
    institution: str
    slurm_account: str
    slurm_jobs: int
    slurm_core_seconds: int
    slurm_gpu_seconds: int
    charged_entries: int
    charged_core_seconds: int
    charged_gpu_seconds: int
    diff_core_seconds: int  # Slurm − gateway: positive = delivered but not (yet) charged
    diff_gpu_seconds: int
    flagged: bool


def slurm_cost(job: JobUsage, profile: ClusterProfile) -> Cost:
    """What one sacct record (one run) cost, by the rule the gateway charges with."""
    return charging.actual_on(profile, job, None)


def beyond(diff: int, reference: int, *, percent: Decimal, minimum_s: int) -> bool:
    """True when ``|diff|`` exceeds both ``minimum_s`` and ``percent`` % of ``reference``."""
    return abs(diff) > max(minimum_s, int(Decimal(reference) * percent / 100))


def reconcile(
    session: Session,
    *,
    profile: ClusterProfile,
    reader: UsageReader,
    start: datetime,
    end: datetime,
    tolerance_percent: Decimal = Decimal(1),
    tolerance_s: int = 60,
) -> list[ReconciliationRow]:
    """One row per project of the cluster, sorted by account."""
    if end <= start:
        raise InvalidRequest("the window must end after it starts")
    if tolerance_percent < 0 or tolerance_s < 0:
        raise InvalidRequest("tolerances cannot be negative")
    projects = {
        p.slurm_account: p for p in session.scalars(sa.select(Project).where(Project.cluster == profile.name))
    }
    seen = _slurm_totals(reader, projects, profile, start, end)
    charged = _charged_totals(session, profile, start, end)
    rows: list[ReconciliationRow] = []
    for account in sorted(projects):
        s, c = seen.get(account, [0, 0, 0]), charged.get(account, [0, 0, 0])
        diff_core, diff_gpu = s[1] - c[1], s[2] - c[2]
        flagged = beyond(
            diff_core, max(s[1], c[1]), percent=tolerance_percent, minimum_s=tolerance_s
        ) or beyond(diff_gpu, max(s[2], c[2]), percent=tolerance_percent, minimum_s=tolerance_s)
        project = projects.get(account)
        rows.append(
            ReconciliationRow(
                cluster=profile.name,
                institution=project.institution if project is not None else "",
                slurm_account=account,
                slurm_jobs=s[0],
                slurm_core_seconds=s[1],
                slurm_gpu_seconds=s[2],
                charged_entries=c[0],
                charged_core_seconds=c[1],
                charged_gpu_seconds=c[2],
                diff_core_seconds=diff_core,
                diff_gpu_seconds=diff_gpu,
                flagged=flagged,
            )
        )
    return rows


def _slurm_totals(
    reader: UsageReader, projects: dict[str, Project], profile: ClusterProfile, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """Per account, what Slurm says ended in the window: [jobs, core-seconds, GPU-seconds]."""
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for job in reader.ended_jobs(list(projects), start, end):
        if job.account not in projects:  # sacct filters by account already; be strict anyway
            continue
        cost = slurm_cost(job, profile)
        total = seen[job.account]
        total[0] += 1
        total[1] += cost.core_seconds
        total[2] += cost.gpu_seconds
    return seen


def _charged_totals(
    session: Session, profile: ClusterProfile, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """Per account, the ledger's charges in the window: [entries, core-seconds, GPU-seconds]."""
    charged: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    stmt = (
        sa.select(
            Project.slurm_account,
            sa.func.count(LedgerEntry.id),
            sa.func.coalesce(sa.func.sum(LedgerEntry.core_seconds), 0),
            sa.func.coalesce(sa.func.sum(LedgerEntry.gpu_seconds), 0),
        )
        .select_from(LedgerEntry)
        .join(Allocation, Allocation.id == LedgerEntry.allocation_id)
        .join(Project, Project.id == Allocation.project_id)
        .where(
            Project.cluster == profile.name,
            LedgerEntry.kind == EntryKind.CHARGE,
            LedgerEntry.at >= start,
            LedgerEntry.at < end,
        )
        .group_by(Project.slurm_account)
    )
    for account, count, core, gpu in session.execute(stmt):
        charged[account] = [int(count), int(core), int(gpu)]
    return charged


CSV_HEADER = tuple(ReconciliationRow.__dataclass_fields__)


def to_dicts(rows: list[ReconciliationRow]) -> list[dict[str, object]]:
    return [asdict(r) for r in rows]


def to_csv(rows: list[ReconciliationRow]) -> str:
    """RFC 4180 CSV, header first, exact integer seconds; text cells safe in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([spreadsheet_cell(getattr(row, name)) for name in CSV_HEADER])
    return out.getvalue()
