"""Finding a job from what a person typed, and the short ids lists show.

A job can be named by:

- its full gateway id (``3f2a…-…``, with or without dashes);
- the first 8 or more hex digits of it (what ``jobs list`` shows), unique among the jobs the
  caller may see, like git's abbreviated commits;
- its Slurm job id (``1234``; an array task ``1234_5`` names the array job), narrowed to one
  cluster with ``cluster`` when the same number exists on several.

Only the jobs the caller may see (``jobs_repo.visible_to``) are ever considered, so another
user's job and a job that does not exist get the same 404, and an ambiguous reference lists
only the caller's own candidates. Digits such as ``12345678`` are both a Slurm id and the
start of a gateway id: both readings are looked up and, when they name different jobs, the
reference is ambiguous.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.short_ids import (
    MAX_CANDIDATES,
    MIN_PREFIX,
    candidate_count,
    hex_reference,
    prefix_bounds,
    shortest_unique_prefix,
)
from myriagate.domain.short_ids import MAX_REF_LENGTH as MAX_REF_LENGTH
from myriagate.errors import AmbiguousJob, FieldError, InvalidRequest, NotFound, Text
from myriagate.services.jobs.queries import JobRecord

_SLURM = re.compile(r"^([0-9]{1,20})(?:_[0-9]{1,10})?\Z")
_CHUNK = 200  # prefix ranges per query, as jobs_repo.of_login_by_id_prefixes


@dataclass(frozen=True, slots=True)
class JobReference:
    """What a typed reference may mean: at most one full id, id prefix and Slurm id."""

    text: str
    full_id: uuid.UUID | None = None
    prefix: str | None = None  # hex digits, no dashes
    slurm_job_id: str | None = None  # the base id of an array task


def parse_reference(text: str) -> JobReference:
    """Read a typed job reference; InvalidRequest when it cannot name a job at all."""
    given = text.strip()
    hex_id = hex_reference(given)
    slurm = _SLURM.match(given)
    reference = JobReference(
        text=given,
        full_id=hex_id if isinstance(hex_id, uuid.UUID) else None,
        prefix=hex_id if isinstance(hex_id, str) else None,
        slurm_job_id=slurm.group(1) if slurm else None,
    )
    if reference.full_id is None and reference.prefix is None and reference.slurm_job_id is None:
        raise InvalidRequest(
            Text(
                "%(ref)s is not a job id: give the id shown by the job list (at least %(min)s "
                "characters), the full id, or the Slurm job id",
                ref=repr(given[:MAX_REF_LENGTH]),
                min=MIN_PREFIX,
            ),
            fields=[FieldError(("path", "job_id"), "not a job id")],
        )
    return reference


def _matches(reference: JobReference) -> sa.ColumnElement[bool]:
    clauses: list[sa.ColumnElement[bool]] = []
    if reference.full_id is not None:
        clauses.append(Job.id == reference.full_id)
    if reference.prefix is not None:
        clauses.append(Job.id.between(*prefix_bounds(reference.prefix)))
    if reference.slurm_job_id is not None:
        clauses.append(Job.slurm_job_id == reference.slurm_job_id)
    return sa.or_(*clauses)


def find_job_id(session: Session, *, user: User, text: str, cluster: str | None = None) -> uuid.UUID:
    """The id of the one job ``text`` names among those ``user`` may see (on ``cluster`` if
    given): NotFound when none, AmbiguousJob (with the candidates) when several.

    A full id without a cluster is returned as it is, unread: the caller reads the job anyway,
    and answers NotFound for a job ``user`` may not see exactly as here.
    """
    reference = parse_reference(text)
    if reference.full_id is not None and cluster is None:
        return reference.full_id
    stmt = sa.select(Job).where(_matches(reference), jobs_repo.visible_to(user))
    if cluster is not None:
        stmt = stmt.where(Job.cluster == cluster)
    stmt = stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(MAX_CANDIDATES + 1)
    found = [JobRecord.of(job) for job in session.scalars(stmt)]
    if len(found) == 1:
        return found[0].id
    where = Text(" on %(cluster)s", cluster=cluster) if cluster else ""
    if not found:
        raise NotFound(Text("no job %(ref)s%(where)s", ref=reference.text, where=where))
    hint = (
        Text("name the cluster, or give more characters of the id")
        if len({job.cluster for job in found}) > 1
        else Text("give more characters of the id")
    )
    raise AmbiguousJob(
        Text("%(ref)s names %(count)s jobs%(where)s: %(hint)s", ref=reference.text,
             count=candidate_count(found), where=where, hint=hint),
        candidates=[candidate(job) for job in found[:MAX_CANDIDATES]],
    )  # fmt: skip


def candidate(job: JobRecord) -> dict[str, object]:
    """One job of an ambiguous reference, as the problem's ``candidates`` list shows it."""
    submitted = job.submitted_at or job.created_at
    return {
        "id": str(job.id),
        "cluster": job.cluster,
        "slurm_job_id": job.slurm_job_id,
        "job_name": job.job_name,
        "state": job.state.value,
        "submitted_at": submitted.isoformat(),
    }


