"""The ledger's statements that differ by database, and the institution quota check.

``SqlLedger`` (``db/ledger.py``) runs them inside the caller's transaction; each keyed entry
is written with ``ON CONFLICT DO NOTHING RETURNING id``, so a retry finds its entry and the
transaction stays usable (no IntegrityError).
"""

from __future__ import annotations

import functools
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, InstitutionQuota, LedgerEntry
from myriagate.db.models.users import Project
from myriagate.db.repos import allocations as allocations_repo
from myriagate.domain.costs import Cost
from myriagate.errors import Conflict, Hours, Text, joined

ALLOCATIONS = cast(sa.Table, Allocation.__table__)
ENTRIES = cast(sa.Table, LedgerEntry.__table__)
_HOLD_COLUMNS = ["allocation_id", "job_id", "kind", "core_seconds", "gpu_seconds", "author", "reason", "at"]


def insert_entry_stmt(dialect: str) -> sa.Executable:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` on SQLite and PostgreSQL."""
    if dialect == "postgresql":
        return postgresql.insert(ENTRIES).on_conflict_do_nothing().returning(ENTRIES.c.id)
    if dialect == "sqlite":
        return sqlite.insert(ENTRIES).on_conflict_do_nothing().returning(ENTRIES.c.id)
    raise NotImplementedError(f"the ledger is not implemented for {dialect}")


@functools.cache
def insert_hold_stmt(dialect: str) -> sa.Executable:
    """A job's hold entry as ``INSERT … SELECT … FROM allocations ON CONFLICT DO NOTHING
    RETURNING id``: an unknown allocation inserts nothing instead of breaking the foreign key
    (and the transaction), and an existing hold is left as it is.

    Parameters: ``allocation_id``, ``job_id``, ``core_seconds``, ``gpu_seconds``, ``author``,
    ``at``. Built once per database: every submission runs it.
    """
    a, e = ALLOCATIONS.c, ENTRIES.c
    values = sa.select(
        a.id,
        sa.bindparam("job_id", type_=e.job_id.type),
        sa.literal(EntryKind.HOLD.value, e.kind.type),
        sa.bindparam("core_seconds", type_=e.core_seconds.type),
        sa.bindparam("gpu_seconds", type_=e.gpu_seconds.type),
        sa.bindparam("author", type_=e.author.type),
        sa.literal("submitted", e.reason.type),
        sa.bindparam("at", type_=e.at.type),
    ).where(a.id == sa.bindparam("allocation_id", type_=a.id.type))
    if dialect == "postgresql":
        pg = postgresql.insert(ENTRIES).from_select(_HOLD_COLUMNS, values).on_conflict_do_nothing()
        return pg.returning(ENTRIES.c.id)
    if dialect == "sqlite":
        lite = sqlite.insert(ENTRIES).from_select(_HOLD_COLUMNS, values).on_conflict_do_nothing()
        return lite.returning(ENTRIES.c.id)
    raise NotImplementedError(f"the ledger is not implemented for {dialect}")


def _hold_update() -> sa.Update:
    """The hold's conditional ``UPDATE allocations SET held = held + :amount WHERE id = :id
    AND granted - held - charged >= :amount`` (checked by rowcount). Parameters:
    ``allocation_id``, ``core_seconds``, ``gpu_seconds``."""
    a = ALLOCATIONS.c
    core = sa.bindparam("core_seconds", type_=a.held_core_seconds.type)
    gpu = sa.bindparam("gpu_seconds", type_=a.held_gpu_seconds.type)
    return (
        sa.update(ALLOCATIONS)
        .where(
            a.id == sa.bindparam("allocation_id", type_=a.id.type),
            a.granted_core_seconds - a.held_core_seconds - a.charged_core_seconds >= core,
            a.granted_gpu_seconds - a.held_gpu_seconds - a.charged_gpu_seconds >= gpu,
        )
        .values(held_core_seconds=a.held_core_seconds + core, held_gpu_seconds=a.held_gpu_seconds + gpu)
    )


HOLD_UPDATE = _hold_update()  # built once: every submission runs it


def check_quota(session: Session, allocation: Allocation, core: int, gpu: int) -> None:
    """Refuse an increase that would take the institution past its quota for the period.

    The quota row is locked first (a no-op UPDATE), so two admins granting at once take turns.
    """
    project = session.get(Project, allocation.project_id)
    assert project is not None  # a foreign key
    quotas = cast(sa.Table, InstitutionQuota.__table__)
    q = quotas.c
    mine = sa.and_(q.institution == project.institution, q.period_id == allocation.period_id)
    locked = session.execute(sa.update(quotas).where(mine).values(core_seconds=q.core_seconds))
    if locked.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"{project.institution} has no quota for this period: a platform admin sets it first")
    row = session.execute(sa.select(q.core_seconds, q.gpu_seconds).where(mine)).one()
    quota = Cost(row.core_seconds, row.gpu_seconds)
    total = allocations_repo.granted_total(session, project.institution, allocation.period_id)
    # Only what the change adds is checked: an overrun adjustment may already have taken one
    # resource past its quota (a job given GPUs it did not ask for), and that must not block
    # grants of the other.
    left = quota.minus_floor_zero(total)
    over: list[str] = []
    if core > 0 and core > left.core_seconds:
        over.append(Text("%(hours)s CPU-hours", hours=Hours(left.core_seconds)))
    if gpu > 0 and gpu > left.gpu_seconds:
        over.append(Text("%(hours)s GPU-hours", hours=Hours(left.gpu_seconds)))
    if over:
        raise Conflict(
            Text(
                "this would exceed the quota of %(institution)s: only %(left)s left to grant",
                institution=project.institution,
                left=joined(over, " + "),
            )
        )
