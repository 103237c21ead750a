"""`myriagate interactive start|list|show|stop`: JupyterLab on a compute node (docs/interactive.md).

``start APP`` submits the app's job with sbatch's options (``-p``, ``-t``, ``-c``, ``--mem``…),
waits with a progress display on stderr until it runs (a spinner with the state and the time
waited at a terminal, one line per new state otherwise), and prints the URL to open in a browser
signed in to the gateway (the gateway proxies it; the app's secret never leaves the gateway).
``--no-wait`` prints the session at once. A session that ends before it runs exits 7, says why
and names the command that shows its job's output. Every command taking a session takes its
short id (what ``list`` shows, a unique prefix of 8+ characters) as job ids do; an ambiguous
one lists the matching sessions and exits 6.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from myriagate.cli.context import deps, open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, WideOpt, console, guarded, print_json, print_table
from myriagate.cli.progress import stderr_console, wanted
from myriagate.cli.submit_body import parse_params
from myriagate.cli.submit_options import given, with_sbatch_options
from myriagate.cli.tables import Col
from myriagate.errors import BackendError, Conflict, FieldError, InvalidRequest

if TYPE_CHECKING:
    from myriagate.web.api.interactive_schemas import SessionOut

interactive_app = typer.Typer(
    cls=OneLineHelpGroup,
    help="Interactive sessions: JupyterLab on a compute node, opened through the gateway.",
    no_args_is_help=True,
)
SESSION_REF_HELP = "The session: the id `myriagate interactive list` shows (8+ characters) or the full id."
# Letters, digits and dashes, as job and dataset ids: one URL path segment, nothing a shell or an
# option parser would read twice. The gateway judges the rest (too short, not hex).
_REF = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}\Z")


def _url(base: str, session: SessionOut) -> str:
    return base.removesuffix("/api/v1") + session.url


def _said(session: SessionOut) -> str:
    """The session's state in a few words, as the progress display and ``show`` say it."""
    if session.state == "queued":
        return "queued: waiting for resources" + (f" ({session.reason})" if session.reason else "")
    if session.state == "starting":
        return f"starting: job {session.slurm_job_id} runs, waiting for the app to answer"
    if session.state == "ended":
        return f"ended ({session.job_state})"
    return "stopping: the job is being cancelled" if session.stopping else session.state


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[SessionOut], None]]:
    """What ``wait_session`` calls on each new state: a spinner with the state and the time
    waited at a terminal (gone once done), else one line per state on stderr."""
    if not enabled:

        def line(session: SessionOut) -> None:
            if session.state in ("queued", "starting"):
                sys.stderr.write(_said(session) + "\n")

        yield line
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task("submitted", total=None)
        yield lambda s: bar.update(task, description=_said(s))


