"""Projects suspended by hand: ``suspended_at``, ``suspended_by`` (the admin's username) and
``suspension_reason``, all NULL for a project that is not suspended (every existing one).
Downgrade drops them (a suspension in force is then lifted).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("suspended_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("suspension_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("suspension_reason")
        batch.drop_column("suspended_by")
        batch.drop_column("suspended_at")
