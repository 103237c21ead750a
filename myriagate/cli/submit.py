"""`myriagate submit`: send a job script (and its inputs) through the gateway's REST API.

The options are sbatch's own; what is allowed on the cluster is the server's decision
(``submit_body.py`` only shapes the request). ``--wait`` follows the job to its end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from myriagate.cli import uploads, watch
from myriagate.cli.client import GatewayClient
from myriagate.cli.context import deps, open_gateway
from myriagate.cli.job_refs import shown_id
from myriagate.cli.output import JsonOpt, guarded, print_json, warn
from myriagate.cli.quota import describe_estimate
from myriagate.cli.submit_body import build_submission
from myriagate.cli.submit_options import given, with_sbatch_options
from myriagate.errors import InvalidRequest
from myriagate.web.api.schemas import JobOut
from myriagate.web.api.submit_schemas import DryRunOut


# --- submit -------------------------------------------------------------------------------
def _opt(*names: str, help: str) -> Any:  # typer.Option is declared Any (it may stand as a default)
    return typer.Option(*names, help=help)


# The options of ``submit`` whose declaration does not fit on one line.
ScriptArg = Annotated[
    Path | None,
    typer.Argument(help="Job script with #SBATCH lines (`-` reads stdin).", show_default=False),
]


InputOpt = Annotated[
    list[Path] | None, _opt("--input", "-i", help="Input file or directory to stage in (repeatable).")
]


InputDatasetOpt = Annotated[
    list[str] | None, _opt("--input-dataset", help="Dataset id to stage in (repeatable).")
]


ResultOpt = Annotated[
    list[str] | None,
    _opt("--result", "--stage-out", help="Output glob to store after the job (repeatable)."),
]


StoreOpt = Annotated[str | None, _opt("--store", help="Storage endpoint for --result files, e.g. caen.")]


@with_sbatch_options  # one more option per sbatch option of the table, received in **sbatch
@guarded
def submit(
    ctx: typer.Context,
    script: ScriptArg = None,
    cluster: Annotated[str | None, _opt("--cluster", "-M", help="Cluster (default: the gateway's).")] = None,
    template: Annotated[str | None, _opt("--template", help="Job-script template instead of SCRIPT.")] = None,
    param: Annotated[list[str] | None, _opt("--param", help="Template parameter k=v (repeatable).")] = None,
    dry_run: Annotated[bool, _opt("--dry-run", help="Validate and show what would be sent.")] = False,
    wait: Annotated[bool, _opt("--wait", help="Wait for the end; exit 1 unless it completed.")] = False,
    follow: Annotated[bool, _opt("--follow", help="Stream the job's output, then exit like --wait.")] = False,
    parsable: Annotated[bool, _opt("--parsable", help="Print only the job id (like sbatch).")] = False,
    input_: InputOpt = None,
    input_dataset: InputDatasetOpt = None,
    result_patterns: ResultOpt = None,
    store: StoreOpt = None,
    json: JsonOpt = False,
    **sbatch: Any,
) -> None:
    """Submit a job script (or a template) to the cluster, with sbatch's options and data staging.

    sbatch's options override the script's #SBATCH lines; docs/job-scripts.md lists them all.
    """
    if follow and json:
        raise InvalidRequest("--follow streams text: it cannot be combined with --json")
    request = build_submission(
        script, given(sbatch), cluster=cluster, template=template, params=param or [], dry_run=dry_run
    )
    flags = uploads.StagingFlags(input_ or (), input_dataset or (), result_patterns or (), store)
    files = uploads.collect_inputs(flags.inputs)  # refused here (e.g. symlinks leading out) before any upload
    with open_gateway(ctx) as client:
        request = uploads.with_staging(client, request, flags, files, show_progress=not (json or parsable))
        result = client.submit(request)
        for notice in result.notices:
            warn(notice)  # on stderr: stdout stays the id or the JSON
        if isinstance(result, DryRunOut):
            _show_dry_run(result, json=json)
            return
        _show_submitted(result, json=json, parsable=parsable, waiting=wait or follow)
        if not (wait or follow):
            return
        final = _await_end(ctx, client, result, follow=follow, show_progress=not (json or parsable))
    if json:
        print_json(final.model_dump(mode="json"))
    elif not parsable or not final.state.is_success:
        sys.stderr.write(watch.describe(final) + "\n")
    raise typer.Exit(watch.exit_code_for(final))


def _await_end(
    ctx: typer.Context, client: GatewayClient, job: JobOut, *, follow: bool, show_progress: bool
) -> JobOut:
    """The job once it ended: its output streamed (``--follow``) or its state shown (``--wait``)."""
    sleep = deps(ctx).sleep
    if follow and job.array_task_count:
        # Each task has its own file: following one of them is `jobs logs ID --task N -f`.
        warn("an array job has one output per task: waiting instead (see `myriagate jobs logs --task`)")
        follow = False
    if follow:
        return watch.follow_output(client, job.id, sleep=sleep)
    return watch.wait_for_job(client, job.id, sleep=sleep, show_progress=show_progress, label=shown_id(job))


def _show_submitted(job: JobOut, *, json: bool, parsable: bool, waiting: bool) -> None:
    """The job's id at once (the short one every job command takes, and Slurm's once known);
    with --json and --wait, stdout gets only the final job. ``--parsable`` prints the full id:
    a script keeps it, and a short id may name more jobs later (as git's do)."""
    slurm = f" (Slurm job {job.slurm_job_id})" if job.slurm_job_id else ""
    line = f"Submitted job {shown_id(job)} to {job.cluster}{slurm}: {job.state.value}"
    if json and waiting:
        sys.stderr.write(line + "\n")
    elif json:
        print_json(job.model_dump(mode="json"))
    elif parsable:
        typer.echo(str(job.id))
    else:
        typer.echo(line)


def _show_dry_run(plan: DryRunOut, *, json: bool) -> None:
    if json:
        print_json(plan.model_dump(mode="json"))
        return
    typer.echo(f"# dry run on {plan.cluster}: nothing submitted")
    if plan.estimate is not None:
        typer.echo(f"# {describe_estimate(plan.estimate)}")
    typer.echo(f"# sbatch {' '.join(plan.sbatch_args)}")
    typer.echo(plan.script, nl=not plan.script.endswith("\n"))