@with_sbatch_options  # -p, -t, -c, --mem, --gres… as for submit, received in **sbatch
@guarded
def start(
    ctx: typer.Context,
    app: Annotated[str, typer.Argument(help="The app to start (`jupyter`).")],
    cluster: Annotated[
        str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="App parameter k=v (repeatable): idle_minutes=30, environment=DIR…"),
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
            with _progress(wanted(quiet=json)) as show:
                heard = None if json else show
                session = client.wait_session(session.id, on_change=heard, sleep=deps(ctx).sleep)
        base = client.base_url
    if json:
        print_json({**session.model_dump(mode="json"), "url": _url(base, session)})
    elif session.state == "ended":
        why = f": {session.problem}" if session.problem else ""
        job = session.job_short_id
        raise BackendError(
            f"the session ended before its app answered (job {job} {session.job_state}){why}; "
            f"see `myriagate jobs logs {job}`"
        )
    elif session.state == "running":
        typer.echo(_url(base, session))
    else:
        short = session.short_id
        typer.echo(f"session {short} {session.state}: `myriagate interactive show {short}` follows it")


LIST_COLUMNS = (Col("id", whole=True), Col("app", whole=True), Col("state", whole=False),
                Col("job", whole=True), Col("left", whole=True), Col("idle", whole=True))  # fmt: skip


@interactive_app.command("list")
@guarded
def list_sessions(ctx: typer.Context, wide: WideOpt = False, json: JsonOpt = False) -> None:
    """Your interactive sessions, newest first, by the short id the other commands take.

    --wide: full ids and URLs; `show` gives a session's URL."""
    with open_gateway(ctx) as client:
        sessions = client.sessions()
        base = client.base_url
    if json:
        print_json([{**s.model_dump(mode="json"), "url": _url(base, s)} for s in sessions])
        return
    rows: list[tuple[object, ...]] = []
    for s in sessions:
        row = (str(s.id) if wide else s.short_id, s.app, _short_state(s), s.slurm_job_id or s.job_short_id,
               _clock(s.remaining_s), _minutes(s.idle_timeout_s))  # fmt: skip
        rows.append((*row, _url(base, s) if s.state == "running" else "") if wide else row)
    columns = (*LIST_COLUMNS, Col("url", whole=True)) if wide else LIST_COLUMNS
    print_table(columns, rows, wide=wide)


def _short_state(session: SessionOut) -> str:
    if session.stopping:
        return "stopping"
    if session.state == "queued" and session.reason:
        return f"queued ({session.reason})"
    if session.state == "ended":
        return f"ended ({session.job_state})"
    return session.state


def _clock(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _minutes(seconds: int | None) -> str:
    return "-" if not seconds else f"{seconds // 60} min"


def _one(ref: str, call: Callable[[str], SessionOut]) -> SessionOut:
    """``call`` on the session ``ref`` names; an ambiguous short id lists the matching
    sessions on stderr and exits 6."""
    given = ref.strip()
    if not _REF.match(given):
        raise InvalidRequest(
            f"{ref!r} is not a session id: give the id `myriagate interactive list` shows "
            "(at least 8 characters) or the full id",
            fields=[FieldError(("session_id",), "not a session id")],
        )
    try:
        return call(given)
    except Conflict as exc:
        problem = exc.problem or {}
        if problem.get("code") != "ambiguous_session":
            raise
        listed = problem.get("candidates")
        found = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
        rows = [(c.get("id"), c.get("name"), c.get("state"), c.get("slurm_job_id") or "-") for c in found]
        print_table(("id", "app", "state", "slurm id"), rows, title="Matching sessions", stderr=True)
        raise Conflict(exc.detail) from None


@interactive_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help=SESSION_REF_HELP, show_default=False)],
    json: JsonOpt = False,
) -> None:
    """One session: its state and why, its job, time left, URL and where its output is.

    Also its idle timeout; a failed start says why there."""
    with open_gateway(ctx) as client:
        s = _one(session_id, client.session)
        base = client.base_url
    if json:
        print_json({**s.model_dump(mode="json"), "url": _url(base, s)})
        return
    out = console()
    out.print(f"{s.app} session {s.short_id}  ({s.id})", markup=False)
    out.print(f"state: {_said(s)}", markup=False)
    if s.problem:
        out.print(f"problem: {s.problem}", markup=False)
    slurm = f" (Slurm {s.slurm_job_id})" if s.slurm_job_id else ""
    out.print(f"job: {s.job_short_id}{slurm} on {s.cluster}", markup=False)
    left, idle = _clock(s.remaining_s), _minutes(s.idle_timeout_s)
    out.print(f"time left: {left}   idle timeout: {idle}", markup=False)
    if s.state == "running":
        out.print(f"url: {_url(base, s)}", markup=False)
    out.print(f"output: myriagate jobs logs {s.job_short_id}", markup=False)


@interactive_app.command("stop")
@guarded
def stop(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help=SESSION_REF_HELP, show_default=False)],
    json: JsonOpt = False,
) -> None:
    """Stop a session: its job is cancelled (its charge stops there)."""
    with open_gateway(ctx) as client:
        session = _one(session_id, client.stop_session)
    if json:
        print_json(session.model_dump(mode="json"))
    elif session.state == "ended":  # nothing was sent: as `jobs cancel` says of an ended job
        typer.echo(f"Session {session.short_id} already ended ({session.job_state}): nothing to stop.")
    else:
        job = session.slurm_job_id or session.job_short_id
        typer.echo(f"session {session.short_id}: stop sent (job {job})")


interactive_app.command("start")(start)
