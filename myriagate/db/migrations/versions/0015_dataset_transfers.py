"""Datasets saved from a cluster directory, and datasets copied into one (issue #17).

``dataset_transfers`` holds each "save as dataset" and "copy dataset here" a researcher asks
for: what, where, its state, and the worker's claim on it (as ``job_staging`` does for a
job's data). ``datasets.saved_from`` is where a saved dataset came from (``scratch:/run1``),
null for a job's results. Downgrade drops both.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=False, length=16)


def upgrade() -> None:
    op.create_table(
        "dataset_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", _enum("save", "copy", name="transferkind"), nullable=False),
        sa.Column(
            "state", _enum("queued", "running", "completed", "failed", name="transferstate"), nullable=False
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cluster_login", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("endpoint", sa.String(length=64), nullable=True),
        sa.Column("output_dir", sa.String(length=64), nullable=True),
        sa.Column("slurm_account", sa.String(length=64), nullable=True),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_dataset_transfers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_transfers")),
    )
    op.create_index("ix_dataset_transfers_state_cluster", "dataset_transfers", ["state", "cluster"])
    op.create_index("ix_dataset_transfers_user_id_created_at", "dataset_transfers", ["user_id", "created_at"])
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("saved_from", sa.String(length=1100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("saved_from")
    op.drop_index("ix_dataset_transfers_user_id_created_at", table_name="dataset_transfers")
    op.drop_index("ix_dataset_transfers_state_cluster", table_name="dataset_transfers")
    op.drop_table("dataset_transfers")
