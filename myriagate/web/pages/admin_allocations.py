"""Allocations for admins: institutions and their quotas, projects and their grants, and one
allocation's ledger history (also open to the project's members, as in the API).

Every change goes through ``services.allocations.grants`` (which checks who may do it, audits it and
leaves nothing changed on refusal), exactly as the JSON API does.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from myriagate.domain.costs import Cost, hours_to_seconds
from myriagate.errors import FieldError, InvalidRequest, MyriagateError, NotFound, Text
from myriagate.ports import Clock, LedgerFactory
from myriagate.services.allocations import grants as allocations
from myriagate.services.allocations import views as allocation_views
from myriagate.services.common import authz
from myriagate.services.people import directory as admin_views
from myriagate.web.deps import ClockDep, DbSession, GatewayDep
from myriagate.web.pages.deps import PageContext, PageUser, require_roles
from myriagate.web.pages.forms import errors_by_field, form_fields, see_other
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
ADMINS: tuple[authz.Role, ...] = ("university_admin", "platform_admin")


def _typed_hours(raw: str, lang: str) -> str:
    """Hours as typed on a page: on a French page also as it writes them ('1 500,5', '−0,25').
    In English a comma stays refused: '1,500' is fifteen hundred there, not one and a half."""
    if lang == "fr":
        raw = re.sub(r"[\s\u00a0\u202f]", "", raw).replace(",", ".").replace("\u2212", "-")
    return raw


def _seconds(values: dict[str, str], name: str, lang: str, *, signed: bool = False) -> int:
    raw = _typed_hours(values.get(name, "").strip(), lang) or "0"
    negative = signed and raw.startswith("-")
    try:
        seconds = hours_to_seconds(raw[1:] if negative else raw)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.detail, fields=[FieldError((name,), exc.detail)]) from None
    return -seconds if negative else seconds


def _page(
    request: Request, page: PageContext, db: DbSession, clock: Clock, ledger: LedgerFactory, **context: Any
) -> Response:
    quotas = {
        inst.code: allocation_views.quotas_of(db, page.user, inst.code)
        for inst in admin_views.institutions(db, page.user)
    }
    return render(
        request,
        "admin_allocations.html",
        status=context.pop("status", 200),
        institutions=admin_views.institutions(db, page.user),
        quotas=quotas,
        periods=allocation_views.periods(db),
        balances=allocations.balances(db, page.user, ledger=ledger, at=clock.now()),
        projects=admin_views.projects(db, page.user),
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        problem=context.pop("problem", None),
        **context,
    )


@router.get("/admin/allocations")
def allocations_page(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, gateway: GatewayDep
) -> Response:
    require_roles(page, *ADMINS)
    return _page(request, page, db, clock, gateway.ledger)


def _refused(request: Request, page: PageContext, db: DbSession, clock: Clock, ledger: LedgerFactory,
             values: dict[str, str], exc: MyriagateError) -> Response:  # fmt: skip
    db.rollback()
    return _page(request, page, db, clock, ledger, values=values, errors=errors_by_field(exc.fields),
                 problem=exc, status=exc.http_status)  # fmt: skip


@router.post("/admin/quotas")
async def set_quota(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, gateway: GatewayDep
) -> Response:
    require_roles(page, "platform_admin")
    values = await form_fields(request)
    try:
        period_id = UUID(values.get("period_id", ""))
    except ValueError:
        choose = Text("choose a period")
        exc = InvalidRequest(choose, fields=[FieldError(("period_id",), choose)])
        return _refused(request, page, db, clock, gateway.ledger, values, exc)
    try:
        lang = translator_for(request).lang
        amount = Cost(_seconds(values, "quota_core_hours", lang), _seconds(values, "quota_gpu_hours", lang))
        allocations.set_quota(db, page.user, institution=values.get("institution", ""), period_id=period_id,
                              amount=amount, source="web", clock=clock)  # fmt: skip
    except MyriagateError as exc:
        return _refused(request, page, db, clock, gateway.ledger, values, exc)
    return see_other("/admin/allocations")


@router.post("/admin/grants")
async def grant(
    request: Request, page: PageUser, db: DbSession, gateway: GatewayDep, clock: ClockDep
) -> Response:
    require_roles(page, *ADMINS)
    values = await form_fields(request)
    try:
        lang = translator_for(request).lang
        amount = Cost(_seconds(values, "core_hours", lang), _seconds(values, "gpu_hours", lang))
        reason = values.get("reason", "").strip()
        if not reason:
            raise InvalidRequest(
                Text("say why"), fields=[FieldError(("reason",), Text("a reason is required"))]
            )
        allocations.grant(db, page.user, cluster=gateway.settings.default_cluster,
                          slurm_account=values.get("account", ""), amount=amount, reason=reason[:2000],
                          source="web", clock=clock, ledger=gateway.ledger)  # fmt: skip
    except NotFound as exc:
        unknown = InvalidRequest(exc.detail, fields=[FieldError(("account",), exc.detail)])
        return _refused(request, page, db, clock, gateway.ledger, values, unknown)
    except MyriagateError as exc:
        return _refused(request, page, db, clock, gateway.ledger, values, exc)
    return see_other("/admin/allocations")


@router.get("/allocations/{allocation_id}")
def ledger_page(
    allocation_id: UUID,
    request: Request,
    page: PageUser,
    db: DbSession,
    gateway: GatewayDep,
    cursor: int | None = None,
) -> Response:
    """One allocation's balance and ledger, newest first (members, its admins, platform admins)."""
    ledger = gateway.ledger
    balance = allocations.balance_of(db, page.user, allocation_id, ledger=ledger)
    history = allocations.history(db, page.user, allocation_id, ledger=ledger, limit=50, cursor=cursor)
    return render(request, "ledger.html", pb=balance, entries=history.items, next_cursor=history.next_cursor,
                  values={}, errors={}, problem=None)  # fmt: skip


@router.post("/allocations/{allocation_id}/adjustments")
async def adjust(
    allocation_id: UUID, request: Request, page: PageUser, db: DbSession, clock: ClockDep, gateway: GatewayDep
) -> Response:
    values = await form_fields(request)
    ledger = gateway.ledger
    # 404 before 403, as the API
    balance = allocations.balance_of(db, page.user, allocation_id, ledger=ledger)
    lang = translator_for(request).lang
    try:
        reason = values.get("reason", "").strip()
        if not reason:
            raise InvalidRequest(
                Text("say why"), fields=[FieldError(("reason",), Text("a reason is required"))]
            )
        allocations.adjust(db, page.user, allocation_id=allocation_id,
                           core_seconds=_seconds(values, "core_hours", lang, signed=True),
                           gpu_seconds=_seconds(values, "gpu_hours", lang, signed=True), reason=reason[:2000],
                           source="web", clock=clock, ledger=ledger)  # fmt: skip
    except MyriagateError as exc:
        db.rollback()
        history = allocations.history(db, page.user, allocation_id, ledger=ledger, limit=50)
        return render(request, "ledger.html", status=exc.http_status, pb=balance, entries=history.items,
                      next_cursor=history.next_cursor, values=values, errors=errors_by_field(exc.fields),
                      problem=exc)  # fmt: skip
    return see_other(f"/allocations/{allocation_id}")
