"""A copy of one of your jobs, ready to be submitted again ("Submit again").

The copy is a submission request, not a job: the script as its author wrote it (its
``#SBATCH`` lines back from the gateway's ``#MYRIAGATE-HANDLED`` comments), the options the
job was sent with (the account, partition and time limit the checks filled in included, so the
copy asks for what the job got), and its data staging settings. It goes through the normal
submission (every check, the hold, the quotas) only when the researcher sends it: the form
shows it filled in, ``myriagate jobs resubmit`` posts it to ``POST /api/v1/jobs``.

Only the owner gets a copy, and only of a batch job whose script the gateway has; anyone else,
or a job that is not there, gets the same NotFound (no job id leaks). A job that ran out of
its time limit (``timeout``) is copied with twice its limit, capped by its partition's maximum,
and a notice saying so; files uploaded for the job are not copied (an upload serves one job)
and a notice says to choose them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.sbatch_options import table
from myriagate.domain.sent_script import GATEWAY_FLAGS, as_written
from myriagate.domain.states import JobState
from myriagate.domain.walltime import format_walltime
from myriagate.errors import NotFound, Text
from myriagate.profiles.models import ClusterProfile
from myriagate.services.staging.plan import job_dir_for

TIME_FACTOR = 2  # a job that timed out is copied with this many times its limit (capped)


@dataclass(frozen=True)
class JobCopy:
    """What a new submission of ``job_id`` sends (``POST /api/v1/jobs``'s body, in parts)."""

    job_id: uuid.UUID
    cluster: str
    script: str
    # The API's option names (``cpus_per_task``) -> the value as sbatch was given it; True for a flag.
    options: dict[str, str | bool]
    input_datasets: tuple[uuid.UUID, ...] = ()
    output_patterns: tuple[str, ...] = ()
    store: str | None = None
    notices: tuple[Text, ...] = ()
    suggested_time: str | None = None  # the longer time limit of a job that timed out
    had_uploads: bool = False  # files were uploaded for the first job: they are not copied


def copy_of(
    session: Session, *, job_id: uuid.UUID, user: User, profile: Callable[[str], ClusterProfile | None]
) -> JobCopy:
    """``user``'s job ``job_id`` as a new submission request (``profile``: a cluster's profile,
    None for a cluster no longer configured); NotFound as for a missing job."""
    job = _own_batch_job(session, job_id, user)
    if job is None:
        raise NotFound(Text("no job %(job)s", job=job_id))  # as get_job says it: nothing leaks
    options = _options(job)
    notices: list[Text] = []
    timed_out = job.state is JobState.TIMEOUT
    suggested = _longer_time(job, profile(job.cluster), notices) if timed_out else None
    if suggested is not None:
        options["time"] = suggested
    plan = staging_repo.get_plan(session, job.id)
    datasets: tuple[uuid.UUID, ...] = ()
    if plan is not None:
        datasets = tuple(uuid.UUID(d) for d in plan.input_dataset_ids)
        if plan.upload_id is not None:
            notices.append(Text("the files uploaded for the first job are not copied: choose them again"))
    return JobCopy(
        job_id=job.id,
        cluster=job.cluster,
        script=as_written(job.script_text),
        options=options,
        input_datasets=datasets,
        output_patterns=tuple(plan.output_patterns) if plan is not None else (),
        store=plan.output_endpoint if plan is not None else None,
        notices=tuple(notices),
        suggested_time=suggested,
        had_uploads=plan is not None and plan.upload_id is not None,
    )


def can_copy(session: Session, *, job_id: uuid.UUID, user: User) -> bool:
    """Whether ``user`` may submit ``job_id`` again (the job page's "Submit again")."""
    return _own_batch_job(session, job_id, user) is not None


def _own_batch_job(session: Session, job_id: uuid.UUID, user: User) -> Job | None:
    job = session.get(Job, job_id)
    if job is None or job.user_id != user.id or not job.script_text.strip():
        return None
    interactive = session.scalar(sa.select(InteractiveSession.id).where(InteractiveSession.job_id == job_id))
    return job if interactive is None else None


def _options(job: Job) -> dict[str, str | bool]:
    """The options the job was sent with, by the API's names; the gateway's own additions
    (``--ignore-pbs``, the staging job's own directory) left out."""
    options: dict[str, str | bool] = {}
    for arg in job.sbatch_args:
        if arg in GATEWAY_FLAGS or not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        option = table.BY_NAME.get(name)
        if option is None or option.kind is None or "api" not in option.surfaces:
            continue
        if name == "chdir" and value == job_dir_for(job.id):
            continue  # the copy gets a fresh directory of its own
        options[option.python_name] = value if eq else True
    return options


def _longer_time(job: Job, profile: ClusterProfile | None, notices: list[Text]) -> str | None:
    """Twice the job's time limit, capped by its partition's maximum (said in ``notices``)."""
    limit = job.spec.get("time_limit_s")
    partition = profile.partition(job.partition or "") if profile is not None else None
    if not isinstance(limit, int) or profile is None or partition is None:
        return None
    longest = partition.max_walltime_s
    values = {"was": format_walltime(limit), "partition": partition.name, "max": format_walltime(longest)}
    if limit >= longest:
        longer = [p.name for p in profile.partitions if p.max_walltime_s > limit]
        notices.append(
            Text(
                "the job ran out of time at %(was)s, the most partition %(partition)s allows: choose a "
                "partition that allows longer (%(longer)s) or make the job resume from where it stopped",
                longer=", ".join(longer) or "—",
                **values,
            )
        )
        return None
    suggested = min(limit * TIME_FACTOR, longest)
    time = format_walltime(suggested)
    if suggested == longest:
        notices.append(
            Text(
                "the job ran out of time at %(was)s: the copy asks for %(time)s, the most partition "
                "%(partition)s allows",
                time=time,
                **values,
            )
        )
    else:
        notices.append(
            Text(
                "the job ran out of time at %(was)s: the copy asks for twice as long, %(time)s",
                time=time,
                **values,
            )
        )
    return time
