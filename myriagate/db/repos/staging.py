"""Queries over uploads, job staging plans and datasets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import Dataset, DatasetUse, JobStaging, Upload, UploadFile
from myriagate.db.models.users import User
from myriagate.domain.states import JobState


def get_upload(session: Session, upload_id: uuid.UUID) -> Upload | None:
    return session.get(Upload, upload_id, options=[selectinload(Upload.files)])


def get_upload_row(session: Session, upload_id: uuid.UUID) -> Upload | None:
    """The upload alone, without loading its (possibly thousands of) files."""
    return session.get(Upload, upload_id)


def upload_file(session: Session, upload_id: uuid.UUID, path: str) -> UploadFile | None:
    return session.scalars(
        sa.select(UploadFile).where(UploadFile.upload_id == upload_id, UploadFile.path == path)
    ).one_or_none()


def upload_path_clash(session: Session, upload_id: uuid.UUID, path: str) -> str | None:
    """An uploaded path that is a directory of ``path`` or lies under it ("a" and "a/b"), if any.

    One indexed query per file, so an upload of many files stays linear.
    """
    parts = path.split("/")
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    return session.scalars(
        sa.select(UploadFile.path)
        .where(
            UploadFile.upload_id == upload_id,
            sa.or_(UploadFile.path.in_(ancestors), UploadFile.path.startswith(path + "/", autoescape=True)),
        )
        .limit(1)
    ).first()


def stale_uploads(session: Session, older_than: datetime, limit: int) -> Sequence[Upload]:
    """Uploads no job took, created before ``older_than``."""
    return session.scalars(
        sa.select(Upload).where(Upload.job_id.is_(None), Upload.created_at < older_than).limit(limit)
    ).all()


def get_plan(session: Session, job_id: uuid.UUID) -> JobStaging | None:
    return session.get(JobStaging, job_id)


def claimable_jobs(session: Session, cluster: str, now: datetime, limit: int = 20) -> list[uuid.UUID]:
    """Jobs of ``cluster`` with data to move (staging in or out) and no live claim, oldest first."""
    stmt = (
        sa.select(Job.id)
        .join(JobStaging, JobStaging.job_id == Job.id)
        .where(
            Job.cluster == cluster,
            Job.state.in_([JobState.STAGING_IN, JobState.STAGING_OUT]),
            sa.or_(JobStaging.claimed_until.is_(None), JobStaging.claimed_until < now),
        )
        .order_by(Job.updated_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get_dataset(session: Session, dataset_id: uuid.UUID) -> Dataset | None:
    return session.get(Dataset, dataset_id, options=[selectinload(Dataset.files)])


def visible_datasets_filter(user: User) -> sa.ColumnElement[bool]:
    """Datasets ``user`` may see: their own, their projects' (any member), all for platform admins."""
    if user.is_platform_admin:
        return sa.true()
    accounts = {(m.cluster, m.slurm_account) for m in user.memberships}
    clauses: list[sa.ColumnElement[bool]] = [Dataset.owner_id == user.id]
    for cluster, account in sorted(accounts):
        clauses.append(sa.and_(Dataset.cluster == cluster, Dataset.slurm_account == account))
    return sa.or_(*clauses)


def list_datasets(
    session: Session,
    user: User,
    *,
    account: str | None = None,
    job_id: uuid.UUID | None = None,
    limit: int = 100,
    before: datetime | None = None,
) -> Sequence[Dataset]:
    stmt = sa.select(Dataset).where(visible_datasets_filter(user))
    if account is not None:
        stmt = stmt.where(Dataset.slurm_account == account)
    if job_id is not None:
        stmt = stmt.where(Dataset.id.in_(sa.select(DatasetUse.dataset_id).where(DatasetUse.job_id == job_id)))
    if before is not None:
        stmt = stmt.where(Dataset.created_at < before)
    stmt = stmt.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit)
    return session.scalars(stmt).all()


def uses_of(session: Session, dataset_id: uuid.UUID) -> Sequence[DatasetUse]:
    return session.scalars(
        sa.select(DatasetUse).where(DatasetUse.dataset_id == dataset_id).order_by(DatasetUse.at)
    ).all()
