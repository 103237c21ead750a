"""Allocation periods, institution quotas, project allocations and their append-only ledger.

Amounts are integer core-seconds and GPU-seconds (BigInteger), never floats. An allocation
keeps maintained totals (granted, held, charged) so a balance is one row read; every change
to them is one ``LedgerEntry`` written in the same transaction. See docs/allocations.md.

Entry signs (chosen so the totals are always sums of entries, which a test checks):

- ``grant``: positive, adds to ``granted``.
- ``adjustment``: **signed**, adds to ``granted`` (a correction by an admin, or the automatic
  ``overrun`` adjustment that covers a job which used more than was left).
- ``hold``: positive, adds to ``held``.
- ``release``: positive (the hold's amount), gives a job's whole hold back: it never ran.
- ``charge``: positive, adds to ``charged``; a gateway job's charge also *closes* its hold.

So ``granted = Σgrant + Σadjustment``, ``held = Σ holds of jobs with neither a release nor a
charge`` and ``charged = Σcharge``. A settled job has two entries, hold and charge: "charge
what ran and release the rest" is one move, and one row is half the cost of two.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from myriagate.db.base import Base, str_enum

# Autoincrementing 64-bit ids on PostgreSQL; SQLite only autoincrements INTEGER (the rowid).
_BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class EntryKind(StrEnum):
    GRANT = "grant"
    HOLD = "hold"
    RELEASE = "release"
    CHARGE = "charge"
    ADJUSTMENT = "adjustment"


class AllocationPeriod(Base):
    """A span of time ``[starts_at, ends_at)`` on one cluster; periods of a cluster never overlap."""

    __tablename__ = "allocation_periods"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_allocation_periods_cluster_starts_at", "cluster", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    cluster: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class InstitutionQuota(Base):
    """What a platform admin gave an institution for a period: the cap on its projects' grants."""

    __tablename__ = "institution_quotas"
    __table_args__ = (sa.CheckConstraint("core_seconds >= 0 AND gpu_seconds >= 0", name="nonnegative"),)

    institution: Mapped[str] = mapped_column(sa.ForeignKey("institutions.code"), primary_key=True)
    period_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("allocation_periods.id", ondelete="CASCADE"), primary_key=True
    )
    core_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger)


class Allocation(Base):
    """A project's compute time for one period, with maintained totals (balance in O(1))."""

    __tablename__ = "allocations"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "period_id"),
        sa.CheckConstraint(
            "granted_core_seconds >= 0 AND granted_gpu_seconds >= 0"
            " AND held_core_seconds >= 0 AND held_gpu_seconds >= 0"
            " AND charged_core_seconds >= 0 AND charged_gpu_seconds >= 0",
            name="nonnegative",
        ),
        # The database itself refuses an overdrawn allocation, whatever the code does.
        sa.CheckConstraint(
            "held_core_seconds + charged_core_seconds <= granted_core_seconds"
            " AND held_gpu_seconds + charged_gpu_seconds <= granted_gpu_seconds",
            name="not_overdrawn",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    period_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("allocation_periods.id", ondelete="CASCADE"))
    granted_core_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    granted_gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    held_core_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    held_gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    charged_core_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    charged_gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    """One append-only change to an allocation's totals (signs: see the module docstring).

    ``job_id`` is a gateway job (not a foreign key: the ledger outlives job rows and never
    waits on them); ``slurm_job_id`` is set only for jobs charged by the outside-gateway sweep.
    Unique keys make retries no-ops: one entry per (job, kind) for gateway jobs, one per
    (allocation, Slurm job id, kind) for outside jobs. NULLs never collide, so grants and
    admin adjustments (both ids NULL) are unconstrained.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "kind"),
        # Partial: gateway entries (slurm_job_id NULL) would only bloat it.
        sa.Index(
            "uq_ledger_entries_allocation_id_slurm_job_id_kind",
            "allocation_id",
            "slurm_job_id",
            "kind",
            unique=True,
            postgresql_where=sa.text("slurm_job_id IS NOT NULL"),
            sqlite_where=sa.text("slurm_job_id IS NOT NULL"),
        ),
        # History pages, newest first (keyset on id).
        sa.Index("ix_ledger_entries_allocation_id_id", "allocation_id", "id"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    allocation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("allocations.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID | None]
    slurm_job_id: Mapped[str | None] = mapped_column(sa.String(64))
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, length=16))
    core_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    gpu_seconds: Mapped[int] = mapped_column(sa.BigInteger)
    author: Mapped[str] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime]
