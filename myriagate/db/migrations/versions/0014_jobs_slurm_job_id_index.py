"""An index on ``jobs.slurm_job_id`` alone: a job named by its Slurm id without its cluster.

``myriagate jobs show 4940`` (and the API's ``/jobs/4940``) looks a job up by its Slurm id on
every cluster, and the short ids of a job list check that a prefix made of digits is not also
some job's Slurm id. The unique (cluster, slurm_job_id) constraint cannot serve a search
without the cluster: both were full scans of the jobs table (18 s for a list at 100,000 jobs
on SQLite, where it had been 1.8 s).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_slurm_job_id", "jobs", ["slurm_job_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_slurm_job_id", table_name="jobs")
