"""Closing many holds at once: a few set-based statements for thousands of finished jobs.

Used by ``SqlLedger.settle``/``settle_many``/``release_many``/``close_many``, hence by the
worker's settlement step (``services.allocations.settlement``) and by ``bench/ledger.py``. Per job:

- **settled** (it ran): its hold leaves ``held`` (unless it was released before), ``actual``
  is added to ``charged`` and recorded as one ``charge`` entry, which also closes the hold; if
  ``actual`` is more than what was left, an ``overrun`` adjustment raises ``granted`` by the
  difference, so the allocation ends at zero and never below (see myriagate.db.ledger);
- **released** (it never ran): its whole hold leaves ``held``, recorded as one ``release``.

One entry per job, not a charge plus a release: writing ledger rows is what settling costs,
and the charge already says that the hold is over.

Statements per call, whatever the number of jobs (SQLite: per 900 ids): read the holds; lock
the allocations and read their totals (one statement, rows locked in id order so two workers
never deadlock); read the entries that already closed these holds (under the locks, so a
second worker settling the same jobs waits and then finds them closed); insert the new
entries; write the totals. The entries' unique (job, kind) keys are the backstop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.domain.costs import Cost

log = structlog.get_logger(__name__)

ALLOCATIONS = cast(sa.Table, Allocation.__table__)
ENTRIES = cast(sa.Table, LedgerEntry.__table__)
CHUNK = 900  # ids per IN (...) list on SQLite: under its parameter limit
_TOTALS = tuple(f"{p}_{r}_seconds" for p in ("granted", "held", "charged") for r in ("core", "gpu"))
_HOLD, _RELEASE, _CHARGE = EntryKind.HOLD.value, EntryKind.RELEASE.value, EntryKind.CHARGE.value
_COLUMNS = ("allocation_id", "job_id", "kind", "core_seconds", "gpu_seconds", "author", "reason")
# The entries to insert, column by column (one list per _COLUMNS name, in that order): SQL
# parameters of several types (UUIDs, strings, integers), only passed on.
_EntryColumns = dict[str, list[object]]
_T = TypeVar("_T")


class Hold(NamedTuple):
    """A job's hold entry: the allocation it was taken from and how much."""

    allocation_id: uuid.UUID
    core_seconds: int
    gpu_seconds: int


@dataclass(frozen=True, slots=True)  # slots: one object per job, not two (a dict)
class SettleItem:
    """A finished gateway job and what it really cost (from sacct)."""

    job_id: uuid.UUID
    actual: Cost
    # The charge entry's reason: where the cost came from (services.allocations.charging.Charge).
    reason: str = "used"


@dataclass(frozen=True)
class Closed:
    """How many holds one call closed: charged (settled) and given back (released)."""

    settled: int = 0
    released: int = 0


def close_batch(
    session: Session,
    items: Sequence[SettleItem],
    *,
    release: Sequence[uuid.UUID] = (),
    holds: Mapping[uuid.UUID, Hold] | None = None,
    now: datetime,
    author: str,
    insert_stmt: Callable[[], sa.Executable],
) -> Closed:
    """Settle ``items`` and release ``release`` in the caller's transaction; retries of either
    change nothing. A job in both is settled (what it used is known).

    ``holds``: the jobs' hold entries when the caller has read them already (the worker
    finds the open holds with them); an entry is written once and never changes, so they
    need no second look. Whether a hold is still open is always read here, under the locks.
    """
    actual_of: dict[uuid.UUID, Cost | None] = {}
    reasons: dict[uuid.UUID, str] = {}
    for item in items:
        actual_of.setdefault(item.job_id, item.actual)
        reasons.setdefault(item.job_id, item.reason)
    for job_id in release:
        actual_of.setdefault(job_id, None)
    if not actual_of:
        return Closed()
    postgres = session.get_bind().dialect.name == "postgresql"
    if holds is None:
        holds = _holds(session, list(actual_of), postgres)
    else:
        holds = {job_id: holds[job_id] for job_id in actual_of if job_id in holds}
    if len(holds) < len(actual_of):
        log.info("ledger.close_without_hold", jobs=len(actual_of) - len(holds))
    if not holds:
        return Closed()
    totals = _lock_and_read(session, sorted({h[0] for h in holds.values()}, key=str), postgres)
    closed = _closed(session, list(holds), postgres)

    rows: _EntryColumns = {name: [] for name in _COLUMNS}
    settled, released = _entries(rows, holds, actual_of, closed, totals, author, reasons)
    if not (settled or released):
        return Closed()

    count = len(rows["job_id"])
    inserted = (
        _insert_arrays(session, rows, now) if postgres else _insert_rows(session, rows, now, insert_stmt)
    )
    if inserted != count:
        # Impossible while every writer of these entries locks the allocation first.
        raise RuntimeError(f"ledger: {count - inserted} settlement entries already existed")
    _write_totals(session, totals, postgres)
    return Closed(settled=settled, released=released)


