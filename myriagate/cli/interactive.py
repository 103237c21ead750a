"""`myriagate interactive start|list|stop`: JupyterLab on a compute node (docs/interactive.md).

``start APP`` submits the app's job with sbatch's options (``-p``, ``-t``, ``-c``, ``--mem``…),
waits with a progress line on stderr until it runs, and prints the URL to open in a browser
signed in to the gateway (the gateway proxies it; the app's secret never leaves the gateway).
``--no-wait`` prints the session at once. A session that ends before it runs exits 7 and points
at its job's output.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from myriagate.cli.context import deps, open_gateway
from myriagate.cli.output import JsonOpt, guarded, print_json, print_table
from myriagate.cli.submit_body import parse_params
from myriagate.cli.submit_options import given, with_sbatch_options
from myriagate.cli.tables import Col
from myriagate.errors import BackendError

if TYPE_CHECKING:
    from myriagate.web.api.interactive_schemas import SessionOut

interactive_app = typer.Typer(
    help="Interactive sessions: JupyterLab on a compute node, opened through the gateway.",
    no_args_is_help=True,
)


def _url(base: str, session: SessionOut) -> str:
    return base.removesuffix("/api/v1") + session.url


def _progress(session: SessionOut) -> None:
    if session.state == "queued":
        why = f" ({session.reason})" if session.reason else ""
        sys.stderr.write(f"queued: waiting for resources{why}\n")
    elif session.state == "starting":
        sys.stderr.write(f"starting: job {session.slurm_job_id} runs, waiting for the app to answer\n")


@with_sbatch_options  # -p, -t, -c, --mem, --gres… as for submit, received in **sbatch
@guarded
def start(
    ctx: typer.Context,
    app: Annotated[str, typer.Argument(help="The app to start (`jupyter`).")],
    cluster: Annotated[
        str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="App parameter k=v (repeatable).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the session at once.")] = False,
    json: JsonOpt = False,
    **sbatch: Any,
) -> None:
    """Start an interactive app as a job; wait until it runs and print its URL."""
    options, params = given(sbatch), parse_params(param or [])
    with open_gateway(ctx) as client:
        session = client.start_session(app, options=options, params=params, cluster=cluster)
        if not no_wait:
            show = None if json else _progress
            session = client.wait_session(session.id, on_change=show, sleep=deps(ctx).sleep)
        base = client.base_url
    if json:
        print_json({**session.model_dump(mode="json"), "url": _url(base, session)})
    elif session.state == "ended":
        raise BackendError(
            f"the session ended before its app answered (job {session.job_id} {session.job_state}): "
            f"see `myriagate jobs logs {session.job_id}`"
        )
    elif session.state == "running":
        typer.echo(_url(base, session))
    else:
        typer.echo(f"session {session.id} {session.state}: `myriagate interactive list` follows it")


@interactive_app.command("list")
@guarded
def list_sessions(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Your interactive sessions, newest first."""
    with open_gateway(ctx) as client:
        sessions = client.sessions()
        base = client.base_url
    if json:
        print_json([{**s.model_dump(mode="json"), "url": _url(base, s)} for s in sessions])
        return
    rows = [
        (
            str(s.id),
            s.app,
            s.state,
            s.slurm_job_id or "",
            _left(s.remaining_s),
            _url(base, s) if s.state == "running" else "",
        )
        for s in sessions
    ]
    columns = (Col("id", whole=True), "app", "state", "slurm id", "left", Col("url", whole=True))
    print_table(columns, rows)


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@interactive_app.command("stop")
@guarded
def stop(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session's id.")],
    json: JsonOpt = False,
) -> None:
    """Stop a session: its job is cancelled (its charge stops there)."""
    with open_gateway(ctx) as client:
        session = client.stop_session(session_id)
    if json:
        print_json(session.model_dump(mode="json"))
    else:
        typer.echo(f"session {session.id}: stop sent (job {session.slurm_job_id or session.job_id})")


interactive_app.command("start")(start)
