"""Allocations: balances, ledger history, grants and adjustments, periods, quotas, usage reports.

Who may see and change what is decided in ``services.allocations.grants`` (docs/allocations.md): an
allocation the caller may not see answers 404 like a missing one; one they see but may not
change answers 403. Amounts come in hours and go out both as exact integer seconds and as
hours for people. Every change is audited by the service, in the transaction of the change.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Query, Response

from myriagate.domain.costs import Cost, hours_to_seconds
from myriagate.errors import FieldError, InvalidRequest, NotFound, Text, hours_figure
from myriagate.ports import LedgerEntryView
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import reports as usage_reports
from myriagate.services.allocations import views as allocation_views
from myriagate.services.allocations.holds import Estimate
from myriagate.web.api import suspensions
from myriagate.web.api.allocation_schemas import (
    AdjustmentIn,
    AllocationOut,
    AmountOut,
    EstimateOut,
    GrantIn,
    LedgerEntryOut,
    LedgerKind,
    LedgerPageOut,
    PeriodIn,
    PeriodOut,
    QuotaIn,
    QuotaOut,
    UsageReportOut,
    UsageRowOut,
)
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, GatewayDep
from myriagate.web.downloads import attachment_headers
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, tags=["allocations"])
router.include_router(suspensions.router)  # /projects/{cluster}/{account}/suspension

_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": UsageReportOut,
        "content": {"text/csv": {}},
        "description": "JSON, or CSV with format=csv (a download with a file name)",
    },
    **problem_responses(422),
}


# --- views -----------------------------------------------------------------------------
def _hours(seconds: int) -> float:
    """Hours for people beside the exact seconds: 0.01 h steps, but never 0 for an amount that
    is not (a 5-second job's charge is 0.0014, not 0.0: issue #15)."""
    return float(hours_figure(seconds))


def amount_out(cost: Cost) -> AmountOut:
    return AmountOut(
        core_seconds=cost.core_seconds,
        gpu_seconds=cost.gpu_seconds,
        core_hours=_hours(cost.core_seconds),
        gpu_hours=_hours(cost.gpu_seconds),
    )


def allocation_out(pb: allocations.ProjectBalance) -> AllocationOut:
    b = pb.balance
    return AllocationOut(
        id=pb.allocation_id,
        cluster=pb.cluster,
        account=pb.slurm_account,
        institution=pb.institution,
        period_id=pb.period_id,
        period_name=pb.period_name,
        granted=amount_out(b.granted),
        held=amount_out(b.held),
        charged=amount_out(b.charged),
        remaining=amount_out(b.remaining),
        suspended_at=pb.suspended_at,
        suspension_reason=pb.suspension_reason,
    )


def estimate_out(estimate: Estimate) -> EstimateOut:
    """The API view of a dry run's estimate (``POST /jobs`` with ``dry_run``)."""
    before, after = estimate.remaining_before, estimate.remaining_after
    return EstimateOut(
        account=estimate.account,
        partition=estimate.partition,
        allocation_id=estimate.allocation_id,
        fits=estimate.fits,
        hold_core_seconds=estimate.hold.core_seconds,
        hold_gpu_seconds=estimate.hold.gpu_seconds,
        hold_core_hours=_hours(estimate.hold.core_seconds),
        hold_gpu_hours=_hours(estimate.hold.gpu_seconds),
        remaining_before_core_seconds=before.core_seconds if before else None,
        remaining_before_gpu_seconds=before.gpu_seconds if before else None,
        remaining_before_core_hours=_hours(before.core_seconds) if before else None,
        remaining_before_gpu_hours=_hours(before.gpu_seconds) if before else None,
        remaining_after_core_seconds=after.core_seconds if after else None,
        remaining_after_gpu_seconds=after.gpu_seconds if after else None,
        remaining_after_core_hours=_hours(after.core_seconds) if after else None,
        remaining_after_gpu_hours=_hours(after.gpu_seconds) if after else None,
    )


# The ledger's kinds as the API names them (the same words); an unknown kind is a bug (500).
_LEDGER_KINDS: dict[str, LedgerKind] = {kind: kind for kind in get_args(LedgerKind)}


def _entry_out(entry: LedgerEntryView) -> LedgerEntryOut:
    return LedgerEntryOut(
        id=entry.id,
        kind=_LEDGER_KINDS[entry.kind.value],
        core_seconds=entry.core_seconds,
        gpu_seconds=entry.gpu_seconds,
        core_hours=_hours(entry.core_seconds),
        gpu_hours=_hours(entry.gpu_seconds),
        job_id=entry.job_id,
        slurm_job_id=entry.slurm_job_id,
        author=entry.author,
        reason=entry.reason,
        at=entry.at,
    )


def _cluster(gateway: Gateway, name: str | None) -> str:
    """A known cluster name (the default one when None); 422 naming the field otherwise."""
    cluster = name or gateway.settings.default_cluster
    if cluster not in gateway.profiles:
        raise InvalidRequest(
            f"unknown cluster {cluster!r}; known: {', '.join(sorted(gateway.profiles))}",
            fields=[FieldError(("body", "cluster"), "unknown cluster")],
        )
    return cluster


def _amount(core_hours: Decimal, gpu_hours: Decimal) -> Cost:
    """Hours given by a person as a Cost, the offending field named when refused."""
    seconds: list[int] = []
    for name, value in (("core_hours", core_hours), ("gpu_hours", gpu_hours)):
        try:
            seconds.append(hours_to_seconds(value))
        except InvalidRequest as exc:
            raise InvalidRequest(exc.detail, fields=[FieldError(("body", name), exc.detail)]) from None
    return Cost(seconds[0], seconds[1])


def _signed_seconds(name: str, hours: Decimal) -> int:
    try:
        seconds = hours_to_seconds(abs(hours))  # pydantic already refused NaN and infinities
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, fields=[FieldError(("body", name), exc.detail)]) from None
    return -seconds if hours < 0 else seconds


