"""`myriagate admin quota|grant|report|periods`: allocations over the API.

Every command here is a client of the REST API (docs/api.md): the rules (who may grant, within
which quota, what a report shows) are enforced by the server, and a refusal comes back with
its own exit code. Hours are sent as typed (strings), so ``0.5`` is never rounded by a float.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import typer

from myriagate.cli.client import GatewayClient
from myriagate.cli.context import open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, guarded, print_json, print_table
from myriagate.cli.quota import fmt_hours, read_model, read_models
from myriagate.errors import FieldError, InvalidRequest
from myriagate.web.api.allocation_schemas import AllocationOut, PeriodOut, QuotaOut, UsageReportOut

ClusterOpt = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")]


quota_app = typer.Typer(
    cls=OneLineHelpGroup, help="Institution quotas per allocation period.", no_args_is_help=True
)


periods_app = typer.Typer(cls=OneLineHelpGroup, help="Allocation periods.", no_args_is_help=True)


def _period_id(client: GatewayClient, period: str | None, cluster: str | None) -> uuid.UUID | None:
    """A period given as its id or its name (looked up in ``GET /periods``)."""
    if period is None:
        return None
    try:
        return uuid.UUID(period)
    except ValueError:
        pass
    found = [
        p
        for p in read_models(PeriodOut, client.request("GET", "/periods", params={"cluster": cluster}))
        if p.name == period
    ]
    if len(found) != 1:
        raise InvalidRequest(
            f"no single period named {period!r}" + ("" if not found else " (give its id)"),
            fields=[FieldError(("period",), "see `myriagate admin periods list`")],
        )
    return found[0].id


# --- myriagate admin quota set|show --------------------------------------------------------------
def _show_quotas(quotas: list[QuotaOut]) -> None:
    print_table(
        (
            "institution",
            "cluster",
            "period",
            "quota CPU-h",
            "granted",
            "left",
            "quota GPU-h",
            "granted",
            "left",
        ),
        [
            (
                q.institution,
                q.cluster,
                q.period_name,
                fmt_hours(q.quota.core_hours),
                fmt_hours(q.granted.core_hours),
                fmt_hours(q.left.core_hours),
                fmt_hours(q.quota.gpu_hours),
                fmt_hours(q.granted.gpu_hours),
                fmt_hours(q.left.gpu_hours),
            )
            for q in quotas
        ],
        title="Quotas",
    )


@quota_app.command("set")
@guarded
def quota_set(
    ctx: typer.Context,
    institution: Annotated[str, typer.Argument(help="Institution code, e.g. unicaen.")],
    period: Annotated[str, typer.Option("--period", help="Period id or name.")],
    core_hours: Annotated[
        str,
        typer.Option("--cpu-hours", "--core-hours", help="CPU-hours (Slurm's billing hours), e.g. 500000."),
    ],
    gpu_hours: Annotated[str, typer.Option("--gpu-hours", help="GPU-hours.")] = "0",
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Set an institution's quota for a period (platform admins)."""
    with open_gateway(ctx) as client:
        period_id = _period_id(client, period, cluster)
        body = {"core_hours": core_hours, "gpu_hours": gpu_hours}
        path = f"/institutions/{quote(institution, safe='')}/quotas/{period_id}"
        result = read_model(QuotaOut, client.request("PUT", path, json=body))
    if json:
        print_json(result.model_dump(mode="json"))
    else:
        _show_quotas([result])


@quota_app.command("show")
@guarded
def quota_show(
    ctx: typer.Context,
    institution: Annotated[str, typer.Argument(help="Institution code, e.g. unicaen.")],
    json: JsonOpt = False,
) -> None:
    """An institution's quotas and what it has granted (its admins, platform admins)."""
    with open_gateway(ctx) as client:
        quotas = read_models(
            QuotaOut, client.request("GET", f"/institutions/{quote(institution, safe='')}/quotas")
        )
    if json:
        print_json([q.model_dump(mode="json") for q in quotas])
    else:
        _show_quotas(quotas)


