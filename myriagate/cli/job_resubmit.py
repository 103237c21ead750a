"""`myriagate jobs resubmit ID`: submit a copy of one of your jobs, with changes if you like.

The gateway gives the copy (``GET /jobs/{id}/resubmission``: the script as written, the
options the job was sent with, its staging settings, twice the time limit of a job that timed
out); the options given here replace the copy's (``-t 2:00:00`` its time limit, ``--mem`` its
``--mem-per-cpu`` too, as on sbatch's command line), then it is posted to ``POST /jobs`` like
any submission: every check, hold and quota applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from myriagate.cli import uploads
from myriagate.cli.context import open_gateway
from myriagate.cli.job_refs import ClusterRefOpt, JobRefArg, resolve_job_id
from myriagate.cli.output import JsonOpt, guarded, warn
from myriagate.cli.submit_options import given, with_sbatch_options
from myriagate.domain.sbatch_options.merge import FAMILIES
from myriagate.errors import InvalidRequest, Text

if TYPE_CHECKING:  # imported when the command runs: `jobs list` does not build the options model
    from myriagate.web.api.submit_schemas import JobCopyOut, JobSubmit


def with_changes(copy: JobCopyOut, changes: dict[str, str | int | bool], *, dry_run: bool) -> JobSubmit:
    """The request for ``copy`` with ``changes`` (option -> value) over its options; a change
    replaces the copy's options of its family, as the command line replaces a script's."""
    options: dict[str, Any] = dict(copy.options)
    for name in changes:
        dashed = name.replace("_", "-")
        for family in FAMILIES:
            if dashed in family:
                for other in family:
                    options.pop(other.replace("-", "_"), None)
    options.update(changes)
    from myriagate.web.api.submit_schemas import JobSubmit  # here: see TYPE_CHECKING above

    staging = copy.staging.model_dump(mode="json", exclude_none=True) if copy.staging else None
    body = {"cluster": copy.cluster, "script": copy.script, "options": options, "staging": staging}
    return JobSubmit.model_validate({**body, "dry_run": dry_run})


@with_sbatch_options  # one more option per sbatch option of the table, received in **sbatch
@guarded
def jobs_resubmit(
    ctx: typer.Context,
    job_id: JobRefArg,
    cluster: ClusterRefOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and show what would be sent.")] = False,
    parsable: Annotated[bool, typer.Option("--parsable", help="Print only the new job's id.")] = False,
    input_: Annotated[
        list[Path] | None,
        typer.Option("--input", "-i", help="Input file or directory to upload again (repeatable)."),
    ] = None,
    without_inputs: Annotated[
        bool, typer.Option("--without-inputs", help="Submit without the files uploaded for the job.")
    ] = False,
    json: JsonOpt = False,
    **sbatch: Any,
) -> None:
    """Submit a copy of one of your jobs; sbatch's options change it (-t, -p, -A, --mem...).

    A job that ran out of time is copied with twice its time limit (at most its partition's).
    Files uploaded for the job are not kept: give them again with --input.
    """
    from myriagate.cli.submit import _show_dry_run, _show_submitted  # here: `jobs list` starts faster
    from myriagate.web.api.submit_schemas import DryRunOut, JobCopyOut

    changes = given(sbatch)
    files = uploads.collect_inputs(input_ or ())  # refused here (e.g. links leading out) before any upload
    with open_gateway(ctx) as client:
        ref = resolve_job_id(client, job_id, cluster)
        copy = client._model(JobCopyOut, client.request("GET", f"/jobs/{ref}/resubmission"))
        if copy.had_uploaded_files and not (input_ or without_inputs):
            # Sent without them, a script that reads its inputs fails on the node.
            raise InvalidRequest(
                Text(
                    "this job's uploaded input files are not kept: give them again with --input,"
                    " or submit without them with --without-inputs"
                )
            )
        _warn_notices(copy, changes, inputs_answered=bool(input_ or without_inputs))
        request = with_changes(copy, changes, dry_run=dry_run)
        if input_:
            flags = _staging_flags(copy, input_)
            request = uploads.with_staging(
                client, request, flags, files, show_progress=not (json or parsable)
            )
        result = client.submit(request)
    for notice in result.notices:
        warn(notice)
    if isinstance(result, DryRunOut):
        _show_dry_run(result, json=json)
        return
    _show_submitted(result, json=json, parsable=parsable, waiting=False)


def _warn_notices(copy: JobCopyOut, changes: dict[str, str | int | bool], *, inputs_answered: bool) -> None:
    """The copy's notices on stderr (stdout stays the id or the JSON), but those the options
    given here answer: a time limit chosen, the uploads given again or left out on purpose."""
    for notice in copy.notices:
        # The server says last that the uploads are not copied (services/submission/resubmission.py).
        uploaded = copy.had_uploaded_files and inputs_answered and notice == copy.notices[-1]
        longer = "time" in changes and copy.suggested_time and copy.suggested_time in notice
        if not (uploaded or longer):
            warn(notice)


def _staging_flags(copy: JobCopyOut, inputs: list[Path]) -> uploads.StagingFlags:
    """The copy's staging (datasets, result patterns, endpoint) with ``inputs`` uploaded again."""
    staging = copy.staging
    if staging is None:
        return uploads.StagingFlags(inputs)
    datasets = [str(d) for d in staging.input_datasets]
    return uploads.StagingFlags(inputs, datasets, staging.output_patterns, staging.store)
