"""Usage reports per month: a table, a bar chart drawn as SVG on the server, and CSV export.

Rows come from ``services.allocations.reports`` and are filtered there to what the reader may see
(members their projects, university admins their institution, platform admins everything),
as ``GET /api/v1/reports/usage`` does.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from myriagate.services.allocations import reports as usage_reports
from myriagate.web.deps import ClockDep, DbSession
from myriagate.web.downloads import attachment_headers
from myriagate.web.pages.charts import bar_chart
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
GroupBy = Literal["institution", "project", "user"]


def _label(row: usage_reports.UsageRow, group_by: GroupBy) -> str:
    if group_by == "institution":
        return row.institution
    if group_by == "project":
        return row.slurm_account or "—"
    return f"{row.username} · {row.slurm_account}"


@router.get("/reports/usage")
def usage_page(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, month: str = "",
    group_by: GroupBy = "project",
) -> Response:  # fmt: skip
    month = month or clock.now().strftime("%Y-%m")
    rows = usage_reports.usage_report(db, page.user, month=month, group_by=group_by)
    t = translator_for(request)
    chart = bar_chart([(_label(r, group_by), float(r.core_hours), t.hours(r.core_seconds)) for r in rows])
    return render(
        request, "usage.html", rows=rows, chart=chart, month=month, group_by=group_by,
        total_core_seconds=sum(r.core_seconds for r in rows), total_jobs=sum(r.jobs for r in rows),
    )  # fmt: skip


@router.get("/reports/usage.csv")
def usage_csv(page: PageUser, db: DbSession, month: str, group_by: GroupBy = "project") -> Response:
    rows = usage_reports.usage_report(db, page.user, month=month, group_by=group_by)
    # month was checked (YYYY-MM) by the service: safe in a header.
    return Response(
        usage_reports.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers=attachment_headers(f"myriagate-usage-{month}-by-{group_by}.csv"),
    )
