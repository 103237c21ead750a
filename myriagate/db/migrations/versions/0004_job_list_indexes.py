"""Indexes for job lists paged newest first (keyset on created_at, id).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every list (all jobs for a platform admin, an institution's for a university admin)
    # walks this one backwards and stops after a page.
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])
    # A project's jobs (project leads, the account filter), newest first.
    op.create_index(
        "ix_jobs_cluster_slurm_account_created_at", "jobs", ["cluster", "slurm_account", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_cluster_slurm_account_created_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at_id", table_name="jobs")
