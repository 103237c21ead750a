"""`myriagate admin project show|suspend|resume PROJECT`: suspend a project by hand, and lift it.

A client of ``/projects/{cluster}/{account}/suspension`` (docs/api.md, "Suspending a project"):
the server decides who may (the project's institution's admins, platform admins) and audits.
While suspended, every new submission for the project is refused with the reason given here;
jobs already queued or running are not touched (the answer counts them: cancel them with
``myriagate jobs cancel`` if they should stop). ``admin slurm-sync`` then pauses its account.
"""

from __future__ import annotations

from typing import Annotated

import typer

from myriagate.cli.admin_members import ClusterOpt, ProjectArg
from myriagate.cli.client import GatewayClient, segment
from myriagate.cli.context import open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, guarded, print_json
from myriagate.cli.quota import read_model
from myriagate.errors import InvalidRequest
from myriagate.web.api.allocation_schemas import SuspensionOut

project_app = typer.Typer(
    cls=OneLineHelpGroup, help="Suspend a project by hand, or resume it.", no_args_is_help=True
)

ReasonOpt = Annotated[
    str, typer.Option("--reason", "-r", help="Why (shown to its researchers, kept in the audit log).")
]


def _path(client: GatewayClient, project: str, cluster: str | None) -> str:
    if cluster is None:
        cluster = next((c.name for c in client.clusters() if c.is_default), None)
        if cluster is None:
            raise InvalidRequest("the gateway has no default cluster: give one with --cluster")
    return f"/projects/{segment(cluster)}/{segment(project)}/suspension"


def _say(found: SuspensionOut, json: bool) -> None:
    if json:
        print_json(found.model_dump(mode="json"))
        return
    where = f"{found.account} ({found.cluster}, {found.institution})"
    if found.suspended and found.suspended_at is not None:
        typer.echo(f"{where} is suspended since {found.suspended_at:%Y-%m-%d %H:%M} UTC.")
        typer.echo(f"By: {found.suspended_by}")
        typer.echo(f"Reason: {found.reason}")
        typer.echo("New submissions for it are refused.")
    else:
        typer.echo(f"{where} is not suspended: submissions are accepted.")
    typer.echo(
        f"Jobs queued: {found.queued_jobs}, running: {found.running_jobs} (a suspension does not touch them)."
    )
    if found.queued_jobs or found.running_jobs:
        typer.echo("Their owners, the project's lead or a platform admin can cancel them")
        typer.echo("with `myriagate jobs cancel <job>` if they should stop.")


@project_app.command("show")
@guarded
def project_show(
    ctx: typer.Context, project: ProjectArg, cluster: ClusterOpt = None, json: JsonOpt = False
) -> None:
    """Whether the project is suspended, since when, by whom and why."""
    with open_gateway(ctx) as client:
        found = read_model(SuspensionOut, client.request("GET", _path(client, project, cluster)))
    _say(found, json)


@project_app.command("suspend")
@guarded
def project_suspend(
    ctx: typer.Context,
    project: ProjectArg,
    reason: ReasonOpt,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Suspend the project now: every new submission for it is refused with the reason."""
    with open_gateway(ctx) as client:
        path = _path(client, project, cluster)
        found = read_model(SuspensionOut, client.request("POST", path, json={"reason": reason}))
    _say(found, json)


@project_app.command("resume")
@guarded
def project_resume(
    ctx: typer.Context,
    project: ProjectArg,
    reason: ReasonOpt,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Lift the project's suspension: submissions are accepted again."""
    with open_gateway(ctx) as client:
        path = _path(client, project, cluster) + "/lift"
        found = read_model(SuspensionOut, client.request("POST", path, json={"reason": reason}))
    _say(found, json)


def register(admin_app: typer.Typer) -> None:
    admin_app.add_typer(project_app, name="project")
