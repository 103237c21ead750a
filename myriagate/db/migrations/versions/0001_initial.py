"""Initial schema: users, memberships, jobs and their history, audit events, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Plain SQLAlchemy types only, so this file keeps working whatever happens to the models later.
Enums are VARCHAR(32) holding the lowercase value, without CHECK constraints (a new state is
a code change, not a migration).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATES = (
    "staging_in", "submitting", "pending", "running", "suspended", "staging_out", "completed",
    "failed", "cancelled", "timeout", "out_of_memory", "node_fail", "preempted", "boot_fail",
    "deadline",
)  # fmt: skip


def _job_state(name: str, *, nullable: bool) -> sa.Column[str]:
    return sa.Column(
        name,
        sa.Enum(*JOB_STATES, name="jobstate", native_enum=False, create_constraint=False, length=32),
        nullable=nullable,
    )


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("cluster_login", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("slurm_account", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "researcher",
                "project_lead",
                name="membershiprole",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "user_id", "cluster", "slurm_account", name=op.f("uq_memberships_user_id_cluster_slurm_account")
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("cluster_login", sa.String(length=64), nullable=False),
        sa.Column("slurm_account", sa.String(length=64), nullable=True),
        sa.Column("partition", sa.String(length=64), nullable=True),
        sa.Column("job_name", sa.String(length=255), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("slurm_job_id", sa.String(length=64), nullable=True),
        _job_state("state", nullable=False),
        sa.Column("slurm_state", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status_fingerprint", sa.String(length=32), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("work_dir", sa.String(length=1024), nullable=True),
        sa.Column("output_pattern", sa.String(length=1024), nullable=True),
        sa.Column("error_pattern", sa.String(length=1024), nullable=True),
        sa.Column("script_text", sa.Text(), nullable=False),
        sa.Column("sbatch_args", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("array_task_count", sa.Integer(), nullable=True),
        _ts("submitted_at", nullable=True),
        _ts("started_at", nullable=True),
        _ts("ended_at", nullable=True),
        _ts("cancel_requested_at", nullable=True),
        _ts("reconciled_at", nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("cluster", "slurm_job_id", name=op.f("uq_jobs_cluster_slurm_job_id")),
        sa.UniqueConstraint("tag", name=op.f("uq_jobs_tag")),
    )
    op.create_index("ix_jobs_cluster_state", "jobs", ["cluster", "state"])
    op.create_index("ix_jobs_user_id_created_at", "jobs", ["user_id", "created_at"])
    op.create_table(
        "job_state_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        _job_state("from_state", nullable=True),
        _job_state("to_state", nullable=False),
        sa.Column("slurm_state", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _ts("at", nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_state_changes_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_state_changes")),
    )
    op.create_index(op.f("ix_job_state_changes_job_id"), "job_state_changes", ["job_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_type", "target_id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        _ts("expires_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_audit_events_target", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_job_state_changes_job_id"), table_name="job_state_changes")
    op.drop_table("job_state_changes")
    op.drop_index("ix_jobs_user_id_created_at", table_name="jobs")
    op.drop_index("ix_jobs_cluster_state", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("memberships")
    op.drop_table("users")
