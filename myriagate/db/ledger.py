"""``SqlLedger``: the hold-and-settle ledger on SQLite and PostgreSQL (ports.AdminLedger).

Only the composition root (``myriagate.wiring``) constructs it; services receive it as a
``ports.LedgerFactory`` (or the settling ledger of ``services.allocations.settling_ledger``).

It works **inside the caller's transaction** and never commits, so ``submit`` holds in the
same transaction as it inserts the job row, and the worker settles a job and marks it
settled atomically. Safety comes from the database, not from Python:

- A hold is one conditional ``UPDATE allocations SET held = held + :amount WHERE id = :id AND
  granted - held - charged >= :amount`` checked by rowcount. On PostgreSQL a concurrent
  UPDATE waits for the row lock and re-checks the condition; on SQLite writers take turns.
- Every job entry has a unique key (job_id, kind) — or (allocation, slurm_job_id, kind) for
  jobs run outside the gateway — and is written with ``ON CONFLICT DO NOTHING RETURNING``:
  a retry finds its entry and changes nothing. (No IntegrityError is raised, so the caller's
  transaction stays usable without a SAVEPOINT.) Bulk settlement (``close_many``, what the
  worker uses) checks the entries under the allocation locks and then inserts them in one
  statement (myriagate.db.settlement).
- Settling and releasing first lock the allocation row (a no-op UPDATE, which locks on both
  databases), then read, compute and write: two workers settling one job take turns and the
  second sees the first's entries.

Overrun: a job may use more than it held (Slurm allocated whole nodes, a requeue ran it
twice). It is charged what sacct reports, so balances match what the cluster delivered; the
part beyond what was left is covered by an automatic ``adjustment`` (reason ``overrun``,
author ``ledger``) that raises ``granted`` by that much. The allocation ends at zero, never
below, and the overrun stays visible in the history. Entry signs: see models/allocations.py.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.ledger_statements import HOLD_UPDATE, check_quota, insert_entry_stmt, insert_hold_stmt
from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.settlement import Closed, Hold, SettleItem, close_batch
from myriagate.domain.costs import Cost
from myriagate.errors import Conflict, Hours, InsufficientAllocation, InvalidRequest, NotFound, Text
from myriagate.ports import LEDGER_AUTHOR, Balance, Clock, LedgerPage

log = structlog.get_logger(__name__)

ALLOCATIONS = cast(sa.Table, Allocation.__table__)
ENTRIES = cast(sa.Table, LedgerEntry.__table__)
# One operation may move at most 10^12 hours: far beyond any machine, far below BigInteger.
MAX_SECONDS = 3600 * 10**12
# A hold is open until one of these entries exists for its job.
_CLOSING = (EntryKind.RELEASE.value, EntryKind.CHARGE.value)


def _below_used(remaining: int, used: int, *, gpu: bool) -> Conflict:
    """A correction past what is held and charged, refused with the most that can be taken back,
    rounded down to the figure people are shown (so typing it back is accepted)."""
    room = remaining - remaining % (3600 if remaining >= 360_000 else 36)
    if gpu:
        return Conflict(
            Text(
                "the grant cannot go below what is already held and charged (%(used)s GPU-hours): "
                "at most %(room)s GPU-hours can be taken back",
                used=Hours(used),
                room=Hours(room),
            )
        )
    return Conflict(
        Text(
            "the grant cannot go below what is already held and charged (%(used)s CPU-hours): "
            "at most %(room)s CPU-hours can be taken back",
            used=Hours(used),
            room=Hours(room),
        )
    )


@dataclass(frozen=True)
class OpenHold:
    job_id: uuid.UUID
    allocation_id: uuid.UUID
    amount: Cost
    at: datetime


class SqlLedger:
    """ports.AdminLedger on the caller's ``Session``; the caller commits (or rolls back)."""

    def __init__(self, session: Session, *, clock: Clock | None = None, author: str = "gateway") -> None:
        self.session = session
        self._clock = clock
        self.author = author

    # --- ports.Ledger ------------------------------------------------------------------
    def hold(self, *, allocation_id: uuid.UUID, job_id: uuid.UUID, amount: Cost) -> None:
        """Reserve ``amount`` for the job; raises InsufficientAllocation when it does not fit.

        A retry of the same job's hold changes nothing, even on a spent allocation. The entry
        is written first and the conditional UPDATE last: the UPDATE locks the allocation row
        until the caller commits, and every hold on the project waits for it, so nothing but
        the commit comes after it (one reply for this thread to wake up to, not two).
        """
        _check_size(amount)
        if not self._insert_hold(allocation_id=allocation_id, job_id=job_id, amount=amount):
            if self._entry(job_id, EntryKind.HOLD) is not None:
                return  # a retry of a hold that went through: the money is already reserved
            raise NotFound(Text("no allocation %(allocation)s", allocation=allocation_id))
        amounts = {"core_seconds": amount.core_seconds, "gpu_seconds": amount.gpu_seconds}
        fits = self.session.execute(HOLD_UPDATE, {"allocation_id": allocation_id, **amounts})
        # rowcount is read at once: some drivers (psycopg) reset it with the cursor.
        if fits.rowcount != 1:  # type: ignore[attr-defined]
            # Nothing is left written: the entry just inserted goes again.
            e = ENTRIES.c
            self.session.execute(sa.delete(ENTRIES).where(e.job_id == job_id, e.kind == EntryKind.HOLD.value))
            balance = self.balance(allocation_id)
            raise InsufficientAllocation(
                f"the job needs {_fmt(amount)} but only {_fmt(balance.remaining)} is left"
            )
        log.info("ledger.hold", allocation_id=str(allocation_id), job_id=str(job_id), amount=_fmt(amount))

    def settle(self, *, job_id: uuid.UUID, actual: Cost) -> None:
        """Charge ``actual`` (from sacct) and give back the job's hold; a retry is a no-op."""
        if self._entry(job_id, EntryKind.HOLD) is None:
            raise NotFound(Text("job %(job)s holds nothing: there is nothing to settle", job=job_id))
        self.settle_many([SettleItem(job_id, actual)])

    def release(self, *, job_id: uuid.UUID) -> None:
        """Give the whole hold back (the job never ran or vanished); idempotent."""
        hold = self._entry(job_id, EntryKind.HOLD)
        if hold is None:
            return
        self._lock(hold.allocation_id)  # then a concurrent settle of this job is seen, or waits
        if self._entry(job_id, EntryKind.CHARGE) is not None:
            return  # settled: its charge closed the hold
        amount = Cost(hold.core_seconds, hold.gpu_seconds)
        if self._insert_once(
            allocation_id=hold.allocation_id,
            job_id=job_id,
            kind=EntryKind.RELEASE,
            amount=amount,
            reason="released",
        ):
            self._move(hold.allocation_id, held=_neg(amount))
            log.info("ledger.release", job_id=str(job_id), amount=_fmt(amount))

    def balance(self, allocation_id: uuid.UUID) -> Balance:
        """The maintained totals: one primary-key read, whatever the length of the history."""
        a = ALLOCATIONS.c
        row = self.session.execute(sa.select(ALLOCATIONS).where(a.id == allocation_id)).one_or_none()
        if row is None:
            raise NotFound(Text("no allocation %(allocation)s", allocation=allocation_id))
        return Balance(
            allocation_id=allocation_id,
            granted=Cost(row.granted_core_seconds, row.granted_gpu_seconds),
            held=Cost(row.held_core_seconds, row.held_gpu_seconds),
            charged=Cost(row.charged_core_seconds, row.charged_gpu_seconds),
        )

    # --- beyond the port ---------------------------------------------------------------
    def settle_many(self, items: Iterable[SettleItem]) -> int:
        """Settle many finished jobs in a few statements; returns how many were settled now.

        Jobs without a hold are skipped (logged); already settled ones are no-ops.
        """
        return self.close_many(items).settled

    def release_many(self, job_ids: Iterable[uuid.UUID]) -> int:
        """Give back the whole hold of many jobs that never ran; returns how many now."""
        return self.close_many((), release=job_ids).released

    def close_many(
        self,
        settle: Iterable[SettleItem],
        *,
        release: Iterable[uuid.UUID] = (),
        holds: Mapping[uuid.UUID, Hold] | None = None,
    ) -> Closed:
        """Settle some finished jobs and release others, in a few statements for all of them
        (myriagate.db.settlement); what was closed before is left as it is. ``holds``: their
        hold entries, when the caller read them already."""
        return close_batch(
            self.session,
            list(settle),
            release=list(release),
            holds=holds,
            now=self._now(),
            author=self.author,
            insert_stmt=self._insert_stmt,
        )

    def grant(
        self, allocation_id: uuid.UUID, amount: Cost, *, author: str, reason: str, enforce_quota: bool = True
    ) -> Balance:
        """Add ``amount`` to the grant, within the institution's quota for the period."""
        if amount.is_zero:
            raise InvalidRequest(Text("a grant must be more than zero"))
        return self._change_grant(
            allocation_id,
            amount.core_seconds,
            amount.gpu_seconds,
            EntryKind.GRANT,
            author,
            reason,
            enforce_quota,
        )

    def adjust(
        self,
        allocation_id: uuid.UUID,
        *,
        core_seconds: int,
        gpu_seconds: int,
        author: str,
        reason: str,
        enforce_quota: bool = True,
    ) -> Balance:
        """Correct the grant by a signed amount; never below what is held and charged."""
        for value in (core_seconds, gpu_seconds):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(
                    Text("an adjustment is a whole number of seconds, not %(value)s", value=repr(value))
                )
        if core_seconds == 0 and gpu_seconds == 0:
            raise InvalidRequest(Text("an adjustment must change something"))
        if not reason.strip():
            raise InvalidRequest(Text("an adjustment needs a reason"))
        _check_size(Cost(abs(core_seconds), abs(gpu_seconds)))
        return self._change_grant(
            allocation_id, core_seconds, gpu_seconds, EntryKind.ADJUSTMENT, author, reason, enforce_quota
        )

    def charge_outside(self, allocation_id: uuid.UUID, slurm_job_id: str, actual: Cost) -> bool:
        """Charge a job run outside the gateway, once per Slurm job id; True when charged now."""
        _check_size(actual)
        self._lock(allocation_id)
        balance = self.balance(allocation_id)
        overrun = actual.minus_floor_zero(balance.remaining)
        insert = functools.partial(self._insert_once, allocation_id=allocation_id, slurm_job_id=slurm_job_id)
        if not insert(kind=EntryKind.CHARGE, amount=actual, reason="outside the gateway"):
            return False
        if not overrun.is_zero:
            insert(kind=EntryKind.ADJUSTMENT, amount=overrun, reason="overrun", author=LEDGER_AUTHOR)
        self._move(allocation_id, granted=overrun, charged=actual)
        log.info("ledger.charge_outside", allocation_id=str(allocation_id), slurm_job_id=slurm_job_id)
        return True

    def hold_of(self, job_id: uuid.UUID) -> Cost | None:
        """The job's hold while it is outstanding; None when it has none or it was settled."""
        hold = self._entry(job_id, EntryKind.HOLD)
        if hold is None or self._closed(job_id):
            return None
        return Cost(hold.core_seconds, hold.gpu_seconds)

    def allocation_of(self, job_id: uuid.UUID) -> uuid.UUID | None:
        """The allocation the job's hold was taken from, if any."""
        hold = self._entry(job_id, EntryKind.HOLD)
        return None if hold is None else hold.allocation_id

    def open_holds(self, *, before: datetime | None = None, limit: int = 1000) -> list[OpenHold]:
        """Holds not yet released or settled (oldest first): the vanished-job sweep's input."""
        h, c = ENTRIES.alias("h"), ENTRIES.alias("c")
        closing = sa.select(c.c.id).where(c.c.job_id == h.c.job_id, c.c.kind.in_(_CLOSING))
        stmt = (
            sa.select(h.c.job_id, h.c.allocation_id, h.c.core_seconds, h.c.gpu_seconds, h.c.at)
            .where(h.c.kind == EntryKind.HOLD.value, ~closing.exists())
            .order_by(h.c.id)
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(h.c.at < before)
        return [
            OpenHold(row.job_id, row.allocation_id, Cost(row.core_seconds, row.gpu_seconds), row.at)
            for row in self.session.execute(stmt)
        ]

    def entries(self, allocation_id: uuid.UUID, *, limit: int = 50, cursor: int | None = None) -> LedgerPage:
        """The allocation's history, newest first (keyset on id: page N costs what page 1 does)."""
        limit = max(1, min(limit, 500))
        stmt = sa.select(LedgerEntry).where(LedgerEntry.allocation_id == allocation_id)
        if cursor is not None:
            stmt = stmt.where(LedgerEntry.id < cursor)
        rows = list(self.session.scalars(stmt.order_by(LedgerEntry.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        items = rows[:limit]
        return LedgerPage(items, items[-1].id if more else None)

    # --- internals -----------------------------------------------------------------------
    def _now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)

    def _entry(self, job_id: uuid.UUID, kind: EntryKind) -> Hold | None:
        """The job's entry of ``kind``: its allocation and amounts (a job has one of each kind)."""
        e = ENTRIES.c
        stmt = sa.select(e.allocation_id, e.core_seconds, e.gpu_seconds).where(
            e.job_id == job_id, e.kind == kind.value
        )
        row = self.session.execute(stmt).one_or_none()
        return None if row is None else Hold(*row)

    def _closed(self, job_id: uuid.UUID) -> bool:
        """Whether the job's hold was released or closed by its charge."""
        e = ENTRIES.c
        stmt = sa.select(e.id).where(e.job_id == job_id, e.kind.in_(_CLOSING)).limit(1)
        return self.session.execute(stmt).first() is not None

    def _lock(self, allocation_id: uuid.UUID) -> None:
        """Lock the allocation row for this transaction (a no-op UPDATE locks on both databases)."""
        a = ALLOCATIONS.c
        done = self.session.execute(
            sa.update(ALLOCATIONS).where(a.id == allocation_id).values(held_core_seconds=a.held_core_seconds)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(Text("no allocation %(allocation)s", allocation=allocation_id))

    def _move(
        self,
        allocation_id: uuid.UUID,
        *,
        granted: Cost | tuple[int, int] | None = None,
        held: tuple[int, int] | None = None,
        charged: Cost | None = None,
    ) -> None:
        a = ALLOCATIONS.c
        values: dict[str, Any] = {}
        for prefix, delta in (("granted", granted), ("held", held), ("charged", charged)):
            if delta is None:
                continue
            core, gpu = (delta.core_seconds, delta.gpu_seconds) if isinstance(delta, Cost) else delta
            if core:
                values[f"{prefix}_core_seconds"] = a[f"{prefix}_core_seconds"] + core
            if gpu:
                values[f"{prefix}_gpu_seconds"] = a[f"{prefix}_gpu_seconds"] + gpu
        if values:
            self.session.execute(sa.update(ALLOCATIONS).where(a.id == allocation_id).values(**values))

    def _change_grant(
        self,
        allocation_id: uuid.UUID,
        core: int,
        gpu: int,
        kind: EntryKind,
        author: str,
        reason: str,
        enforce_quota: bool,
    ) -> Balance:
        self._lock(allocation_id)
        allocation = self.session.get(Allocation, allocation_id)
        assert allocation is not None  # _lock found it
        balance = self.balance(allocation_id)
        new_core, new_gpu = balance.granted.core_seconds + core, balance.granted.gpu_seconds + gpu
        used = balance.held + balance.charged
        if new_core < used.core_seconds:
            raise _below_used(balance.remaining.core_seconds, used.core_seconds, gpu=False)
        if new_gpu < used.gpu_seconds:
            raise _below_used(balance.remaining.gpu_seconds, used.gpu_seconds, gpu=True)
        if enforce_quota and (core > 0 or gpu > 0):
            check_quota(self.session, allocation, max(core, 0), max(gpu, 0))
        self.session.execute(
            ENTRIES.insert().values(
                allocation_id=allocation_id,
                kind=kind.value,
                core_seconds=core,
                gpu_seconds=gpu,
                author=author,
                reason=reason,
                at=self._now(),
            )
        )
        self._move(allocation_id, granted=(core, gpu))
        log.info(
            "ledger.grant",
            allocation_id=str(allocation_id),
            kind=kind.value,
            core=core,
            gpu=gpu,
            author=author,
        )
        return self.balance(allocation_id)

    def _insert_once(
        self,
        *,
        allocation_id: uuid.UUID,
        kind: EntryKind,
        amount: Cost,
        reason: str,
        job_id: uuid.UUID | None = None,
        slurm_job_id: str | None = None,
        author: str | None = None,
    ) -> bool:
        """Insert one keyed entry unless it exists; True when this call inserted it."""
        row = {
            "allocation_id": allocation_id,
            "job_id": job_id,
            "slurm_job_id": slurm_job_id,
            "kind": kind.value,
            "core_seconds": amount.core_seconds,
            "gpu_seconds": amount.gpu_seconds,
            "author": author or self.author,
            "reason": reason,
            "at": self._now(),
        }
        return self.session.execute(self._insert_stmt(), row).first() is not None

    def _insert_hold(self, *, allocation_id: uuid.UUID, job_id: uuid.UUID, amount: Cost) -> bool:
        """The job's hold entry, inserted unless it exists or the allocation does not; True
        when this call inserted it."""
        params = {"allocation_id": allocation_id, "job_id": job_id, "core_seconds": amount.core_seconds,
                  "gpu_seconds": amount.gpu_seconds, "author": self.author, "at": self._now()}  # fmt: skip
        return self.session.execute(insert_hold_stmt(self._dialect()), params).first() is not None

    def _insert_stmt(self) -> sa.Executable:
        return insert_entry_stmt(self._dialect())

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name


def _check_size(amount: Cost) -> None:
    if amount.core_seconds > MAX_SECONDS or amount.gpu_seconds > MAX_SECONDS:
        raise InvalidRequest(Text("an amount above 10^12 hours is not plausible"))


def _neg(amount: Cost) -> tuple[int, int]:
    return (-amount.core_seconds, -amount.gpu_seconds)


def _fmt(amount: Cost) -> str:
    return f"{amount.core_seconds} core-seconds and {amount.gpu_seconds} GPU-seconds"


__all__ = ["MAX_SECONDS", "Closed", "Hold", "LedgerPage", "OpenHold", "SettleItem", "SqlLedger"]
