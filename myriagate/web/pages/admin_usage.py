"""Usage reports per month: a table, a bar chart drawn as SVG on the server, and CSV export.

Rows come from ``services.allocations.reports`` and are filtered there to what the reader may see
(members their projects, university admins their institution, platform admins everything),
as ``GET /api/v1/reports/usage`` does.
"""

from __future__ import annotations

import csv
import io
from typing import Literal

from fastapi import APIRouter, Request, Response

from myriagate.domain.spreadsheet_cells import spreadsheet_cell
from myriagate.errors import hours_figure
from myriagate.services.allocations import reports as usage_reports
from myriagate.web.deps import ClockDep, DbSession
from myriagate.web.downloads import attachment_headers
from myriagate.web.i18n import Translator
from myriagate.web.pages.charts import bar_chart
from myriagate.web.pages.deps import PageUser
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
GroupBy = Literal["institution", "project", "user"]
# The French CSV's headings (msgids of the pages' catalog), in the machine CSV's column order.
_HEADINGS = ("Month", "Institution", "Cluster", "Project", "User", "Jobs", "CPU seconds", "GPU seconds",
             "CPU-h", "GPU-h")  # fmt: skip


def _user(row: usage_reports.UsageRow, t: Translator) -> str:
    """The row's user; the jobs run outside the gateway said in the reader's language."""
    return t.gettext("(outside)") if row.username == usage_reports.OUTSIDE else (row.username or "")


def _label(row: usage_reports.UsageRow, group_by: GroupBy, t: Translator) -> str:
    if group_by == "institution":
        return row.institution
    if group_by == "project":
        return row.slurm_account or "—"
    return f"{_user(row, t)} · {row.slurm_account}"


def _spreadsheet_csv(rows: list[usage_reports.UsageRow], t: Translator) -> str:
    """The report as a French spreadsheet opens it: columns split on ';', hours with a decimal
    comma (read as numbers: '1.5' would be text, or a date), headings and '(outside)' in French,
    and a byte order mark so it is read as UTF-8. Other languages get the API's CSV."""
    if t.lang != "fr":
        return usage_reports.to_csv(rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([t.gettext(heading) for heading in _HEADINGS])
    for r in rows:
        hours = [str(hours_figure(seconds)).replace(".", ",") for seconds in (r.core_seconds, r.gpu_seconds)]
        writer.writerow(
            [spreadsheet_cell(v) for v in
             (r.month, r.institution, r.cluster or "", r.slurm_account or "", _user(r, t), r.jobs,
              r.core_seconds, r.gpu_seconds)] + hours
        )  # fmt: skip
    return "\ufeff" + out.getvalue()


@router.get("/reports/usage")
def usage_page(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, month: str = "",
    group_by: GroupBy = "project",
) -> Response:  # fmt: skip
    month = month or clock.now().strftime("%Y-%m")
    rows = usage_reports.usage_report(db, page.user, month=month, group_by=group_by)
    t = translator_for(request)
    chart = bar_chart([(_label(r, group_by, t), float(r.core_hours), t.hours(r.core_seconds)) for r in rows])
    return render(
        request, "usage.html", rows=rows, chart=chart, month=month, group_by=group_by,
        users=[_user(r, t) or "—" for r in rows],
        total_core_seconds=sum(r.core_seconds for r in rows), total_jobs=sum(r.jobs for r in rows),
    )  # fmt: skip


@router.get("/reports/usage.csv")
def usage_csv(
    request: Request, page: PageUser, db: DbSession, month: str, group_by: GroupBy = "project"
) -> Response:
    rows = usage_reports.usage_report(db, page.user, month=month, group_by=group_by)
    # month was checked (YYYY-MM) by the service: safe in a header.
    return Response(
        _spreadsheet_csv(rows, translator_for(request)),
        media_type="text/csv; charset=utf-8",
        headers=attachment_headers(f"myriagate-usage-{month}-by-{group_by}.csv"),
    )
