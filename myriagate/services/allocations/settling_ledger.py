"""The ledger settlement works with: the Ledger port plus bulk closing and outside charges."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol
from uuid import UUID

from sqlalchemy.orm import Session

from myriagate.db.settlement import Closed, Hold, SettleItem
from myriagate.domain.costs import Cost
from myriagate.ports import Ledger


class SettlingLedger(Ledger, Protocol):
    """The Ledger port plus the charge of a job submitted outside the gateway."""

    def charge_outside(self, allocation_id: UUID, slurm_job_id: str, actual: Cost) -> bool: ...

    def close_many(
        self,
        settle: Iterable[SettleItem],
        *,
        release: Iterable[UUID] = (),
        holds: Mapping[UUID, Hold] | None = None,
    ) -> Closed: ...

    def release_many(self, job_ids: Iterable[UUID]) -> int: ...


LedgerFactory = Callable[[Session], SettlingLedger]