def _entries(
    rows: _EntryColumns,
    holds: Mapping[uuid.UUID, Hold],
    actual_of: Mapping[uuid.UUID, Cost | None],
    closed: Mapping[uuid.UUID, list[str]],
    totals: dict[uuid.UUID, dict[str, int]],
    author: str,
    reasons: Mapping[uuid.UUID, str],
) -> tuple[int, int]:
    """Append the release or charge entry of each job whose hold is still open to ``rows``,
    keeping ``totals`` up to date; returns (settled, released)."""
    settled = released = 0
    for job_id, (allocation_id, held_core, held_gpu) in holds.items():
        kinds = closed.get(job_id, ())
        if _CHARGE in kinds:
            continue  # settled before: a retry changes nothing
        actual = actual_of[job_id]
        t = totals[allocation_id]
        if actual is None:
            if _RELEASE in kinds:
                continue  # released before
            t["held_core_seconds"] -= held_core
            t["held_gpu_seconds"] -= held_gpu
            _append(rows, allocation_id, job_id, _RELEASE, held_core, held_gpu, author, "released")
            released += 1
            continue
        if _RELEASE not in kinds:
            t["held_core_seconds"] -= held_core
            t["held_gpu_seconds"] -= held_gpu
        _charge(rows, t, allocation_id, job_id, actual, author, reasons.get(job_id, "used"))
        settled += 1
    return settled, released


def _charge(
    rows: _EntryColumns,
    t: dict[str, int],
    allocation_id: uuid.UUID,
    job_id: uuid.UUID,
    actual: Cost,
    author: str,
    reason: str,
) -> None:
    """The charge entry of one job, after an ``overrun`` adjustment granting what it used
    beyond what was left (a job already ran: its use is charged, never refused)."""
    left_core = t["granted_core_seconds"] - t["held_core_seconds"] - t["charged_core_seconds"]
    left_gpu = t["granted_gpu_seconds"] - t["held_gpu_seconds"] - t["charged_gpu_seconds"]
    over_core, over_gpu = max(0, actual.core_seconds - left_core), max(0, actual.gpu_seconds - left_gpu)
    if over_core or over_gpu:
        t["granted_core_seconds"] += over_core
        t["granted_gpu_seconds"] += over_gpu
        _append(
            rows,
            allocation_id,
            job_id,
            EntryKind.ADJUSTMENT.value,
            over_core,
            over_gpu,
            "ledger",
            "overrun",
        )
        log.warning("ledger.overrun", job_id=str(job_id), core_seconds=over_core, gpu_seconds=over_gpu)
    t["charged_core_seconds"] += actual.core_seconds
    t["charged_gpu_seconds"] += actual.gpu_seconds
    _append(rows, allocation_id, job_id, _CHARGE, actual.core_seconds, actual.gpu_seconds, author, reason)


def settle_batch(
    session: Session,
    items: Sequence[SettleItem],
    *,
    now: datetime,
    author: str,
    insert_stmt: Callable[[], sa.Executable],
) -> int:
    """Settle ``items`` in the caller's transaction; returns how many were settled by this call."""
    return close_batch(session, items, now=now, author=author, insert_stmt=insert_stmt).settled


def _holds(session: Session, job_ids: list[uuid.UUID], postgres: bool) -> dict[uuid.UUID, Hold]:
    """The jobs' hold entries (written once at submit, never changed: no lock needed)."""
    if postgres:
        rows = _pg_select(session, _PG_HOLDS, job_ids)
        return {job: Hold(alloc, core, gpu) for job, alloc, core, gpu in rows}
    e = ENTRIES.c
    out: dict[uuid.UUID, Hold] = {}
    for chunk in _chunks(job_ids):
        stmt = sa.select(e.job_id, e.allocation_id, e.core_seconds, e.gpu_seconds).where(
            e.kind == _HOLD, e.job_id.in_(chunk)
        )
        out.update((job, Hold(alloc, core, gpu)) for job, alloc, core, gpu in session.execute(stmt))
    return out


def _closed(session: Session, job_ids: list[uuid.UUID], postgres: bool) -> dict[uuid.UUID, list[str]]:
    """The release and charge entries the jobs already have (read under the allocation locks)."""
    found: list[tuple[Any, ...]] = []
    if postgres:
        found = _pg_select(session, _PG_CLOSED, job_ids)
    else:
        e = ENTRIES.c
        for chunk in _chunks(job_ids):
            stmt = sa.select(e.job_id, e.kind).where(e.kind.in_((_RELEASE, _CHARGE)), e.job_id.in_(chunk))
            found += [tuple(row) for row in session.execute(stmt)]
    out: dict[uuid.UUID, list[str]] = {}
    for job, kind in found:
        out.setdefault(job, []).append(str(kind))
    return out


