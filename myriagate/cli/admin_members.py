"""`myriagate admin members list|add|remove PROJECT`: a project's members over the API.

A client of ``/projects/{cluster}/{account}/members`` and of the memberships API (docs/api.md):
the server decides who may (the project's leads read the list; its institution's admins and
platform admins change it) and audits every change. Removing a member whose jobs are still
queued or running in the project shows those jobs and asks first (``--yes`` skips the question,
and is needed when not at a terminal): they keep running, charged to the project, unless
cancelled with ``myriagate jobs cancel <id>``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import typer

from myriagate.cli.client import GatewayClient, segment
from myriagate.cli.context import open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, guarded, print_json, print_table, warn
from myriagate.cli.quota import read_model
from myriagate.cli.tables import Col
from myriagate.errors import InvalidRequest, MemberHasActiveJobs, NotFound
from myriagate.web.api.schemas import ProjectMemberOut, ProjectMembersOut

members_app = typer.Typer(
    cls=OneLineHelpGroup, help="A project's members: list, add, remove.", no_args_is_help=True
)

ProjectArg = Annotated[str, typer.Argument(help="The project's Slurm account, e.g. caen-climat.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")]


def _members_path(client: GatewayClient, project: str, cluster: str | None) -> tuple[str, str]:
    """The cluster (the gateway's default when not given) and the members' API path."""
    if cluster is None:
        cluster = next((c.name for c in client.clusters() if c.is_default), None)
        if cluster is None:
            raise InvalidRequest("the gateway has no default cluster: give one with --cluster")
    return cluster, f"/projects/{segment(cluster)}/{segment(project)}/members"


def _show(found: ProjectMembersOut) -> None:
    print_table(
        (
            Col("username", whole=True),
            Col("name", priority=1),
            "role",
            Col("login", whole=True),
            Col("queued", whole=True),
            Col("running", whole=True),
        ),
        [
            (
                m.username,
                m.display_name + ("" if m.is_active else " (disabled)"),
                m.role.replace("_", " "),
                m.cluster_login,
                m.queued_jobs,
                m.running_jobs,
            )
            for m in found.members
        ],
        title=f"Members of {found.account} ({found.cluster}, {found.institution})",
    )


def _show_jobs(jobs: list[dict[str, Any]]) -> None:
    print_table(
        (Col("job", whole=True), Col("slurm", whole=True), Col("name"), Col("state", whole=True)),
        [(j.get("short_id"), j.get("slurm_job_id") or "", j.get("name") or "", j.get("state")) for j in jobs],
        stderr=True,
    )


@members_app.command("list")
@guarded
def members_list(
    ctx: typer.Context, project: ProjectArg, cluster: ClusterOpt = None, json: JsonOpt = False
) -> None:
    """A project's members with their role, cluster login and jobs queued or running in it."""
    with open_gateway(ctx) as client:
        _, path = _members_path(client, project, cluster)
        found = read_model(ProjectMembersOut, client.request("GET", path))
    if json:
        print_json(found.model_dump(mode="json"))
    else:
        _show(found)


@members_app.command("add")
@guarded
def members_add(
    ctx: typer.Context,
    project: ProjectArg,
    username: Annotated[str, typer.Argument(help="The person's gateway username.")],
    role: Annotated[
        Literal["researcher", "project_lead"], typer.Option("--role", help="Their role.")
    ] = "researcher",
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Add a member by username (the project's institution's admins, platform admins)."""
    with open_gateway(ctx) as client:
        cluster, path = _members_path(client, project, cluster)
        member = read_model(
            ProjectMemberOut, client.request("POST", path, json={"username": username, "role": role})
        )
    if json:
        print_json(member.model_dump(mode="json"))
    else:
        typer.echo(
            f"{member.username} ({member.cluster_login}) is now a {member.role.replace('_', ' ')} "
            f"of {project} on {cluster}."
        )


def _jobs_of(exc: MemberHasActiveJobs) -> list[dict[str, Any]]:
    """The jobs the server listed in its 409 (its ``jobs`` extension member)."""
    jobs = exc.extensions.get("jobs")
    return [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []


def _at_terminal() -> bool:
    return sys.stdin.isatty()


def _confirmed(exc: MemberHasActiveJobs, yes: bool) -> bool:
    """Shown the member's jobs, whether to remove them anyway (asked at a terminal only)."""
    jobs = _jobs_of(exc)
    warn(str(exc.detail))
    _show_jobs(jobs)
    if yes:
        return True
    if not _at_terminal():
        raise MemberHasActiveJobs(
            f"{exc.detail} (not at a terminal to ask, so nothing changed: add --yes to remove anyway)",
            jobs=jobs,
        )
    return typer.confirm(
        "Remove the member anyway? Their jobs keep running, charged to the project", default=False
    )


@members_app.command("remove")
@guarded
def members_remove(
    ctx: typer.Context,
    project: ProjectArg,
    username: Annotated[str, typer.Argument(help="The member's gateway username.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove even with jobs queued or running, without asking.")
    ] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove a member; one with jobs queued or running in the project is shown them and
    asked first (--yes when not at a terminal). Their jobs keep running unless cancelled."""
    with open_gateway(ctx) as client:
        cluster, path = _members_path(client, project, cluster)
        found = read_model(ProjectMembersOut, client.request("GET", path))
        member = next((m for m in found.members if m.username == username), None)
        if member is None:
            raise NotFound(f"{username} is not a member of {project} on {cluster}")
        delete = f"/users/{member.user_id}/memberships/{segment(cluster)}/{segment(project)}"
        try:
            client.request("DELETE", delete)
            kept: list[dict[str, Any]] = []
        except MemberHasActiveJobs as exc:
            if not _confirmed(exc, yes):
                typer.echo(f"{username} kept: nothing changed.")
                return
            kept = _jobs_of(exc)
            client.request("DELETE", delete, params={"confirm": "true"})
    if json:
        print_json(
            {"removed": member.username, "cluster": cluster, "account": project, "jobs_left_running": kept}
        )
        return
    typer.echo(f"{username} is no longer a member of {project} on {cluster}.")
    if kept:
        typer.echo(f"{len(kept)} job(s) of theirs keep running, charged to {project}.")
        typer.echo("The member, the project's lead or a platform admin can cancel them")
        typer.echo("with `myriagate jobs cancel <job>` if they should not.")


def register(admin_app: typer.Typer) -> None:
    admin_app.add_typer(members_app, name="members")