# --- myriagate admin grant -------------------------------------------------------------------
@guarded
def grant(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="The project's Slurm account, e.g. caen-climat.")],
    core_hours: Annotated[
        str, typer.Option("--cpu-hours", "--core-hours", help="CPU-hours (Slurm's billing hours) to add.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")],
    gpu_hours: Annotated[str, typer.Option("--gpu-hours", help="GPU-hours to add.")] = "0",
    period: Annotated[
        str | None, typer.Option("--period", help="Period id or name (default: current).")
    ] = None,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Grant hours to a project, or top it up (university admins within their quota)."""
    with open_gateway(ctx) as client:
        period_id = _period_id(client, period, cluster)
        body: dict[str, Any] = {"account": project, "core_hours": core_hours, "gpu_hours": gpu_hours,
                                "reason": reason, "cluster": cluster,
                                "period_id": str(period_id) if period_id else None}  # fmt: skip
        body = {k: v for k, v in body.items() if v is not None}
        result = read_model(AllocationOut, client.request("POST", "/allocations", json=body))
    if json:
        print_json(result.model_dump(mode="json"))
        return
    typer.echo(
        f"Granted {fmt_hours(result.granted.core_hours)} CPU-h in total to {result.account} "
        f"({result.period_name}); {fmt_hours(result.remaining.core_hours)} CPU-h remaining."
    )


# --- myriagate admin report --------------------------------------------------------------------
@guarded
def report(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="Month, e.g. 2026-11.")],
    by: Annotated[
        Literal["institution", "project", "user"], typer.Option("--by", help="Group by.")
    ] = "project",
    institution: Annotated[str | None, typer.Option("--institution", help="Only this institution.")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout (for a spreadsheet).")] = False,
    json: JsonOpt = False,
) -> None:
    """Usage charged in a month, per institution, project or user (what you may see)."""
    if csv and json:
        raise InvalidRequest("choose --csv or --json, not both")
    params = {"month": month, "group_by": by, "institution": institution, "format": "csv" if csv else "json"}
    with open_gateway(ctx) as client:
        response = client.request("GET", "/reports/usage", params=params)
        if csv:
            sys.stdout.write(response.text.replace("\r\n", "\n"))
            return
        result = read_model(UsageReportOut, response)
    if json:
        print_json(result.model_dump(mode="json"))
        return
    print_table(
        ("institution", "cluster", "account", "user", "jobs", "CPU-h", "GPU-h"),
        [
            (
                r.institution,
                r.cluster,
                r.account,
                r.user,
                r.jobs,
                fmt_hours(r.core_hours),
                fmt_hours(r.gpu_hours),
            )
            for r in result.rows
        ]
        + [
            (
                "total",
                "",
                "",
                "",
                result.jobs,
                fmt_hours(result.total.core_hours),
                fmt_hours(result.total.gpu_hours),
            )
        ],
        title=f"Usage in {result.month} by {result.group_by}",
    )


# --- myriagate admin periods list|create ------------------------------------------------------
def _when(text: str) -> datetime:
    """``2026-01-01`` (midnight UTC) or a full ISO date-time (UTC when no zone is given)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a date like 2026-01-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _show_periods(periods: list[PeriodOut]) -> None:
    print_table(
        ("id", "cluster", "name", "starts", "ends"),
        [(p.id, p.cluster, p.name, p.starts_at.isoformat(), p.ends_at.isoformat()) for p in periods],
        title="Allocation periods",
    )


@periods_app.command("list")
@guarded
def periods_list(ctx: typer.Context, cluster: ClusterOpt = None, json: JsonOpt = False) -> None:
    """Allocation periods, oldest first."""
    with open_gateway(ctx) as client:
        periods = read_models(PeriodOut, client.request("GET", "/periods", params={"cluster": cluster}))
    if json:
        print_json([p.model_dump(mode="json") for p in periods])
    else:
        _show_periods(periods)


@periods_app.command("create")
@guarded
def periods_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. 2027.")],
    start: Annotated[str, typer.Option("--start", help="First instant, e.g. 2027-01-01 (UTC).")],
    end: Annotated[str, typer.Option("--end", help="End (excluded), e.g. 2028-01-01 (UTC).")],
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Create an allocation period (platform admins); periods of a cluster never overlap."""
    body: dict[str, Any] = {
        "name": name,
        "starts_at": _when(start).isoformat(),
        "ends_at": _when(end).isoformat(),
    }
    if cluster:
        body["cluster"] = cluster
    with open_gateway(ctx) as client:
        period = read_model(PeriodOut, client.request("POST", "/periods", json=body))
    if json:
        print_json(period.model_dump(mode="json"))
    else:
        _show_periods([period])


def register_admin(admin_app: typer.Typer) -> None:
    """``admin quota …``, ``admin grant``, ``admin report``, ``admin periods …`` (API clients)."""
    admin_app.add_typer(quota_app, name="quota")
    admin_app.add_typer(periods_app, name="periods")
    admin_app.command("grant")(grant)
    admin_app.command("report")(report)
