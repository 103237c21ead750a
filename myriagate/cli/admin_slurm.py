"""`myriagate admin slurm-sync` and `myriagate admin reconcile`: Slurm's side of allocations.

slurm-sync also compares the cluster profile with Slurm's own configuration (scontrol, read
only) and lists every difference (profiles/drift.py), in both modes.

Both run in-process (like `admin db`): they read the database and act on Slurm as a Slurm
operator (root on the cluster itself, else `[connection] operator_login` over SSH). See
docs/slurm-sync.md.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from myriagate.cli.output import guarded, print_json, print_table
from myriagate.logs import configure_logging
from myriagate.settings import get_settings

if TYPE_CHECKING:  # the commands import services when run: `myriagate --help` stays quick
    from myriagate.profiles.drift import Mismatch
    from myriagate.profiles.models import ClusterProfile
    from myriagate.services.allocations.reconciliation import ReconciliationRow
    from myriagate.services.allocations.slurm_sync import Plan
    from myriagate.wiring import Gateway

Cluster = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default from settings).")]


def slurm_sync(
    cluster: Cluster = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the sacctmgr commands; change nothing.")
    ] = False,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", "-A", help="Only these project accounts (repeat the option)."),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Make Slurm's accounts, user associations and limits match the gateway's allocations,
    and list where the cluster profile and Slurm's own configuration disagree."""
    from myriagate.clock import SystemClock
    from myriagate.services.allocations import slurm_sync as sync
    from myriagate.wiring import build_gateway

    settings = get_settings()
    configure_logging("WARNING", json=settings.log_json)
    gateway = build_gateway(settings)
    try:
        profile = gateway.profile(cluster)
        admin = gateway.slurm_accounts(profile.name)
        with gateway.session_factory() as session:
            plan = sync.plan_sync(
                session,
                profile=profile,
                admin=admin,
                clock=SystemClock(),
                ledger=gateway.ledger,
                only_accounts=account or None,
            )
        mismatches = _profile_drift(gateway, profile)
        for warning in plan.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        if not json:  # shown before running, so a refusal half-way is read in context
            _print_drift(profile.name, mismatches)
            for step in plan.steps:
                reason = step.change.reason
                typer.echo(f"{step.display}    # {reason}" if reason else step.display)
        if not dry_run:
            sync.apply(plan, admin)
        if json:
            print_json(_plan_json(plan, dry_run) | _drift_json(mismatches))
            return
        if plan.is_empty:
            typer.echo(f"{plan.cluster}: Slurm already matches the gateway; nothing to do.")
            return
        verb = "would run (dry run: nothing changed)" if dry_run else "applied"
        typer.echo(f"{plan.cluster}: {len(plan.steps)} command(s) {verb}.")
    finally:
        gateway.close()


def reconcile(
    cluster: Cluster = None,
    month: Annotated[str | None, typer.Option(help="Month as 2026-11 (default: this month, UTC).")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    tolerance_percent: Annotated[
        float, typer.Option(help="Flag a project when the difference exceeds this % …")
    ] = 1.0,
    tolerance_seconds: Annotated[int, typer.Option(help="… and this many core-seconds.")] = 60,
) -> None:
    """Usage seen by Slurm (sacct) versus charged by the gateway, per project, for one month."""
    from myriagate.clock import SystemClock
    from myriagate.services.allocations import reconciliation
    from myriagate.services.allocations.reports import month_bounds
    from myriagate.wiring import build_gateway

    if csv and json:
        raise typer.BadParameter("choose one of --csv and --json")
    settings = get_settings()
    configure_logging("WARNING", json=settings.log_json)
    month = month or f"{SystemClock().now():%Y-%m}"
    start, end = month_bounds(month)
    gateway = build_gateway(settings)
    try:
        profile = gateway.profile(cluster)
        with gateway.session_factory() as session:
            rows = reconciliation.reconcile(
                session,
                profile=profile,
                reader=gateway.slurm_usage(profile.name),
                start=start,
                end=end,
                tolerance_percent=Decimal(str(tolerance_percent)),
                tolerance_s=tolerance_seconds,
            )
    finally:
        gateway.close()
    if csv:
        sys.stdout.write(reconciliation.to_csv(rows))
        return
    if json:
        print_json({"cluster": profile.name, "month": month, "rows": reconciliation.to_dicts(rows)})
        return
    _print_rows(rows, f"Reconciliation {profile.name} {month}")
    flagged = sum(r.flagged for r in rows)
    typer.echo(f"{flagged} of {len(rows)} project(s) differ beyond the tolerance.")


def _profile_drift(gateway: Gateway, profile: ClusterProfile) -> list[Mismatch] | None:
    """Profile against scontrol (read-only); None, with a warning, when scontrol cannot be read."""
    from myriagate.errors import BackendError
    from myriagate.profiles.drift import compare

    try:
        config = gateway.slurm_config(profile.name).read()
    except BackendError as exc:
        sys.stderr.write(f"warning: the profile was not compared with Slurm: {exc.detail}\n")
        return None
    return compare(profile, config)


def _print_drift(cluster: str, mismatches: list[Mismatch] | None) -> None:
    if mismatches is None:
        return
    if not mismatches:
        typer.echo(f"{cluster}: the cluster profile matches Slurm's partitions, nodes and licenses.")
        return
    print_table(
        ("partition", "profile key", "profile", "slurm", "why it matters"),
        [(m.partition or "(cluster)", m.key, m.profile, m.slurm, m.note) for m in mismatches],
        title=f"{cluster}: {len(mismatches)} difference(s) between the profile and Slurm",
    )


def _drift_json(mismatches: list[Mismatch] | None) -> dict[str, object]:
    """``profile_checked`` false when scontrol could not be read; then no rows, not "no drift"."""
    return {
        "profile_checked": mismatches is not None,
        "profile_mismatches": [m.as_dict() for m in mismatches or []],
    }


def _plan_json(plan: Plan, dry_run: bool) -> dict[str, object]:
    """The plan as ``slurm-sync --json`` prints it."""
    return {
        "cluster": plan.cluster,
        "dry_run": dry_run,
        "applied": not dry_run,
        "steps": [
            {
                "change": type(step.change).__name__,
                "account": step.change.account,
                "reason": step.change.reason,
                "argv": list(step.argv),
                "command": step.display,
            }
            for step in plan.steps
        ],
        "warnings": plan.warnings,
    }


def _print_rows(rows: list[ReconciliationRow], title: str) -> None:
    """The reconciliation table, CPU-hours (Slurm's billing hours) with two decimals."""
    print_table(
        ("account", "institution", "slurm jobs", "slurm CPU-h", "charged CPU-h", "diff CPU-h", "flag"),
        [
            (
                r.slurm_account,
                r.institution,
                r.slurm_jobs,
                f"{Decimal(r.slurm_core_seconds) / 3600:.2f}",
                f"{Decimal(r.charged_core_seconds) / 3600:.2f}",
                f"{Decimal(r.diff_core_seconds) / 3600:+.2f}",
                "DIFF" if r.flagged else "",
            )
            for r in rows
        ],
        title=title,
    )


def register(app: typer.Typer) -> None:
    app.command("slurm-sync")(guarded(slurm_sync))
    app.command("reconcile")(guarded(reconcile))
