"""Interactive sessions (issue #18): ``tls_sha256``, the SHA-256 of the app's TLS certificate
its connection file named, which the proxy pins (NULL for an app whose rule says ``tls =
false``, and for sessions connected before this revision). Downgrade drops it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactive_sessions") as batch:
        batch.add_column(sa.Column("tls_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interactive_sessions") as batch:
        batch.drop_column("tls_sha256")
