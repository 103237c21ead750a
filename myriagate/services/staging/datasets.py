"""Reading datasets and staging plans for researchers: lists, one dataset, one file's bytes.

Who sees a dataset: its owner, every member of its project (cluster + Slurm account) and
platform admins (``staging_repo.visible_datasets_filter``). Anything else answers NotFound,
exactly like something that does not exist, so ids cannot be probed.

Downloads are not residency-checked: the policy governs where the *gateway* stores and
stages data (cluster, storage endpoints); a researcher fetching their own project's results
is the data's owner taking a copy, which the policy does not restrict. The file passes
through the gateway's spool (its own disk) only for as long as the response takes, and its
sha256 is checked against the one recorded at stage-out before a byte is sent.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from myriagate.db.models.staging import Dataset, DatasetFile, DatasetRole, DatasetUse, JobStaging
from myriagate.db.models.users import User
from myriagate.db.repos import staging as staging_repo
from myriagate.db.session import release_connection
from myriagate.domain.staging import relative_path
from myriagate.errors import ChecksumMismatch, FieldError, InvalidRequest, NotFound, StagingError, Text
from myriagate.ports import Stager
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs import queries as jobs_query
from myriagate.services.staging.transfers import storage_tree

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class JobUse:
    """A job that produced or consumed a dataset (provenance)."""

    job_id: uuid.UUID
    role: DatasetRole
    at: datetime


@dataclass(frozen=True)
class DatasetView:
    dataset: Dataset
    owner: str
    uses: Sequence[JobUse] = ()


@dataclass(frozen=True)
class DatasetPage:
    items: list[DatasetView]
    next_cursor: str | None


@dataclass(frozen=True)
class StagedInput:
    """One input file as verified on the cluster at stage-in."""

    path: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class StagingPlanRecord:
    """A job's staging plan as web and CLI read it, copied field by field from the row (the
    claim columns stay with the worker)."""

    job_id: uuid.UUID
    upload_id: uuid.UUID | None
    input_dataset_ids: tuple[uuid.UUID, ...]
    job_dir: str | None  # absolute directory on the cluster, once stage-in made it
    output_patterns: tuple[str, ...]
    output_endpoint: str | None
    staged_inputs: tuple[StagedInput, ...]  # empty until stage-in verified them
    stage_in_at: datetime | None
    stage_out_at: datetime | None
    output_dataset_id: uuid.UUID | None
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, plan: JobStaging) -> StagingPlanRecord:
        return cls(
            job_id=plan.job_id,
            upload_id=plan.upload_id,
            input_dataset_ids=tuple(uuid.UUID(raw) for raw in plan.input_dataset_ids),
            job_dir=plan.job_dir,
            output_patterns=tuple(plan.output_patterns),
            output_endpoint=plan.output_endpoint,
            staged_inputs=tuple(
                StagedInput(str(row["path"]), int(row["size_bytes"]), str(row["sha256"]))
                for row in plan.staged_inputs
            ),
            stage_in_at=plan.stage_in_at,
            stage_out_at=plan.stage_out_at,
            output_dataset_id=plan.output_dataset_id,
            attempts=plan.attempts,
            last_error=plan.last_error,
        )


@dataclass(frozen=True)
class JobStagingView:
    """A job's staging plan and the datasets it consumed or produced."""

    job: jobs_query.JobRecord
    plan: StagingPlanRecord
    datasets: list[tuple[DatasetView, DatasetRole]]


