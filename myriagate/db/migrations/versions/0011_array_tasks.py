"""Array tasks tracked one by one (state, exit code, output) for the job pages, API and CLI.

``job_array_tasks`` holds one row per task of an array job, keyed by (job, task index), as
Slurm last reported it; tracking writes a row only when the task changed. Downgrade drops
the table (the array job itself keeps its combined state).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JOB_STATES = (
    "staging_in", "submitting", "pending", "running", "suspended", "staging_out", "completed",
    "failed", "cancelled", "timeout", "out_of_memory", "node_fail", "preempted", "boot_fail",
    "deadline",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "job_array_tasks",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("task_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("raw_job_id", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            sa.Enum(*_JOB_STATES, name="jobstate", native_enum=False, create_constraint=False, length=32),
            nullable=True,
        ),
        sa.Column("slurm_state", sa.String(length=64), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_array_tasks_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "task_index", name=op.f("pk_job_array_tasks")),
    )


def downgrade() -> None:
    op.drop_table("job_array_tasks")
