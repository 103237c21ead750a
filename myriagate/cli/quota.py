"""`myriagate quota`: your projects' balances over the API, and the shared readers and bars.

Every command here is a client of the REST API (docs/api.md): the rules are enforced by the
server, and a refusal comes back with its own exit code.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import httpx
import typer
from pydantic import BaseModel, TypeAdapter, ValidationError

from myriagate.cli.context import open_gateway
from myriagate.cli.output import JsonOpt, WideOpt, guarded, print_json, print_table, warn
from myriagate.cli.tables import Col
from myriagate.errors import BackendError
from myriagate.web.api.allocation_schemas import AllocationOut, AmountOut, EstimateOut

M = TypeVar("M", bound=BaseModel)


ClusterOpt = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")]


BAR_WIDTH = 20


# --- reading answers ---------------------------------------------------------------------------
def read_model(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise _unexpected(response) from exc


def read_models(model: type[M], response: httpx.Response) -> list[M]:
    try:
        return TypeAdapter(list[model]).validate_python(response.json())  # type: ignore[valid-type]
    except (ValueError, ValidationError) as exc:
        raise _unexpected(response) from exc


def _unexpected(response: httpx.Response) -> BackendError:
    """An answer this client cannot read: said without pydantic's dump of it (issue #15)."""
    return BackendError(
        f"unexpected answer from {response.request.url.path}: not what this version of myriagate "
        "expects (is the gateway's URL right, and are the gateway and this client up to date?)"
    )


def fmt_hours(hours: float) -> str:
    """``9870`` -> ``9,870``; ``0.5`` -> ``0.50``: whole hours without decimals; an amount that is
    not zero never reads 0 (``0.0014`` -> ``< 0.01``, as on the pages: errors.hours_said)."""
    if 0 < abs(hours) < 0.005:
        return "< 0.01" if hours > 0 else "> -0.01"
    return f"{int(hours):,}" if hours == int(hours) else f"{hours:,.2f}"


def bar(amount_used: int, amount_held: int, granted: int, width: int = BAR_WIDTH) -> str:
    """``█`` charged, ``▒`` held, ``░`` remaining, out of ``granted`` (plain text, no colour)."""
    if granted <= 0:
        return "·" * width
    used = min(width, round(width * amount_used / granted))
    held = min(width - used, round(width * amount_held / granted))
    return "█" * used + "▒" * held + "░" * (width - used - held)


def _hours_pair(amount: AmountOut, with_gpu: bool) -> str:
    text = fmt_hours(amount.core_hours)
    return f"{text} / {fmt_hours(amount.gpu_hours)}" if with_gpu else text


def describe_estimate(estimate: EstimateOut) -> str:
    """One line for `submit --dry-run`: what the job would hold, and from what is left."""
    hold = f"{fmt_hours(estimate.hold_core_hours)} CPU-h"
    if estimate.hold_gpu_seconds:
        hold += f" and {fmt_hours(estimate.hold_gpu_hours)} GPU-h"
    if estimate.allocation_id is None or estimate.remaining_before_core_hours is None:
        return (
            f"this job would hold {hold}, but {estimate.account} has no allocation now: it would be refused"
            " (ask your project lead to request a grant)"
        )
    left = f"{fmt_hours(estimate.remaining_before_core_hours)}"
    if estimate.hold_gpu_seconds:
        left += f" CPU-h and {fmt_hours(estimate.remaining_before_gpu_hours or 0)} GPU-h"
    line = f"this job will hold {hold} of the {left} remaining on {estimate.account}"
    if estimate.fits:
        return line
    # What to do next, as the refusal itself says it (services/allocations/refusals.py).
    return (
        line.replace("will hold", "would need")
        + ": it would be refused (shorten its time limit with -t, or ask your project lead for more hours)"
    )


# --- myriagate quota ---------------------------------------------------------------------------
@guarded
def quota(
    ctx: typer.Context, cluster: ClusterOpt = None, wide: WideOpt = False, json: JsonOpt = False
) -> None:
    """Your projects' balances in CPU-hours: granted, used (charged), held and remaining."""
    with open_gateway(ctx) as client:
        rows = read_models(AllocationOut, client.request("GET", "/allocations", params={"cluster": cluster}))
    if json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    if not rows:
        typer.echo("No allocation for the current period on your projects.")
        return
    gpu = any(r.granted.gpu_seconds for r in rows)
    unit = "CPU-h / GPU-h" if gpu else "CPU-h"
    print_table(
        # Names and amounts stay whole; on a narrow terminal the bar, the period, the cluster
        # and the held amount (granted - used - remaining) give way, in that order.
        (
            Col("cluster", whole=True, priority=3),
            Col("account", whole=True),
            Col("period", whole=True, priority=4),
            Col(f"granted ({unit})", whole=True),
            Col("used", whole=True),
            Col("held", whole=True, priority=2),
            Col("remaining", whole=True),
            Col("█ used ▒ held ░ left", whole=True, priority=5),
        ),
        [
            (
                r.cluster,
                r.account,
                r.period_name,
                _hours_pair(r.granted, gpu),
                _hours_pair(r.charged, gpu),
                _hours_pair(r.held, gpu),
                _hours_pair(r.remaining, gpu),
                bar(r.charged.core_seconds, r.held.core_seconds, r.granted.core_seconds),
            )
            for r in rows
        ],
        title="Allocations",
        wide=wide,
    )
    for r in rows:  # a suspension by the admins: said after the table, with their reason
        if r.suspended_at is not None:
            warn(
                f"{r.account} on {r.cluster} is suspended by its administrators since "
                f"{r.suspended_at:%Y-%m-%d %H:%M} UTC: {r.suspension_reason or ''} "
                "(no new job can be submitted for it; jobs already queued or running are not affected)"
            )
