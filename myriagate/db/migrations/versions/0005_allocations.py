"""Allocation periods, institution quotas, project allocations and the ledger.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "allocation_periods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_allocation_periods_ends_after_start")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_periods")),
    )
    op.create_index("ix_allocation_periods_cluster_starts_at", "allocation_periods", ["cluster", "starts_at"])
    op.create_table(
        "institution_quotas",
        sa.Column("institution", sa.String(length=64), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        sa.Column("core_seconds", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "core_seconds >= 0 AND gpu_seconds >= 0", name=op.f("ck_institution_quotas_nonnegative")
        ),
        sa.ForeignKeyConstraint(
            ["institution"],
            ["institutions.code"],
            name=op.f("fk_institution_quotas_institution_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["allocation_periods.id"],
            name=op.f("fk_institution_quotas_period_id_allocation_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("institution", "period_id", name=op.f("pk_institution_quotas")),
    )
    totals = [
        sa.Column(f"{part}_{resource}_seconds", sa.BigInteger(), nullable=False)
        for part in ("granted", "held", "charged")
        for resource in ("core", "gpu")
    ]
    op.create_table(
        "allocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("period_id", sa.Uuid(), nullable=False),
        *totals,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "granted_core_seconds >= 0 AND granted_gpu_seconds >= 0"
            " AND held_core_seconds >= 0 AND held_gpu_seconds >= 0"
            " AND charged_core_seconds >= 0 AND charged_gpu_seconds >= 0",
            name=op.f("ck_allocations_nonnegative"),
        ),
        sa.CheckConstraint(
            "held_core_seconds + charged_core_seconds <= granted_core_seconds"
            " AND held_gpu_seconds + charged_gpu_seconds <= granted_gpu_seconds",
            name=op.f("ck_allocations_not_overdrawn"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_allocations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["period_id"],
            ["allocation_periods.id"],
            name=op.f("fk_allocations_period_id_allocation_periods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
        sa.UniqueConstraint("project_id", "period_id", name=op.f("uq_allocations_project_id_period_id")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("allocation_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("slurm_job_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("core_seconds", sa.BigInteger(), nullable=False),
        sa.Column("gpu_seconds", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["allocations.id"],
            name=op.f("fk_ledger_entries_allocation_id_allocations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        # One entry per (job, kind): a retried hold, release or charge is a no-op.
        sa.UniqueConstraint("job_id", "kind", name=op.f("uq_ledger_entries_job_id_kind")),
    )
    op.create_index("ix_ledger_entries_allocation_id_id", "ledger_entries", ["allocation_id", "id"])
    # Jobs run outside the gateway are charged once per Slurm job id (partial: gateway entries
    # have no slurm_job_id and would only bloat it).
    op.create_index(
        "uq_ledger_entries_allocation_id_slurm_job_id_kind",
        "ledger_entries",
        ["allocation_id", "slurm_job_id", "kind"],
        unique=True,
        postgresql_where=sa.text("slurm_job_id IS NOT NULL"),
        sqlite_where=sa.text("slurm_job_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_ledger_entries_allocation_id_slurm_job_id_kind", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_allocation_id_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("allocations")
    op.drop_table("institution_quotas")
    op.drop_index("ix_allocation_periods_cluster_starts_at", table_name="allocation_periods")
    op.drop_table("allocation_periods")
