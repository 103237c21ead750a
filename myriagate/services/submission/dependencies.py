"""``--dependency`` at submission: find the jobs it names, and what sbatch is given instead.

Every id is looked up among the jobs **of the submitter's login on the same cluster**:

- a full gateway id (``3f2a…-…``, what ``myriagate submit --parsable`` prints);
- the first 8 or more hex digits of one (as job lists show them), unique among those jobs;
- a Slurm job id (``1234``, or an array task ``1234_5``) of one of those jobs.

Anything else (a job of another user, a job that does not exist, a job submitted outside the
gateway) gets the same answer, "no job of yours with id …", so the refusal never tells whether
somebody else's job exists. The expression is then decided with the gateway's own record
(``services.jobs.dependents``): the argv element becomes Slurm's ids, satisfied clauses are
dropped, an expression that can never be satisfied is refused (nothing written, nothing held),
and when a job it names has no Slurm id yet the new job waits in the gateway.

The spec keeps the expression as the user wrote it; only the sbatch argv changes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.jobs import JobSpec, RenderedScript
from myriagate.domain.sbatch_options import dependency
from myriagate.domain.sbatch_options.dependency import JobRef
from myriagate.errors import FieldError, JobSpecInvalid
from myriagate.services.jobs.dependents import Dependee, evaluate, waiting_reason, with_dependency

_HEX = re.compile(r"^[0-9a-f]{8,32}$")
MIN_PREFIX = 8


class Resolved(NamedTuple):
    """The script with Slurm's ids in its ``--dependency``, and why it must wait (or None)."""

    script: RenderedScript
    waiting: str | None = None


def resolve(session: Session, *, user: User, cluster: str, spec: JobSpec, script: RenderedScript) -> Resolved:
    """Look up the jobs ``spec.dependency`` names and rewrite the argv; JobSpecInvalid when an
    id is not one of the user's jobs, is ambiguous, or the expression can never be met."""
    if spec.dependency is None:
        return Resolved(script)
    parsed = dependency.parse(spec.dependency)
    named: dict[str, Dependee] = {}
    problems: list[FieldError] = []
    for ref in parsed.refs:
        if ref.text not in named:
            found = _find(session, user, cluster, ref, problems)
            if found is not None:
                named[ref.text] = found
    if problems:
        raise JobSpecInvalid("; ".join(p.message for p in problems), fields=problems)
    parsed = _as_found(parsed, named)
    outcome = evaluate(parsed, lambda ref: named[ref.text])
    if outcome.never is not None:
        message = f"--dependency={spec.dependency}: {outcome.never}"
        raise JobSpecInvalid(message, fields=[FieldError(("dependency",), message)])
    args = tuple(with_dependency(script.sbatch_args, outcome.value))
    waiting = waiting_reason(outcome.waiting_on) if outcome.waiting_on else None
    return Resolved(replace(script, sbatch_args=args), waiting)


def _as_found(parsed: dependency.Dependency, named: dict[str, Dependee]) -> dependency.Dependency:
    """``parsed`` with each id that found a job by its gateway id written as that full id.

    Digits such as ``12345678`` are both a Slurm job id and the start of a gateway id; found
    only as the latter, they are the user's job, whose own Slurm id sbatch must get (or wait
    for), never the digits: as a Slurm id they may be anybody's job.
    """

    def ref_of(ref: JobRef) -> JobRef:
        job = named[ref.text]
        if not ref.is_slurm_id or job.slurm_job_id == ref.text.partition("_")[0]:
            return ref
        named[str(job.id)] = job
        return JobRef(str(job.id), ref.minutes)

    clauses = tuple(replace(c, jobs=tuple(ref_of(r) for r in c.jobs)) for c in parsed.clauses)
    return replace(parsed, clauses=clauses)


def _find(session: Session, user: User, cluster: str, ref: JobRef, problems: list[FieldError]) -> Job | None:
    """The one job of the user's login ``ref`` names; a problem appended otherwise."""
    candidates: dict[uuid.UUID, Job] = {}
    if ref.is_slurm_id:
        base = ref.text.partition("_")[0]
        for job in session.scalars(_own(user, cluster).where(Job.slurm_job_id == base)):
            candidates[job.id] = job
    digits = ref.text.replace("-", "")
    if _HEX.match(digits):
        for job in session.scalars(_own(user, cluster).where(_id_prefix(digits)).limit(2)):
            candidates[job.id] = job
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        hint = (
            " (a Slurm job id must be one of the jobs you submitted through the gateway)"
            if ref.is_slurm_id
            else ""
        )
        message = f"--dependency: no job of yours with id {ref.text!r} on {cluster}{hint}"
    else:
        message = (
            f"--dependency: {ref.text!r} matches several of your jobs on {cluster}; "
            "give more digits of the job id, or its full id"
        )
    problems.append(FieldError(("dependency",), message))
    return None


def _own(user: User, cluster: str) -> sa.Select[Job]:
    # Jobs run as the cluster login: a login's jobs are the ones Slurm would let it wait for.
    return sa.select(Job).where(Job.cluster == cluster, Job.cluster_login == user.cluster_login)


def _id_prefix(digits: str) -> sa.ColumnElement[bool]:
    """Gateway ids starting with ``digits``: a range of the primary key (one index lookup on
    every database, where a text prefix would depend on how each stores a UUID)."""
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    return Job.id.between(low, high)