# --- balances and history ----------------------------------------------------------------
@router.get("/allocations", response_model=list[AllocationOut], responses=problem_responses(422))
def list_allocations(
    user: CurrentUser,
    db: DbSession,
    clock: ClockDep,
    gateway: GatewayDep,
    cluster: Annotated[str | None, Query(max_length=64)] = None,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    period: Annotated[UUID | None, Query(description="A period id (default: the current periods)")] = None,
) -> list[AllocationOut]:
    """Balances I may see: my projects', my institution's (university admin), all (platform admin)."""
    at: datetime = clock.now()
    if period is not None:
        found = allocation_views.get_period(db, period)
        if found is None or cluster not in (None, found.cluster):
            return []
        # Periods of a cluster never overlap: its start picks exactly that period.
        at, cluster = found.starts_at, found.cluster
    rows = allocations.balances(db, user, ledger=gateway.ledger, cluster=cluster, at=at)
    return [
        allocation_out(pb)
        for pb in rows
        if (institution is None or pb.institution == institution)
        and (period is None or pb.period_id == period)
    ]


@router.get("/allocations/{allocation_id}", response_model=AllocationOut, responses=problem_responses(404))
def get_allocation(
    allocation_id: UUID, user: CurrentUser, db: DbSession, gateway: GatewayDep
) -> AllocationOut:
    """One balance: granted, held, charged and remaining, in seconds and hours."""
    return allocation_out(allocations.balance_of(db, user, allocation_id, ledger=gateway.ledger))


@router.get(
    "/allocations/{allocation_id}/ledger", response_model=LedgerPageOut, responses=problem_responses(404, 422)
)
def ledger(
    allocation_id: UUID,
    user: CurrentUser,
    db: DbSession,
    gateway: GatewayDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=32, description="The previous next_cursor")] = None,
) -> LedgerPageOut:
    """The allocation's ledger entries, newest first, a page at a time."""
    position: int | None = None
    if cursor:
        if not cursor.isdigit():
            raise InvalidRequest(
                Text("not a cursor from this API"),
                fields=[FieldError(("query", "cursor"), Text("not a cursor from this API"))],
            )
        position = int(cursor)
    page = allocations.history(db, user, allocation_id, ledger=gateway.ledger, limit=limit, cursor=position)
    return LedgerPageOut(
        items=[_entry_out(e) for e in page.items],
        next_cursor=None if page.next_cursor is None else str(page.next_cursor),
    )


# --- grants and adjustments ----------------------------------------------------------------
@router.post(
    "/allocations", status_code=201, response_model=AllocationOut, responses=problem_responses(403, 409, 422)
)
def grant(
    body: GrantIn, response: Response, user: CurrentUser, db: DbSession, gateway: GatewayDep, clock: ClockDep
) -> AllocationOut:
    """Grant hours to a project for a period, or top up its allocation (within the quota)."""
    cluster = _cluster(gateway, body.cluster)
    amount = _amount(body.core_hours, body.gpu_hours)
    try:
        granted = allocations.grant(
            db, user, cluster=cluster, slurm_account=body.account, amount=amount, reason=body.reason,
            period_id=body.period_id, clock=clock, ledger=gateway.ledger,
        )  # fmt: skip
    except NotFound as exc:
        # The project or period is named in the body: a bad reference, not a missing URL.
        field = "account" if exc.detail.startswith("unknown project") else "period_id"
        raise InvalidRequest(exc.detail, fields=[FieldError(("body", field), exc.detail)]) from None
    response.headers["Location"] = f"/api/v1/allocations/{granted.allocation_id}"
    return allocation_out(granted)