# --- short ids ---------------------------------------------------------------------------------
def short_ids(session: Session, *, user: User, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For each id, its shortest prefix (at least ``MIN_PREFIX`` hex digits) that names that job
    alone among the jobs ``user`` may see, so that ``find_job_id`` finds it again.

    A few index lookups per 200 ids (a page is one): the jobs sharing the first ``MIN_PREFIX``
    digits with one of them (primary-key ranges) and those whose Slurm id a prefix made of
    decimal digits could also be read as (its own index), then which of the others the
    caller may see.
    """
    neighbours: set[uuid.UUID] = set()
    slurm_ids: dict[str, set[uuid.UUID]] = {}
    for start in range(0, len(job_ids), _CHUNK):
        chunk = job_ids[start : start + _CHUNK]
        prefixes = sorted({j.hex[:MIN_PREFIX] for j in chunk})
        numbers = {prefix for job_id in chunk for prefix in _numeric_prefixes(job_id)}
        # Each search on its own index alone (primary-key ranges; ix_jobs_slurm_job_id), whoever
        # owns the jobs: an OR across both columns, or the caller's visibility in the same
        # statement, made SQLite scan the jobs table or the caller's jobs (0.2 s at 100,000).
        near, bounds = _near_statement(prefixes)
        found: dict[uuid.UUID, str | None] = {
            job_id: slurm for job_id, slurm in session.execute(near, bounds)
        }
        if numbers:
            by_number = sa.select(Job.id, Job.slurm_job_id).where(Job.slurm_job_id.in_(sorted(numbers)))
            found.update({job_id: slurm for job_id, slurm in session.execute(by_number)})
        # Then only the jobs the caller may see count, the page's own (they are) and the few
        # others found, by primary key.
        others = sorted(set(found) - set(chunk))
        visible = set(chunk)
        if others:
            visible.update(
                session.scalars(sa.select(Job.id).where(Job.id.in_(others), jobs_repo.visible_to(user)))
            )
        for job_id in visible:
            neighbours.add(job_id)
            slurm_job_id = found.get(job_id)
            if slurm_job_id is not None and slurm_job_id in numbers:
                slurm_ids.setdefault(slurm_job_id, set()).add(job_id)
    groups: dict[str, list[str]] = {}
    for job_id in neighbours:
        groups.setdefault(job_id.hex[:MIN_PREFIX], []).append(job_id.hex)
    return {
        job_id: job_id.hex[: _length(job_id, groups.get(job_id.hex[:MIN_PREFIX], []), slurm_ids)]
        for job_id in job_ids
    }


def _near_statement(
    prefixes: Sequence[str],
) -> tuple[sa.Select[uuid.UUID, str | None], dict[str, uuid.UUID]]:
    """The jobs whose id starts with one of ``prefixes`` (primary-key ranges), and its bounds.

    The statement is built once per size (a power of two, the last range repeated to fill it)
    with bound parameters: building 50 ``BETWEEN`` expressions on every page cost as much as
    running them (0.7 ms at 100,000 jobs on PostgreSQL, docs/performance.md)."""
    size = 1 << max(0, len(prefixes) - 1).bit_length()
    padded = [*prefixes, *[prefixes[-1]] * (size - len(prefixes))]
    bounds: dict[str, uuid.UUID] = {}
    for i, prefix in enumerate(padded):
        bounds[f"low{i}"], bounds[f"high{i}"] = prefix_bounds(prefix)
    return _near_of_size(size), bounds


@lru_cache(maxsize=16)
def _near_of_size(size: int) -> sa.Select[uuid.UUID, str | None]:
    ranges = [
        Job.id.between(
            sa.bindparam(f"low{i}", type_=Job.id.type), sa.bindparam(f"high{i}", type_=Job.id.type)
        )
        for i in range(size)
    ]
    return sa.select(Job.id, Job.slurm_job_id).where(sa.or_(*ranges))


def _numeric_prefixes(job_id: uuid.UUID) -> list[str]:
    """The prefixes of ``MIN_PREFIX`` digits or more made of decimal digits only: each could
    be read as a Slurm job id too."""
    digits = job_id.hex
    end = next((i for i, c in enumerate(digits) if not c.isdigit()), len(digits))
    return [digits[:k] for k in range(MIN_PREFIX, end + 1)]


def _length(job_id: uuid.UUID, others: Sequence[str], slurm_ids: dict[str, set[uuid.UUID]]) -> int:
    """The shortest unique prefix's length, longer while it is another job's Slurm id."""
    digits = job_id.hex
    length = len(shortest_unique_prefix(digits, others))
    while length < len(digits) and slurm_ids.get(digits[:length], set()) - {job_id}:
        length += 1
    return length
