"""What a job's end needs to be explained (memory used and requested, who cancelled it).

Four nullable columns on ``jobs``, filled by tracking from accounting when a job ends
(``slurm.endings``) and said by ``domain.job_explanations``: ``max_rss_bytes`` (the peak RSS
of its steps), ``mem_requested_bytes`` and ``time_limit_s`` (what it asked for), and
``cancelled_by`` (the gateway user who asked, or the cluster login that cancelled it; never a
uid). Jobs that ended before this revision keep them empty and are explained without them
("cancelled", "reached its time limit"). Downgrade drops the four columns.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("max_rss_bytes", "mem_requested_bytes", "time_limit_s", "cancelled_by")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("max_rss_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("mem_requested_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("time_limit_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
