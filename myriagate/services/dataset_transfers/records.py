"""What web and CLI read of a dataset transfer: a frozen copy of its row (the claim stays with
the worker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.domain.dataset_transfers import TransferKind, TransferState


@dataclass(frozen=True)
class TransferRecord:
    id: uuid.UUID
    kind: TransferKind
    state: TransferState
    cluster: str
    area: str
    path: str
    dataset_id: uuid.UUID
    name: str | None
    endpoint: str | None
    account: str | None
    replace: bool
    file_count: int
    size_bytes: int
    skipped: tuple[tuple[str, str], ...]  # (path as stored, kind)
    note: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: DatasetTransfer) -> TransferRecord:
        return cls(
            id=row.id,
            kind=row.kind,
            state=row.state,
            cluster=row.cluster,
            area=row.area,
            path=row.path,
            dataset_id=row.dataset_id,
            name=row.name,
            endpoint=row.endpoint,
            account=row.slurm_account,
            replace=row.replace,
            file_count=row.file_count,
            size_bytes=row.size_bytes,
            skipped=tuple((str(s["path"]), str(s["kind"])) for s in row.skipped),
            note=row.note,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )
