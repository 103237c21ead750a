"""`myriagate jobs list|show|cancel|logs`: jobs as the gateway lets you see them."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, ClassVar

import typer

from myriagate.cli import watch
from myriagate.cli.client import GatewayClient, Stream
from myriagate.cli.context import deps, localised, open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.job_arrays import print_array
from myriagate.cli.job_refs import (
    ClusterRefOpt,
    JobRefArg,
    fetch_job,
    job_ref,
    resolve_job_id,
    shown_id,
    task_of,
)
from myriagate.cli.job_script import at_with_zone, print_sent
from myriagate.cli.lazy import LazyCommand, LazyGroup
from myriagate.cli.output import JsonOpt, RawOpt, WideOpt, console, guarded, print_json, print_table
from myriagate.cli.tables import Col, leaves_out_nothing
from myriagate.cli.terminal_text import visible
from myriagate.domain.job_explanations import exit_code_shown
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest, JobNotCancellable
from myriagate.web.api.schemas import JobOut


class JobsGroup(LazyGroup, OneLineHelpGroup):
    """The jobs commands; ``resubmit`` (sbatch's whole option table) is imported when it runs."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {
        "resubmit": LazyCommand(
            "myriagate.cli.job_resubmit:jobs_resubmit",
            help="Submit a copy of one of your jobs, changed by sbatch's options (-t, -p, -A...).",
        ),
    }


jobs_app = typer.Typer(
    cls=JobsGroup, help="Your jobs (and your projects' jobs, by role).", no_args_is_help=True
)

DEFAULT_LIMIT = 50
_BY_UID = re.compile(r" by [0-9]+\Z")
# jobs list: ids, numbers and dates whole; the optional columns go first on a narrow terminal.
LIST_COLUMNS = (Col("id", whole=True), Col("slurm", whole=True), Col("owner", priority=5), "name",
                Col("cluster/partition", priority=3), Col("account", priority=4), Col("state", whole=True),
                Col("exit", whole=True, priority=2), Col("submitted", whole=True))  # fmt: skip
# ... and when someone else's job is listed, the owner stays: the other optional columns go first.
LIST_COLUMNS_OTHERS = tuple(Col("owner") if isinstance(c, Col) and c.header == "owner" else c
                            for c in LIST_COLUMNS)  # fmt: skip


def _when(at: datetime | None, *, seconds: bool = True) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") if at else ""


