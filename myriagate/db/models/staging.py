"""Data staging: uploads waiting for a job, each job's staging plan, and datasets with provenance."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from myriagate.db.base import Base, str_enum

_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Upload(Base):
    """Files a researcher sent to the gateway's spool, waiting to be staged in with a job."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Set once a job takes the upload: an upload feeds one job, so its files can be removed
    # from the spool when that job's stage-in is verified.
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"), unique=True)
    created_at: Mapped[datetime]

    files: Mapped[list[UploadFile]] = relationship(
        back_populates="upload", order_by="UploadFile.path", cascade="all, delete-orphan"
    )


class UploadFile(Base):
    """One uploaded file: where it goes under the job's directory, its size and sha256."""

    __tablename__ = "upload_files"
    __table_args__ = (sa.UniqueConstraint("upload_id", "path"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    upload_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("uploads.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.String(1024))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))

    upload: Mapped[Upload] = relationship(back_populates="files")


class JobStaging(Base):
    """What a job stages: inputs (an upload, datasets) before it runs, outputs after it ends.

    ``claimed_by``/``claimed_until`` let one worker at a time move a job's data; a claim that
    expires (the worker died) is taken over, and the stager's resume makes that safe.
    """

    __tablename__ = "job_staging"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    upload_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("uploads.id"))
    input_dataset_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Absolute directory on the cluster where inputs go and output patterns are matched.
    job_dir: Mapped[str | None] = mapped_column(sa.String(1024))
    output_patterns: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    output_endpoint: Mapped[str | None] = mapped_column(sa.String(64))
    # The output dataset's directory name under <storage root>/<account>: random, chosen at
    # submission (a name derived from the job id could be prepared with a link in advance).
    output_dir: Mapped[str | None] = mapped_column(sa.String(64))
    # The verified manifest of what was staged in: [{"path", "size_bytes", "sha256"}, ...].
    staged_inputs: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    stage_in_at: Mapped[datetime | None]
    stage_out_at: Mapped[datetime | None]
    output_dataset_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("datasets.id"))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_until: Mapped[datetime | None]


class DatasetRole(StrEnum):
    """How a job relates to a dataset."""

    INPUT = "input"
    OUTPUT = "output"


class Dataset(Base):
    """A set of files on a storage endpoint, with where it physically is and where it came from."""

    __tablename__ = "datasets"
    __table_args__ = (sa.Index("ix_datasets_owner_id_created_at", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(255))
    owner_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    cluster: Mapped[str] = mapped_column(sa.String(64))
    slurm_account: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(64))
    site: Mapped[str] = mapped_column(sa.String(255))
    region: Mapped[str] = mapped_column(sa.String(16))
    operator: Mapped[str] = mapped_column(sa.String(255))
    # Absolute directory on the endpoint holding the files.
    root: Mapped[str] = mapped_column(sa.String(1024))
    file_count: Mapped[int]
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    producer_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    created_at: Mapped[datetime]
    # How an output dataset's files were chosen: "job_dir" (every match in the job's own
    # directory) or "newer_than_start" (a --chdir the researcher chose: only files changed
    # after the job started). docs/staging.md states the rule.
    selection: Mapped[str] = mapped_column(sa.String(32), default="job_dir", server_default="job_dir")
    # A dataset saved from a cluster directory (issue #17): where, as ``area:/path``
    # (``domain.dataset_transfers.place``); None for a job's results.
    saved_from: Mapped[str | None] = mapped_column(sa.String(1100))

    files: Mapped[list[DatasetFile]] = relationship(
        back_populates="dataset", order_by="DatasetFile.path", cascade="all, delete-orphan"
    )


class DatasetFile(Base):
    __tablename__ = "dataset_files"
    __table_args__ = (sa.UniqueConstraint("dataset_id", "path"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("datasets.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.String(1024))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))

    dataset: Mapped[Dataset] = relationship(back_populates="files")


class DatasetUse(Base):
    """Provenance: a job consumed (input) or produced (output) a dataset."""

    __tablename__ = "dataset_uses"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[DatasetRole] = mapped_column(str_enum(DatasetRole), primary_key=True)
    at: Mapped[datetime]
