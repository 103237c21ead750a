"""`myriagate admin …`: database and demo commands that run in-process."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from myriagate.cli import admin_allocations, admin_members, admin_projects, admin_slurm
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import console, guarded, print_json
from myriagate.demo import JobLine
from myriagate.errors import BackendError, ConfigError
from myriagate.logs import configure_logging
from myriagate.settings import get_settings

# Known to everyone on purpose: the demo refuses to run outside dev mode.
DEMO_PASSWORD = "myriagate-demo"  # noqa: S105

admin_app = typer.Typer(
    cls=OneLineHelpGroup, help="Administration: database, demo data.", no_args_is_help=True
)
db_app = typer.Typer(cls=OneLineHelpGroup, help="Database schema (Alembic migrations).", no_args_is_help=True)
admin_app.add_typer(db_app, name="db")
admin_slurm.register(admin_app)
admin_allocations.register_admin(admin_app)  # REST clients, unlike the rest of `admin`
admin_members.register(admin_app)  # `admin members list|add|remove`, REST clients too
admin_projects.register(admin_app)  # `admin project show|suspend|resume`, REST clients too


@db_app.command("upgrade")
@guarded
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or migrate the database to the latest schema."""
    from myriagate.db import migrate

    settings = get_settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at {migrate.current(settings.database_url)}")


@db_app.command("current")
@guarded
def db_current() -> None:
    """Show the database's schema revision."""
    from myriagate.db import migrate

    typer.echo(migrate.current(get_settings().database_url) or "empty (run: myriagate admin db upgrade)")


def _table(lines: list[JobLine]) -> Table:
    table = Table(title="Demo jobs (tracked by the worker)")
    for column in ("login", "name", "slurm id", "state", "exit", "reason"):
        table.add_column(column)
    for line in lines:
        table.add_row(
            line.login,
            line.job_name or "",
            line.slurm_job_id or "…",
            line.state,
            "" if line.exit_code is None else str(line.exit_code),
            line.reason or "",
        )
    return table


@admin_app.command("demo")
@guarded
def demo(
    cluster: Annotated[
        str | None, typer.Option("--cluster", "-M", help="Cluster (default from settings).")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Show states until all jobs end.")] = True,
    timeout: Annotated[float, typer.Option(help="Stop watching after this many seconds.")] = 300.0,
    json: Annotated[bool, typer.Option("--json", help="Print the final states as JSON.")] = False,
    password: Annotated[
        str,
        typer.Option(
            envvar="MYRIAGATE_DEMO_PASSWORD", help="Password of every demo user (dev cluster only)."
        ),
    ] = DEMO_PASSWORD,
) -> None:
    """Seed demo users (alice, bob, carol, admin, diane) and submit demo jobs as researchers."""
    from myriagate import demo as demo_service
    from myriagate.clock import SystemClock
    from myriagate.db import migrate
    from myriagate.wiring import build_gateway

    settings = get_settings()
    if not settings.dev_mode:
        raise ConfigError("the demo seeds known passwords: it only runs with MYRIAGATE_DEV_MODE=true")
    # The live table is the output here; only problems are worth a log line.
    configure_logging("WARNING", json=settings.log_json)
    migrate.upgrade(settings.database_url)
    gateway = build_gateway(settings)
    clock = SystemClock()
    try:
        profile = gateway.profile(cluster)
        with gateway.session_factory() as session:
            report = demo_service.seed(
                session, cluster=profile.name, clock=clock, ledger=gateway.ledger, password=password
            )
            # One line saying whether the database was new or kept and what was topped up;
            # on stderr under --json, whose stdout is the JSON alone.
            typer.echo(report.summary(), err=json)
            jobs = demo_service.submit_demo_jobs(
                session, submission=gateway.submission, cluster=profile.name, spool_dir=settings.spool_dir
            )
            ids = [job.id for job in jobs]
            lines = demo_service.job_lines(session, ids)
            if watch:
                deadline = time.monotonic() + timeout
                with Live(_table(lines), console=console(), refresh_per_second=2) as live:
                    while time.monotonic() < deadline and not all(line.is_final for line in lines):
                        time.sleep(1.0)
                        lines = demo_service.job_lines(session, ids)
                        live.update(_table(lines))
                if not all(line.is_final for line in lines):
                    raise BackendError(
                        f"demo jobs still running after {timeout:.0f} s: is `myriagate worker` running?"
                    )
            if json:
                print_json([line.__dict__ for line in lines])
            elif not watch:
                console().print(_table(lines))
    finally:
        gateway.close()
