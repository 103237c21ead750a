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
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.jobs import JobSpec, RenderedScript
from myriagate.domain.sbatch_options import dependency
from myriagate.domain.sbatch_options.dependency import JobRef
from myriagate.domain.short_ids import FULL_LENGTH, MIN_PREFIX, prefix_bounds
from myriagate.errors import FieldError, JobSpecInvalid
from myriagate.services.jobs.dependents import Dependee, evaluate, waiting_reason, with_dependency

_HEX = re.compile(rf"^[0-9a-f]{{{MIN_PREFIX},{FULL_LENGTH}}}$")  # a gateway id or a prefix of one


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
    jobs = _candidates(session, user, cluster, parsed.refs)
    for ref in parsed.refs:
        if ref.text not in named:
            found = _find(jobs, cluster, ref, problems)
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


def _candidates(session: Session, user: User, cluster: str, refs: Sequence[JobRef]) -> list[Job]:
    """Every job of the user's login any of ``refs`` could name, in two lookups for all of them
    (by Slurm id, by gateway id prefix) rather than two per id."""
    # Jobs run as the cluster login: a login's jobs are the ones Slurm would let it wait for.
    login = user.cluster_login
    bases = sorted({ref.text.partition("_")[0] for ref in refs if ref.is_slurm_id})
    by_slurm = jobs_repo.get_many_by_slurm_id(session, cluster, bases)  # anybody's: kept if the login's
    own = [job for job in by_slurm if job.cluster_login == login]
    prefixes = {digits for ref in refs if _HEX.match(digits := ref.text.replace("-", ""))}
    return own + jobs_repo.of_login_by_id_prefixes(session, cluster, login, prefixes)


def _find(jobs: Sequence[Job], cluster: str, ref: JobRef, problems: list[FieldError]) -> Job | None:
    """The one job of ``jobs`` (the user's, ``_candidates``) ``ref`` names; a problem appended otherwise."""
    candidates: dict[uuid.UUID, Job] = {}
    if ref.is_slurm_id:
        base = ref.text.partition("_")[0]
        candidates.update((job.id, job) for job in jobs if job.slurm_job_id == base)
    digits = ref.text.replace("-", "")
    if _HEX.match(digits):
        low, high = prefix_bounds(digits)
        candidates.update((job.id, job) for job in jobs if low <= job.id <= high)
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