@jobs_app.command("list")
@guarded
def jobs_list(
    ctx: typer.Context,
    state: Annotated[
        list[JobState] | None, typer.Option("--state", help="Only jobs in this state (repeatable).")
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-M", help="Only this cluster.")] = None,
    account: Annotated[str | None, typer.Option("--account", "-A", help="Only this Slurm account.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this user's jobs (username).")] = None,
    since: Annotated[datetime | None, typer.Option(help="Created at or after (ISO date/time).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Created before (ISO date/time).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many jobs.")] = DEFAULT_LIMIT,
    all_: Annotated[bool, typer.Option("--all", help="Every matching job (follows all pages).")] = False,
    wide: WideOpt = False,
    json: JsonOpt = False,
) -> None:
    """Jobs you may see, newest first, by the short id any job command takes (--wide: full ids)."""
    filters = {
        "state": [s.value for s in state] if state else None,
        "cluster": cluster,
        "account": account,
        "owner": owner,
        # A date typed without a zone is the terminal's local time (the API wants a zone).
        "since": since.astimezone().isoformat() if since else None,
        "until": until.astimezone().isoformat() if until else None,
    }
    with open_gateway(ctx) as client:
        jobs = list(client.iter_jobs(filters, limit=None if all_ else limit))
        if json:
            print_json([job.model_dump(mode="json") for job in jobs])
            return
        rows = [_list_row(j, wide=wide) for j in jobs]
        others = _shows_others(client, {j.owner for j in jobs}, rows, wide=wide)
    print_table(LIST_COLUMNS_OTHERS if others else LIST_COLUMNS, rows, wide=wide)
    if not all_ and len(jobs) == limit:
        sys.stderr.write(f"(first {limit} jobs: use --limit N or --all for more)\n")


def _list_row(j: JobOut, *, wide: bool) -> tuple[object, ...]:
    return (
        str(j.id) if wide or not j.short_id else j.short_id,
        j.slurm_job_id or "",
        j.owner,
        j.job_name or "",
        f"{j.cluster}/{j.partition or ''}",
        j.account or "",
        j.state.value,
        # sacct's 0 for a cancelled, timed-out or killed job is not its exit code
        "" if (code := exit_code_shown(j.state, j.exit_code, j.signal)) is None else code,
        _when(j.submitted_at or j.created_at, seconds=False),
    )


def _shows_others(
    client: GatewayClient, owners: set[str], rows: list[tuple[object, ...]], *, wide: bool
) -> bool:
    """Whether the list holds someone else's job: a lead's or an admin's list mixes people, and
    whose job it is must then stay on a narrow screen. Who lists (``/me``, one more request) is
    asked only when it can change the table: one owner, and a terminal too narrow for every
    column (the two layouts differ only in which optional column gives way first)."""
    if len(owners) != 1:
        return len(owners) > 1
    if wide or leaves_out_nothing(console().width, LIST_COLUMNS, rows):
        return False
    return client.me().username not in owners


@jobs_app.command("show")
@guarded
def jobs_show(
    ctx: typer.Context, job_id: JobRefArg, cluster: ClusterRefOpt = None, json: JsonOpt = False
) -> None:
    """A job: options, script and state history."""
    with open_gateway(ctx) as client:
        job = fetch_job(client, job_id, cluster)
    if json:
        print_json(job.model_dump(mode="json"))
        return
    _describe(job)
    if job.array is not None:
        print_array(job.array)
    print_table(
        ("at", "from", "to", "slurm", "reason"),
        [
            (at_with_zone(h.at), h.from_state or "", h.to_state, _slurm_word(h.slurm_state), h.reason or "")
            for h in job.history
        ],
        title="History",
    )
    print_sent(job.sbatch_args, job.script)  # what was asked and written; --json: exactly as sent


def _slurm_word(raw: str | None) -> str:
    """Slurm's state without the uid sacct appends (``CANCELLED by 1001``): people are shown by
    name, and the explanation names who cancelled."""
    return _BY_UID.sub("", raw or "")


def _why(job: JobOut) -> tuple[str | None, str | None]:
    """Why it waits or how it ended, in the terminal's language, as the job page says it
    (the API's ``explanation``); Slurm's raw reason when there is none."""
    said = job.explanation
    if said is None:
        return job.reason, None
    text = localised(said.text) + (f" ({said.slurm_code})" if said.slurm_code else "")
    return text, localised(said.hint) if said.hint else None


def _describe(job: JobOut) -> None:
    why, hint = _why(job)
    fields = {
        "id": job.id,
        "slurm job id": job.slurm_job_id,
        "state": job.state.value + (f" ({_slurm_word(job.slurm_state)})" if job.slurm_state else ""),
        "why": why,
        "what to do": hint,
        # sacct prints 0 as the exit code of a job cancelled, timed out or killed: not shown.
        "exit code": exit_code_shown(job.state, job.exit_code, job.signal),
        "owner": job.owner if job.owner == job.cluster_login else f"{job.owner} (login {job.cluster_login})",
        "cluster": job.cluster,
        "account": job.account,
        "partition": job.partition,
        "name": job.job_name,
        "array tasks": job.array_task_count,
        "work dir": job.work_dir,
        "submitted": at_with_zone(job.submitted_at),
        "started": at_with_zone(job.started_at),
        "ended": at_with_zone(job.ended_at),
    }
    out = console()
    for key, value in fields.items():
        if value not in (None, ""):
            out.print(f"{key:>13}: {value}", markup=False, highlight=False)


@jobs_app.command("cancel")
@guarded
def jobs_cancel(
    ctx: typer.Context, job_id: JobRefArg, cluster: ClusterRefOpt = None, json: JsonOpt = False
) -> None:
    """Cancel a job (cancelling a job that already ended changes nothing)."""
    with open_gateway(ctx) as client:
        # One call with the reference as typed; with -M, the job is found on that cluster first.
        target = job_ref(job_id) if cluster is None else fetch_job(client, job_id, cluster).id
        try:
            job: JobOut = client.cancel(target)
        except JobNotCancellable:
            # It ended before the cancel came: as the help says, nothing changes and that is fine.
            job = fetch_job(client, str(target), cluster)
            ended = True
        else:
            ended = False
    if json:
        print_json(job.model_dump(mode="json"))
    elif ended:
        typer.echo(f"Job {shown_id(job)} already ended ({job.state.value}): nothing to cancel.")
    else:
        typer.echo(f"Cancellation requested for job {shown_id(job)} (now {job.state.value}).")


@jobs_app.command("logs")
@guarded
def jobs_logs(
    ctx: typer.Context,
    job_id: JobRefArg,
    cluster: ClusterRefOpt = None,
    error: Annotated[bool, typer.Option("--error", help="The error stream instead of the output.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing as it grows, until the end.")
    ] = False,
    task: Annotated[
        int | None, typer.Option("--task", min=0, help="Array task id (or give the task's Slurm id, 1234_5).")
    ] = None,
    max_bytes: Annotated[
        int, typer.Option("--bytes", min=1, max=watch.MAX_BYTES, help="Show at most the last N bytes.")
    ] = 65536,
    raw: RawOpt = False,
    json: JsonOpt = False,
) -> None:
    """The end of a job's output (or error) file; with --follow, exit like `submit --wait`.

    Control characters the job printed (terminal escapes) are shown as ^[ and the like, never
    obeyed by your terminal, even through a pipe; --raw writes the bytes as they are."""
    if follow and json:
        raise InvalidRequest("--follow streams text: it cannot be combined with --json")
    stream: Stream = "error" if error else "output"
    task = task_of(job_id, task)  # 1234_5 is task 5 of array 1234
    with open_gateway(ctx) as client:
        job_uuid = resolve_job_id(client, job_id, cluster)
        if follow:
            final = watch.follow_output(
                client, job_uuid, sleep=deps(ctx).sleep, stream=stream, task=task, raw=raw
            )
        else:
            data = client.output_bytes(job_uuid, stream=stream, max_bytes=max_bytes, task=task)
    if follow:
        if not final.state.is_success:
            sys.stderr.write(watch.describe(final) + "\n")
        raise typer.Exit(watch.exit_code_for(final))
    text = data.decode("utf-8", errors="replace")
    if json:  # JSON escapes control characters itself: the text stays exact
        print_json({"job_id": str(job_uuid), "stream": stream, "task": task, "text": text})
    elif raw:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(visible(text))


jobs_app.command("wait")(watch.jobs_wait)  # its own module: `submit --wait` shares it
