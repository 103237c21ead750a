"""The balance watch: a periodic worker step that queues allocation notifications.

It reads the maintained totals of every allocation of a running period (no ledger code is
touched) and compares them with what it saw last time (``balance_watch`` rows):

- the remaining share drops under 20 %, 10 % or to nothing (``domain.notifications.balance_level``,
  the scarcer of core- and GPU-time decides): one notification for the lowest level reached, and
  each level only once until the grant changes (a hold released and taken again does not
  re-send it);
- the grant changed (a grant, a top-up, an admin adjustment): one "grant changed" notification with
  the ledger entries that did it. The ledger's own ``overrun`` adjustments are not news and
  are skipped. An allocation first seen by the watch counts as granted only when it was
  created within ``NEW_ALLOCATION_WINDOW`` (no flood of old grants on the first run).

Recipients are the project's leads (services.notifications.outbox). Several workers may run it: a lease
makes one of them do it per round, and the outbox's unique keys make a repeat harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.allocations import Allocation, AllocationPeriod, LedgerEntry
from myriagate.db.models.notifications import BalanceWatch
from myriagate.db.models.users import Project
from myriagate.db.repos import notifications as repo
from myriagate.domain.notifications import LEVEL_NONE, LEVELS, NotificationKind, balance_level
from myriagate.ports import LEDGER_AUTHOR, Clock
from myriagate.services.common.leases import Lease
from myriagate.services.notifications import outbox

log = structlog.get_logger(__name__)
# The lease row's name is shared with running workers of earlier releases: keep it as is.
LEASE = "notices:balance-watch"
LEASE_TTL = timedelta(minutes=5)
NEW_ALLOCATION_WINDOW = timedelta(days=1)


@dataclass
class WatchResult:
    allocations: int = 0
    level_notifications: int = 0
    grant_notifications: int = 0


def run(session_factory: sessionmaker[Session], *, clock: Clock, holder: str) -> WatchResult | None:
    """One round under the lease (None when another worker holds it)."""
    with session_factory() as session:
        if not Lease(LEASE, holder, LEASE_TTL, clock).acquire(session):
            return None
        result = check(session, clock=clock)
        session.commit()
        return result


def check(session: Session, *, clock: Clock) -> WatchResult:
    """Compare every current allocation with the last round and queue notifications (not committed)."""
    now = clock.now()
    result = WatchResult()
    for allocation, project, period, watch in repo.current_allocations(session, now):
        result.allocations += 1
        granted = (allocation.granted_core_seconds, allocation.granted_gpu_seconds)
        if watch is None:
            watch = _new_watch(allocation.id, now)
            session.add(watch)
            if allocation.created_at < now - NEW_ALLOCATION_WINDOW:
                # Old news: start from what is there, as if already seen.
                watch.granted_core_seconds, watch.granted_gpu_seconds = granted
                watch.last_entry_id = _last_id(repo.grant_entries(session, allocation.id, after_id=0))
        previous = (watch.granted_core_seconds, watch.granted_gpu_seconds)
        if granted != previous:
            entries = repo.grant_entries(session, allocation.id, after_id=watch.last_entry_id)
            watch.last_entry_id = max(watch.last_entry_id, _last_id(entries))
            watch.granted_core_seconds, watch.granted_gpu_seconds = granted
            people = [e for e in entries if e.author != LEDGER_AUTHOR]
            if people:  # an overrun cover alone is bookkeeping, not a grant
                watch.grant_version += 1
                watch.level = LEVEL_NONE
                payload = _payload(allocation, project, period) | {
                    "previous_core_seconds": previous[0],
                    "previous_gpu_seconds": previous[1],
                    "changes": [_change(e) for e in people],
                }
                key = f"grant:{allocation.id}:{watch.grant_version}"
                result.grant_notifications += _queue(
                    session, NotificationKind.GRANT_CHANGED, key, payload, project, now
                )
        level = balance_level(granted, _remaining(allocation))
        if level < watch.level:
            kind = LEVELS[level]
            key = f"balance:{allocation.id}:{watch.grant_version}:{level}"
            payload = _payload(allocation, project, period) | {"level": level}
            result.level_notifications += _queue(session, kind, key, payload, project, now)
            watch.level = level
        watch.checked_at = now
    session.flush()  # the next round (maybe before a commit) must see these rows
    if result.level_notifications or result.grant_notifications:
        log.info("balance_watch.queued", levels=result.level_notifications, grants=result.grant_notifications)
    return result


def _new_watch(allocation_id: uuid.UUID, now: datetime) -> BalanceWatch:
    return BalanceWatch(
        allocation_id=allocation_id,
        level=LEVEL_NONE,
        granted_core_seconds=0,
        granted_gpu_seconds=0,
        grant_version=0,
        last_entry_id=0,
        checked_at=now,
    )


def _queue(
    session: Session,
    kind: NotificationKind,
    key: str,
    payload: dict[str, Any],
    project: Project,
    now: datetime,
) -> int:
    leads = repo.project_leads(session, project)
    outbox.queue(session, kind=kind, event_key=key, payload=payload, recipients=leads, at=now)
    return 1


def _remaining(allocation: Allocation) -> tuple[int, int]:
    used_core = allocation.held_core_seconds + allocation.charged_core_seconds
    used_gpu = allocation.held_gpu_seconds + allocation.charged_gpu_seconds
    return (
        max(0, allocation.granted_core_seconds - used_core),
        max(0, allocation.granted_gpu_seconds - used_gpu),
    )


def _payload(allocation: Allocation, project: Project, period: AllocationPeriod) -> dict[str, Any]:
    core_left, gpu_left = _remaining(allocation)
    return {
        "allocation_id": str(allocation.id),
        "cluster": project.cluster,
        "slurm_account": project.slurm_account,
        "project": project.name,
        "period": period.name,
        "granted_core_seconds": allocation.granted_core_seconds,
        "remaining_core_seconds": core_left,
        "granted_gpu_seconds": allocation.granted_gpu_seconds,
        "remaining_gpu_seconds": gpu_left,
    }


def _change(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "core_seconds": entry.core_seconds,
        "gpu_seconds": entry.gpu_seconds,
        "author": entry.author,
        "reason": entry.reason,
        "at": entry.at.isoformat(),
    }


def _last_id(entries: list[LedgerEntry]) -> int:
    return max((e.id for e in entries), default=0)