@dataclass(frozen=True)
class DownloadedFile:
    """A verified copy of one dataset file in a private temporary directory (remove it after)."""

    path: str
    local: Path
    tmpdir: Path
    size_bytes: int
    sha256: str

    def discard(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# --- lists -----------------------------------------------------------------------------
def list_datasets(
    session: Session,
    *,
    user: User,
    account: str | None = None,
    job_id: uuid.UUID | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DatasetPage:
    """One page of the datasets ``user`` may see, newest first (keyset cursor, like jobs)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            Text("limit must be between 1 and %(max_limit)s", max_limit=MAX_LIMIT),
            fields=[FieldError(("query", "limit"), "out of range")],
        )
    stmt = (
        sa.select(Dataset, User.username)
        .join(User, User.id == Dataset.owner_id)
        .where(staging_repo.visible_datasets_filter(user))
    )
    if account is not None:
        stmt = stmt.where(Dataset.slurm_account == account)
    if job_id is not None:
        stmt = stmt.where(Dataset.id.in_(sa.select(DatasetUse.dataset_id).where(DatasetUse.job_id == job_id)))
    if cursor is not None:
        created_at, last_id = jobs_query.decode_cursor(cursor)
        stmt = stmt.where(
            sa.or_(
                Dataset.created_at < created_at,
                sa.and_(Dataset.created_at == created_at, Dataset.id < last_id),
            )
        )
    stmt = stmt.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit + 1)
    rows = session.execute(stmt).all()
    items = [DatasetView(dataset=d, owner=owner) for d, owner in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1].dataset
        next_cursor = jobs_query.encode_cursor(last.created_at, last.id)
    return DatasetPage(items=items, next_cursor=next_cursor)


# --- one dataset -----------------------------------------------------------------------
def get_dataset(session: Session, *, dataset_id: uuid.UUID, user: User) -> DatasetView:
    """The dataset with its files and provenance, if ``user`` may see it (NotFound otherwise)."""
    row = session.execute(
        sa.select(Dataset, User.username)
        .join(User, User.id == Dataset.owner_id)
        .where(Dataset.id == dataset_id, staging_repo.visible_datasets_filter(user))
        .options(selectinload(Dataset.files))
    ).one_or_none()
    if row is None:
        raise NotFound(Text("no dataset %(dataset)s", dataset=dataset_id))
    dataset, owner = row
    uses = [JobUse(u.job_id, u.role, u.at) for u in staging_repo.uses_of(session, dataset_id)]
    return DatasetView(dataset=dataset, owner=owner, uses=uses)


def job_staging(session: Session, *, job_id: uuid.UUID, user: User) -> JobStagingView:
    """The job's staging plan (NotFound when the job is not visible or stages nothing)."""
    job = jobs_query.get_job(session, job_id=job_id, user=user).job
    plan = staging_repo.get_plan(session, job_id)
    if plan is None:
        raise NotFound(Text("job %(job)s stages no data", job=job_id))
    # Only the datasets the caller may see: a university admin sees the job, not its data.
    rows = session.execute(
        sa.select(Dataset, User.username, DatasetUse.role)
        .join(DatasetUse, DatasetUse.dataset_id == Dataset.id)
        .join(User, User.id == Dataset.owner_id)
        .where(DatasetUse.job_id == job_id, staging_repo.visible_datasets_filter(user))
        .order_by(DatasetUse.at)
    ).all()
    datasets = [(DatasetView(dataset=d, owner=owner), role) for d, owner, role in rows]
    return JobStagingView(job=job, plan=StagingPlanRecord.of(plan), datasets=datasets)


# --- one file --------------------------------------------------------------------------
def fetch_file(
    session: Session,
    *,
    dataset_id: uuid.UUID,
    path: str,
    user: User,
    profile_for: Callable[[str], ClusterProfile],
    stager: Stager,
    spool_dir: Path,
) -> DownloadedFile:
    """Copy one file of a visible dataset from its endpoint to a private temporary directory,
    verified against the recorded sha256 (ChecksumMismatch, and nothing kept, otherwise)."""
    view = get_dataset(session, dataset_id=dataset_id, user=user)
    dataset = view.dataset
    clean = relative_path(path, "file path")  # UnsafeValue (422) for '..', '/x', NUL, newline
    recorded: DatasetFile | None = next((f for f in dataset.files if f.path == clean), None)
    if recorded is None:
        raise NotFound(
            Text("dataset %(dataset)s has no file %(clean)s", dataset=dataset_id, clean=repr(clean))
        )
    endpoint = profile_for(dataset.cluster).storage_endpoint(dataset.endpoint)
    if endpoint is None:
        raise StagingError(
            Text(
                "dataset %(dataset)s is on endpoint %(endpoint)s, no longer declared",
                dataset=dataset_id,
                endpoint=repr(dataset.endpoint),
            )
        )
    release_connection(session)  # not held through the transfer
    tmpdir = spool_dir / "downloads" / uuid.uuid4().hex
    tmpdir.mkdir(parents=True, exist_ok=False)
    try:
        # The stager computes size and sha256 of what landed here (the port's contract).
        (fetched,) = stager.download(storage_tree(endpoint, dataset.root), [clean], tmpdir)
        local = tmpdir / clean
        size, digest = fetched.size_bytes, fetched.sha256
        if digest != recorded.sha256 or size != recorded.size_bytes:
            raise ChecksumMismatch(
                Text(
                    "%(clean)s of dataset %(dataset)s has sha256 %(digest)s (%(size)s bytes) on "
                    "%(endpoint)s; %(sha256)s (%(size_bytes)s bytes) was recorded",
                    clean=repr(clean),
                    dataset=dataset_id,
                    digest=digest,
                    size=size,
                    endpoint=dataset.endpoint,
                    sha256=recorded.sha256,
                    size_bytes=recorded.size_bytes,
                )
            )
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return DownloadedFile(path=clean, local=local, tmpdir=tmpdir, size_bytes=size, sha256=digest)
