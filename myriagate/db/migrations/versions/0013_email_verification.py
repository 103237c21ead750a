"""Users' own notification e-mail address and its verification.

``users`` gains where its ``email`` came from (``email_source``: admin, sso or user) and when
it was confirmed (``email_verified_at``), and the address a user asked for and has not
confirmed yet (``email_pending``, asked for at ``email_pending_at``; docs/notifications.md,
"The address"). Addresses already on record were set by administrators: they are marked
``admin``. Downgrade drops the four columns (the confirmed ``email`` stays).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_users = sa.table("users", sa.column("email", sa.String()), sa.column("email_source", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "email_source",
                sa.Enum("admin", "sso", "user", name="emailsource", native_enum=False,
                        create_constraint=False, length=16),
                nullable=True,
            )
        )  # fmt: skip
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("email_pending", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("email_pending_at", sa.DateTime(timezone=True), nullable=True))
    op.get_bind().execute(_users.update().where(_users.c.email.is_not(None)).values(email_source="admin"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_pending_at")
        batch.drop_column("email_pending")
        batch.drop_column("email_verified_at")
        batch.drop_column("email_source")
