"""Jobs submitted through the gateway and the history of their states."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from myriagate.db.base import Base, str_enum
from myriagate.domain.states import JobState


class Job(Base):
    """One job: the submission intent (written before sbatch runs) and what Slurm said since."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.UniqueConstraint("cluster", "slurm_job_id"),
        # "unfinished jobs of a cluster" (tracking) and "my jobs, newest first" (listing).
        sa.Index("ix_jobs_cluster_state", "cluster", "state"),
        sa.Index("ix_jobs_user_id_created_at", "user_id", "created_at"),
        # Job lists, newest first with keyset pagination (migration 0004).
        sa.Index("ix_jobs_created_at_id", "created_at", "id"),
        sa.Index("ix_jobs_cluster_slurm_account_created_at", "cluster", "slurm_account", "created_at"),
        # A job named by its Slurm id on any cluster (jobs show 4940, short ids; migration 0014).
        sa.Index("ix_jobs_slurm_job_id", "slurm_job_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    cluster: Mapped[str] = mapped_column(sa.String(64))
    cluster_login: Mapped[str] = mapped_column(sa.String(64))
    slurm_account: Mapped[str | None] = mapped_column(sa.String(64))
    partition: Mapped[str | None] = mapped_column(sa.String(64))
    job_name: Mapped[str | None] = mapped_column(sa.String(255))
    tag: Mapped[str] = mapped_column(sa.String(64), unique=True)
    slurm_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[JobState] = mapped_column(str_enum(JobState))
    slurm_state: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    # JobStatus.fingerprint of the last poll answer applied: a tick compares only this. While
    # Slurm does not know the job, "missing:<epoch s>" of the first clean miss (services.jobs.vanished).
    status_fingerprint: Mapped[str | None] = mapped_column(sa.String(32))
    exit_code: Mapped[int | None]
    signal: Mapped[int | None]
    # How it ended, from accounting (migration 0012; domain.job_explanations says it): the peak
    # RSS of its steps, the memory and time it asked for, and who cancelled it: the gateway
    # user who asked, or the cluster login sacct's "CANCELLED by <uid>" names (never a uid).
    max_rss_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    mem_requested_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    time_limit_s: Mapped[int | None]
    cancelled_by: Mapped[str | None] = mapped_column(sa.String(255))
    work_dir: Mapped[str | None] = mapped_column(sa.String(1024))
    output_pattern: Mapped[str | None] = mapped_column(sa.String(1024))
    error_pattern: Mapped[str | None] = mapped_column(sa.String(1024))
    # The rendered script and argv exactly as given to sbatch, so a reconciliation can
    # resubmit the very same job without the profile or templates at hand.
    script_text: Mapped[str] = mapped_column(sa.Text)
    sbatch_args: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    array_task_count: Mapped[int | None]
    # True while the job has outputs to copy to storage: Slurm's COMPLETED then moves it to
    # staging_out, not completed (services.staging.step finishes it).
    stage_out: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    submitted_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Set when the owner asked for a cancel; tracking confirms it from Slurm.
    cancel_requested_at: Mapped[datetime | None]
    # Set when a job that never got a Slurm id has been looked up by tag for good.
    reconciled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    history: Mapped[list[JobStateChange]] = relationship(
        back_populates="job", order_by="JobStateChange.id", cascade="all, delete-orphan"
    )


class JobStateChange(Base):
    """One move of a job from a state to another, with what Slurm said at the time."""

    __tablename__ = "job_state_changes"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[JobState | None] = mapped_column(str_enum(JobState))
    to_state: Mapped[JobState] = mapped_column(str_enum(JobState))
    slurm_state: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime]

    job: Mapped[Job] = relationship(back_populates="history")


class JobArrayTask(Base):
    """One task of an array job as Slurm last reported it (written only when it changed)."""

    __tablename__ = "job_array_tasks"

    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    task_index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # Slurm's own id of the task (``%j`` in its output file name), known once it started.
    raw_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[JobState | None] = mapped_column(str_enum(JobState))  # None: a state we do not know
    slurm_state: Mapped[str] = mapped_column(sa.String(64))
    exit_code: Mapped[int | None]
    signal: Mapped[int | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
