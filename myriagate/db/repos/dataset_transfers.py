"""Statements on ``dataset_transfers``: the worker's queue and claims, a user's own transfers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.db.repos.leases import LeaseTable
from myriagate.domain.dataset_transfers import TransferState

# The claim on one transfer, taken and renewed through ``services.common.leases.Lease``.
TRANSFER_CLAIMS = LeaseTable(
    cast(sa.Table, DatasetTransfer.__table__), "id", "claimed_by", "claimed_until", create=False
)


def claimable(session: Session, cluster: str, now: datetime, limit: int = 20) -> list[uuid.UUID]:
    """Unfinished transfers of ``cluster`` with no live claim, oldest first."""
    stmt = (
        sa.select(DatasetTransfer.id)
        .where(
            DatasetTransfer.cluster == cluster,
            DatasetTransfer.state.in_([TransferState.QUEUED, TransferState.RUNNING]),
            sa.or_(DatasetTransfer.claimed_until.is_(None), DatasetTransfer.claimed_until < now),
        )
        .order_by(DatasetTransfer.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def own(session: Session, transfer_id: uuid.UUID, user_id: uuid.UUID) -> DatasetTransfer | None:
    """The transfer if ``user_id`` asked for it (anybody else's reads as missing)."""
    return session.scalars(
        sa.select(DatasetTransfer).where(
            DatasetTransfer.id == transfer_id, DatasetTransfer.user_id == user_id
        )
    ).one_or_none()


def own_list(session: Session, user_id: uuid.UUID, limit: int) -> list[DatasetTransfer]:
    """``user_id``'s transfers, newest first."""
    stmt = (
        sa.select(DatasetTransfer)
        .where(DatasetTransfer.user_id == user_id)
        .order_by(DatasetTransfer.created_at.desc(), DatasetTransfer.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
