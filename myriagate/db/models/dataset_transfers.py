"""Transfers between a researcher's file areas and datasets (issue #17), run by the worker.

A ``save`` copies a directory of an area to a storage endpoint as a new dataset; a ``copy``
puts a dataset into a directory of a writable area. Like a job's staging plan, the row is
claimed by one worker at a time (``claimed_by``/``claimed_until``), so a worker that dies
leaves a claim that expires and another one resumes the transfer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from myriagate.db.base import Base, str_enum
from myriagate.domain.dataset_transfers import TransferKind, TransferState


class DatasetTransfer(Base):
    """One save or copy, as asked and as it went."""

    __tablename__ = "dataset_transfers"
    __table_args__ = (
        sa.Index("ix_dataset_transfers_state_cluster", "state", "cluster"),
        sa.Index("ix_dataset_transfers_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[TransferKind] = mapped_column(str_enum(TransferKind, 16))
    state: Mapped[TransferState] = mapped_column(str_enum(TransferState, 16))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    # The cluster login the bytes are read or written as (the user's, when asked).
    cluster_login: Mapped[str] = mapped_column(sa.String(64))
    cluster: Mapped[str] = mapped_column(sa.String(64))
    area: Mapped[str] = mapped_column(sa.String(64))
    # The directory inside the area, relative to its root ('' for the root), checked by
    # ``domain.dataset_transfers.area_dir``.
    path: Mapped[str] = mapped_column(sa.String(1024))
    # save: the dataset made (its id is chosen when asked, recorded once stored);
    # copy: the dataset copied.
    dataset_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str | None] = mapped_column(sa.String(255))  # save: the new dataset's name
    endpoint: Mapped[str | None] = mapped_column(sa.String(64))  # save: where it goes
    # save: the random directory under <endpoint root>/<account>/ (never derived from an id).
    output_dir: Mapped[str | None] = mapped_column(sa.String(64))
    slurm_account: Mapped[str | None] = mapped_column(sa.String(64))
    replace: Mapped[bool] = mapped_column(default=False)  # copy: the target may exist
    file_count: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Files left out, as stage-out leaves them (links, specials, refused names): [{path, kind}].
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    note: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