def _lock_and_read(
    session: Session, allocation_ids: list[uuid.UUID], postgres: bool
) -> dict[uuid.UUID, dict[str, int]]:
    """Lock the allocation rows and read their totals: one statement, not one per row.

    PostgreSQL: ``SELECT … ORDER BY id FOR UPDATE`` takes the row locks in id order, so two
    workers closing overlapping sets wait for each other instead of deadlocking. SQLite: a
    no-op UPDATE takes the database's single write lock (writers take turns anyway).
    """
    if postgres:
        found = _pg_select(session, _PG_LOCK, allocation_ids)
        return {row[0]: dict(zip(_TOTALS, map(int, row[1:]), strict=True)) for row in found}
    a = ALLOCATIONS.c
    totals: dict[uuid.UUID, dict[str, int]] = {}
    for chunk in _chunks(allocation_ids):
        lock = (
            sa.update(ALLOCATIONS)
            .where(a.id.in_(chunk))
            .values(held_core_seconds=a.held_core_seconds)
            .returning(a.id, *(a[name] for name in _TOTALS))
        )
        for row in session.execute(lock):
            totals[row[0]] = dict(zip(_TOTALS, map(int, row[1:]), strict=True))
    return totals


def _write_totals(session: Session, totals: dict[uuid.UUID, dict[str, int]], postgres: bool) -> None:
    if postgres:  # every allocation in one statement
        columns = {name: [t[name] for t in totals.values()] for name in _TOTALS}
        _pg_execute(session, _PG_TOTALS, {"ids": list(totals), **columns})
        return
    a = ALLOCATIONS.c
    for allocation_id, values in totals.items():
        session.execute(sa.update(ALLOCATIONS).where(a.id == allocation_id).values(**values))


def _append(rows: _EntryColumns, *values: object) -> None:
    # dicts keep insertion order: rows has one list per _COLUMNS name, in that order.
    for column, value in zip(rows.values(), values, strict=True):
        column.append(value)


def _insert_rows(
    session: Session, rows: _EntryColumns, now: datetime, insert_stmt: Callable[[], sa.Executable]
) -> int:
    records = [
        dict(zip(_COLUMNS, values, strict=True)) | {"at": now} for values in zip(*rows.values(), strict=True)
    ]
    inserted = 0
    for start in range(0, len(records), CHUNK):
        inserted += len(session.execute(insert_stmt(), records[start : start + CHUNK]).all())
    return inserted


_UNNEST_INSERT = """
    INSERT INTO ledger_entries
        (allocation_id, job_id, slurm_job_id, kind, core_seconds, gpu_seconds, author, reason, at)
    SELECT allocation_id, job_id, NULL, kind, core_seconds, gpu_seconds, author, reason, %(at)s
    FROM unnest(%(allocation_id)s::uuid[], %(job_id)s::uuid[], %(kind)s::varchar[],
                %(core_seconds)s::bigint[], %(gpu_seconds)s::bigint[],
                %(author)s::varchar[], %(reason)s::text[])
        AS t(allocation_id, job_id, kind, core_seconds, gpu_seconds, author, reason)
"""
# Plain INSERT, not ON CONFLICT DO NOTHING (which costs PostgreSQL half as much again): the
# entries were checked under the allocation locks, and were one there after all, its unique
# key would abort the transaction, so nothing can be counted twice.
_PG_HOLDS = (
    "SELECT job_id, allocation_id, core_seconds, gpu_seconds FROM ledger_entries"
    " WHERE kind = 'hold' AND job_id = ANY(%(ids)s::uuid[])"
)
_PG_LOCK = """
    SELECT id, granted_core_seconds, granted_gpu_seconds, held_core_seconds, held_gpu_seconds,
           charged_core_seconds, charged_gpu_seconds
    FROM allocations WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR UPDATE
"""
_PG_CLOSED = (
    "SELECT job_id, kind FROM ledger_entries"
    " WHERE kind IN ('release', 'charge') AND job_id = ANY(%(ids)s::uuid[])"
)


_PG_TOTALS = """
    UPDATE allocations AS a SET
        granted_core_seconds = t.gc, granted_gpu_seconds = t.gg, held_core_seconds = t.hc,
        held_gpu_seconds = t.hg, charged_core_seconds = t.cc, charged_gpu_seconds = t.cg
    FROM unnest(%(ids)s::uuid[], %(granted_core_seconds)s::bigint[], %(granted_gpu_seconds)s::bigint[],
                %(held_core_seconds)s::bigint[], %(held_gpu_seconds)s::bigint[],
                %(charged_core_seconds)s::bigint[], %(charged_gpu_seconds)s::bigint[])
        AS t(id, gc, gg, hc, hg, cc, cg)
    WHERE a.id = t.id
"""


def _pg_select(session: Session, sql: str, job_ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    # Rows of psycopg's own cursor (the raw driver connection), which SQLAlchemy does not type.
    driver = session.connection().connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, {"ids": job_ids})
        return list(cursor.fetchall())


def _pg_execute(session: Session, sql: str, params: Mapping[str, object]) -> int:
    driver = session.connection().connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _insert_arrays(session: Session, rows: _EntryColumns, now: datetime) -> int:
    """All rows in one statement of array parameters, sent in binary (PostgreSQL only).

    The PostgreSQL statements here go straight to psycopg on the session's own connection (the
    same transaction): through SQLAlchemy the arrays would travel as text and each value be
    converted twice, which costs more than the insert itself.
    """
    return _pg_execute(session, _UNNEST_INSERT, {**rows, "at": now})


def _chunks(values: list[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
