"""Usage reports: what was charged, per institution, project, user and month, as rows or CSV.

Rows come from the ledger's ``charge`` entries of the month (gateway jobs carry their user
through the job row; jobs charged by the outside sweep have no gateway user and are reported
as ``(outside)``). An actor sees the rows of the projects they may see (members their
projects, university admins their institution, platform admins everything).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import Project, User
from myriagate.domain.spreadsheet_cells import spreadsheet_cell
from myriagate.errors import InvalidRequest, hours_figure
from myriagate.services.allocations.grants import can_view_project

GroupBy = Literal["institution", "project", "user"]
OUTSIDE = "(outside)"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])\Z")


@dataclass(frozen=True)
class UsageRow:
    month: str
    institution: str
    cluster: str | None
    slurm_account: str | None
    username: str | None
    jobs: int
    core_seconds: int
    gpu_seconds: int

    @property
    def core_hours(self) -> Decimal:
        return _report_hours(self.core_seconds)

    @property
    def gpu_hours(self) -> Decimal:
        return _report_hours(self.gpu_seconds)


def _report_hours(seconds: int) -> Decimal:
    """Hours to 0.01 for the report, but a short job's amount never reads 0.00 (issue #15)."""
    hours = (Decimal(seconds) / 3600).quantize(Decimal("0.01"))
    return hours if hours or not seconds else hours_figure(seconds)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` -> [2026-11-01, 2026-12-01) in UTC; InvalidRequest for anything else."""
    m = _MONTH.match(month)
    if m is None:
        raise InvalidRequest(f"month {month!r} must look like 2026-11")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def usage_report(
    session: Session,
    actor: User,
    *,
    month: str,
    group_by: GroupBy = "project",
    institution: str | None = None,
) -> list[UsageRow]:
    """Charged usage of ``month`` grouped by institution, project or user (projects × users)."""
    if group_by not in ("institution", "project", "user"):
        raise InvalidRequest("group_by must be institution, project or user")
    start, end = month_bounds(month)
    stmt = (
        sa.select(Project, LedgerEntry.core_seconds, LedgerEntry.gpu_seconds, User.username)
        .select_from(LedgerEntry)
        .join(Allocation, Allocation.id == LedgerEntry.allocation_id)
        .join(Project, Project.id == Allocation.project_id)
        .outerjoin(Job, Job.id == LedgerEntry.job_id)
        .outerjoin(User, User.id == Job.user_id)
        .where(LedgerEntry.kind == EntryKind.CHARGE, LedgerEntry.at >= start, LedgerEntry.at < end)
    )
    if institution is not None:
        stmt = stmt.where(Project.institution == institution)
    totals: dict[tuple[str, str | None, str | None, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    visible: dict[object, bool] = {}
    for project, core, gpu, username in session.execute(stmt):
        if project.id not in visible:
            visible[project.id] = can_view_project(actor, project)
        if not visible[project.id]:
            continue
        key: tuple[str, str | None, str | None, str | None] = (project.institution, None, None, None)
        if group_by in ("project", "user"):
            key = (project.institution, project.cluster, project.slurm_account, None)
        if group_by == "user":
            key = (*key[:3], username or OUTSIDE)
        total = totals[key]
        total[0] += 1
        total[1] += core
        total[2] += gpu
    return [
        UsageRow(month, inst, cluster, account, user, jobs, core, gpu)
        for (inst, cluster, account, user), (jobs, core, gpu) in sorted(
            totals.items(), key=lambda kv: str(kv[0])
        )
    ]


CSV_HEADER = (
    "month", "institution", "cluster", "slurm_account", "user", "jobs", "core_seconds", "gpu_seconds",
    "core_hours", "gpu_hours",
)  # fmt: skip


def to_csv(rows: list[UsageRow]) -> str:
    """The rows as CSV (RFC 4180, header first; exact integer seconds and hours to 0.01; text cells
    that a spreadsheet would run as formulas made text: domain/spreadsheet_cells.py)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in rows:
        writer.writerow(
            [spreadsheet_cell(v) for v in
             (r.month, r.institution, r.cluster or "", r.slurm_account or "", r.username or "", r.jobs,
              r.core_seconds, r.gpu_seconds, r.core_hours, r.gpu_hours)]
        )  # fmt: skip
    return out.getvalue()
