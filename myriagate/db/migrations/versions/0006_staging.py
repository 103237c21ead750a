"""Data staging: uploads, per-job staging plans, datasets with their files and provenance.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("slurm_account", sa.String(length=64), nullable=True),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("operator", sa.String(length=255), nullable=False),
        sa.Column("root", sa.String(length=1024), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("producer_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_datasets_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["producer_job_id"], ["jobs.id"], name=op.f("fk_datasets_producer_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index("ix_datasets_owner_id_created_at", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_datasets_producer_job_id"), ["producer_job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_datasets_slurm_account"), ["slurm_account"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_uploads_job_id_jobs")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("job_id", name=op.f("uq_uploads_job_id")),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_user_id"), ["user_id"], unique=False)

    op.create_table(
        "dataset_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_files_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_files")),
        sa.UniqueConstraint("dataset_id", "path", name=op.f("uq_dataset_files_dataset_id_path")),
    )
    op.create_table(
        "dataset_uses",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum("input", "output", name="datasetrole", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_uses_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_dataset_uses_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "job_id", "role", name=op.f("pk_dataset_uses")),
    )
    op.create_table(
        "job_staging",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=True),
        sa.Column("input_dataset_ids", sa.JSON(), nullable=False),
        sa.Column("job_dir", sa.String(length=1024), nullable=True),
        sa.Column("output_patterns", sa.JSON(), nullable=False),
        sa.Column("output_endpoint", sa.String(length=64), nullable=True),
        sa.Column("staged_inputs", sa.JSON(), nullable=False),
        sa.Column("stage_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stage_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("output_dataset_id", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_staging_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["output_dataset_id"], ["datasets.id"], name=op.f("fk_job_staging_output_dataset_id_datasets")
        ),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], name=op.f("fk_job_staging_upload_id_uploads")),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_staging")),
    )
    op.create_table(
        "upload_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["uploads.id"], name=op.f("fk_upload_files_upload_id_uploads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_files")),
        sa.UniqueConstraint("upload_id", "path", name=op.f("uq_upload_files_upload_id_path")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_out", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("stage_out")

    op.drop_table("upload_files")
    op.drop_table("job_staging")
    op.drop_table("dataset_uses")
    op.drop_table("dataset_files")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_user_id"))

    op.drop_table("uploads")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datasets_slurm_account"))
        batch_op.drop_index(batch_op.f("ix_datasets_producer_job_id"))
        batch_op.drop_index("ix_datasets_owner_id_created_at")

    op.drop_table("datasets")
