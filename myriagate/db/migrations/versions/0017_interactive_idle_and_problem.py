"""Interactive sessions (issue #18): ``idle_timeout_s``, the idle timeout the session's app was
started with (the profile's, or the one asked for; NULL: the app has none), and ``problem``, why
the app's connection file was refused (shown to its owner). Downgrade drops both.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactive_sessions") as batch:
        batch.add_column(sa.Column("idle_timeout_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("problem", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactive_sessions") as batch:
        batch.drop_column("problem")
        batch.drop_column("idle_timeout_s")