@router.post(
    "/allocations/{allocation_id}/adjustments",
    status_code=201,
    response_model=AllocationOut,
    responses=problem_responses(403, 404, 409, 422),
)
def adjust(
    allocation_id: UUID,
    body: AdjustmentIn,
    user: CurrentUser,
    db: DbSession,
    clock: ClockDep,
    gateway: GatewayDep,
) -> AllocationOut:
    """A signed correction of the grant, with a reason (never below what is held and charged)."""
    ledger = gateway.ledger
    allocations.balance_of(db, user, allocation_id, ledger=ledger)  # 404 before 403: ids cannot be probed
    allocations.adjust(
        db, user, allocation_id=allocation_id,
        core_seconds=_signed_seconds("core_hours", body.core_hours),
        gpu_seconds=_signed_seconds("gpu_hours", body.gpu_hours),
        reason=body.reason, clock=clock, ledger=ledger,
    )  # fmt: skip
    return allocation_out(allocations.balance_of(db, user, allocation_id, ledger=ledger))


# --- periods and quotas ----------------------------------------------------------------------
@router.get("/periods", response_model=list[PeriodOut])
def list_periods(
    user: CurrentUser, db: DbSession, cluster: Annotated[str | None, Query(max_length=64)] = None
) -> list[PeriodOut]:
    """Allocation periods, oldest first (every signed-in user may read them)."""
    return [PeriodOut.model_validate(p) for p in allocation_views.periods(db, cluster=cluster)]


@router.post(
    "/periods", status_code=201, response_model=PeriodOut, responses=problem_responses(403, 409, 422)
)
def create_period(
    body: PeriodIn, user: CurrentUser, db: DbSession, gateway: GatewayDep, clock: ClockDep
) -> PeriodOut:
    """A new period ``[starts_at, ends_at)`` (platform admins); 409 when it overlaps another."""
    cluster = _cluster(gateway, body.cluster)
    period = allocations.create_period(
        db, user, cluster=cluster, name=body.name, starts_at=body.starts_at, ends_at=body.ends_at, clock=clock
    )
    return PeriodOut.model_validate(period)


def _quota_out(view: allocation_views.QuotaView) -> QuotaOut:
    return QuotaOut(
        institution=view.institution,
        period_id=view.period_id,
        period_name=view.period_name,
        cluster=view.cluster,
        quota=amount_out(view.quota),
        granted=amount_out(view.granted),
        left=amount_out(view.left),
    )


@router.get(
    "/institutions/{code}/quotas", response_model=list[QuotaOut], responses=problem_responses(403, 404)
)
def list_quotas(code: str, user: CurrentUser, db: DbSession) -> list[QuotaOut]:
    """An institution's quotas and what it granted (its university admins, platform admins)."""
    return [_quota_out(v) for v in allocation_views.quotas_of(db, user, code)]


@router.put(
    "/institutions/{code}/quotas/{period_id}",
    response_model=QuotaOut,
    responses=problem_responses(403, 404, 409, 422),
)
def set_quota(
    code: str, period_id: UUID, body: QuotaIn, user: CurrentUser, db: DbSession, clock: ClockDep
) -> QuotaOut:
    """Set an institution's quota for a period (platform admins); never below what it granted."""
    amount = _amount(body.core_hours, body.gpu_hours)
    allocations.set_quota(db, user, institution=code, period_id=period_id, amount=amount, clock=clock)
    view = next((v for v in allocation_views.quotas_of(db, user, code) if v.period_id == period_id), None)
    if view is None:  # pragma: no cover - just written
        raise NotFound(f"no quota of {code} for period {period_id}")
    return _quota_out(view)


# --- usage reports ---------------------------------------------------------------------------
def _row_out(row: usage_reports.UsageRow) -> UsageRowOut:
    return UsageRowOut(
        month=row.month,
        institution=row.institution,
        cluster=row.cluster,
        account=row.slurm_account,
        user=row.username,
        jobs=row.jobs,
        core_seconds=row.core_seconds,
        gpu_seconds=row.gpu_seconds,
        core_hours=float(row.core_hours),
        gpu_hours=float(row.gpu_hours),
    )


@router.get("/reports/usage", response_model=UsageReportOut, responses=_CSV_RESPONSES)
def usage_report(
    user: CurrentUser,
    db: DbSession,
    month: Annotated[str, Query(max_length=7, description="e.g. 2026-11")],
    group_by: Literal["institution", "project", "user"] = "project",
    institution: Annotated[str | None, Query(max_length=64)] = None,
    format: Literal["json", "csv"] = "json",
) -> Response | UsageReportOut:
    """What was charged in a month, per institution, project or user, for what I may see."""
    rows = usage_reports.usage_report(db, user, month=month, group_by=group_by, institution=institution)
    if format == "csv":
        # month was checked (YYYY-MM) by the service: safe in a header.
        filename = f"myriagate-usage-{month}-by-{group_by}.csv"
        return Response(
            usage_reports.to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers=attachment_headers(filename),
        )
    total = Cost(sum(r.core_seconds for r in rows), sum(r.gpu_seconds for r in rows))
    return UsageReportOut(
        month=month,
        group_by=group_by,
        rows=[_row_out(r) for r in rows],
        total=amount_out(total),
        jobs=sum(r.jobs for r in rows),
    )
