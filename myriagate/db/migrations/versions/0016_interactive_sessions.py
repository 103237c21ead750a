"""Interactive sessions (issue #18): ``interactive_sessions``, one row per session, next to
its job. Downgrade drops it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interactive_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("cluster_login", sa.String(length=64), nullable=False),
        sa.Column("connection_path", sa.String(length=1100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("sealed_secret", sa.Text(), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_interactive_sessions_user_id_users")
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_interactive_sessions_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactive_sessions")),
        sa.UniqueConstraint("job_id", name=op.f("uq_interactive_sessions_job_id")),
    )
    op.create_index(
        "ix_interactive_sessions_user_id_created_at", "interactive_sessions", ["user_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_interactive_sessions_user_id_created_at", table_name="interactive_sessions")
    op.drop_table("interactive_sessions")
