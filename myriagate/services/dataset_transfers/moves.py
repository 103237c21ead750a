"""The two moves of issue #17, through staging's own copiers, and what each records.

``save_directory``: the area's directory, every regular file below it (``**``), to
``<endpoint root>/<account>/<random directory>`` with stage-out's ``results_to_storage``, then
a dataset whose provenance is ``saved_from`` (``scratch:/run1``) and its owner.
``copy_here``: a dataset into the area's directory with stage-in's ``dataset_to_cluster``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.db.models.staging import Dataset, DatasetFile
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.dataset_transfers import SAVE_PATTERNS, TransferState, place
from myriagate.domain.skipped_results import SkippedFile
from myriagate.domain.skipped_results import note as skipped_note
from myriagate.domain.staging import escaped
from myriagate.errors import StagingError, Text
from myriagate.ports import RemoteTree, StagedFile
from myriagate.profiles.models import Storage
from myriagate.services.common import audit
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.residency import cluster_location, ensure_resident, storage_location
from myriagate.services.staging.transfers import (
    dataset_root,
    dataset_to_cluster,
    results_to_storage,
    storage_tree,
)

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
# How a saved dataset's files were chosen (``Dataset.selection``): every file of the directory.
SELECTION_DIRECTORY = "directory"


def save_directory(
    ctx: StagingContext, session: Session, row: DatasetTransfer, source: RemoteTree, progress: Progress
) -> None:
    storage = _endpoint(ctx, row.endpoint or "")
    ensure_resident(storage_location(storage), ctx.allowed_regions, audit_session=ctx.session_factory,
                    actor=audit.WORKER, subject=("dataset_transfer", row.id), what="save as dataset",
                    source="worker", at=ctx.clock.now())  # fmt: skip
    root = dataset_root(storage, row.slurm_account, row.output_dir or row.dataset_id.hex)
    skipped: list[SkippedFile] = []
    stored = results_to_storage(
        ctx, source, SAVE_PATTERNS, storage_tree(storage, root), _relay(ctx, row), progress,
        newer_than_ns=None, skipped=skipped,
        what=(Text("the saved directory"), Text("the saved directory (fetched)")),
    )  # fmt: skip
    origin = place(row.area, row.path)
    if not stored:
        raise StagingError(
            Text("%(path)s holds no file that can be stored", path=repr(origin)) + skipped_note(skipped)
        )
    now = ctx.clock.now()
    if staging_repo.get_dataset(session, row.dataset_id) is None:  # a retry after a lost commit keeps it
        session.add(_dataset(row, storage, root, origin, stored, now))
    note = f"{len(stored)} file(s) stored in {storage.site} ({storage.region})" + skipped_note(skipped)
    _done(row, stored, now, note)
    row.skipped = [{"path": escaped(f.path), "kind": f.kind.value} for f in skipped]
    audit.record(session, audit.WORKER, "dataset.saved", ("dataset", row.dataset_id),
                 {"transfer_id": str(row.id), "from": escaped(origin), "cluster": row.cluster,
                  "login": row.cluster_login, "files": len(stored), "endpoint": storage.name,
                  "region": storage.region, "skipped": row.skipped},
                 "worker", at=now)  # fmt: skip
    session.commit()
    shutil.rmtree(_relay(ctx, row), ignore_errors=True)
    log.info("dataset_transfer.saved", transfer_id=str(row.id), files=len(stored), endpoint=storage.name)


def copy_here(
    ctx: StagingContext, session: Session, row: DatasetTransfer, dest: RemoteTree, progress: Progress
) -> None:
    dataset = staging_repo.get_dataset(session, row.dataset_id)
    if dataset is None:
        raise StagingError(Text("dataset %(dataset)s is gone", dataset=row.dataset_id))
    storage = _endpoint(ctx, dataset.endpoint)
    ensure_resident(cluster_location(ctx.profile), ctx.allowed_regions, audit_session=ctx.session_factory,
                    actor=audit.WORKER, subject=("dataset_transfer", row.id), what="copy dataset here",
                    source="worker", at=ctx.clock.now())  # fmt: skip
    staged = dataset_to_cluster(ctx, dataset, storage, dest, _relay(ctx, row), progress)
    now = ctx.clock.now()
    target = place(row.area, row.path)
    _done(row, staged, now, f"{len(staged)} file(s) copied to {target}, checksums verified")
    audit.record(session, audit.WORKER, "dataset.copied", ("dataset", dataset.id),
                 {"transfer_id": str(row.id), "to": escaped(target), "cluster": row.cluster,
                  "login": row.cluster_login, "files": len(staged), "replace": row.replace},
                 "worker", at=now)  # fmt: skip
    session.commit()
    shutil.rmtree(_relay(ctx, row), ignore_errors=True)
    log.info("dataset_transfer.copied", transfer_id=str(row.id), files=len(staged))


def _endpoint(ctx: StagingContext, name: str) -> Storage:
    storage = ctx.profile.storage_endpoint(name)
    if storage is None:
        raise StagingError(
            Text(
                "storage endpoint %(endpoint)s is no longer declared for %(cluster)s",
                endpoint=repr(name),
                cluster=ctx.profile.name,
            )
        )
    return storage


def _relay(ctx: StagingContext, row: DatasetTransfer) -> Path:
    return ctx.spool_dir / "dataset-transfers" / str(row.id)


def _done(row: DatasetTransfer, files: list[StagedFile], now: datetime, note: str) -> None:
    row.state, row.finished_at, row.updated_at, row.note = TransferState.COMPLETED, now, now, note
    row.file_count, row.size_bytes = len(files), sum(f.size_bytes for f in files)
    row.last_error = None
    row.claimed_by, row.claimed_until = None, None


def _dataset(
    row: DatasetTransfer, storage: Storage, root: str, origin: str, files: list[StagedFile], now: datetime
) -> Dataset:
    return Dataset(
        id=row.dataset_id, name=row.name or origin, owner_id=row.user_id, cluster=row.cluster,
        slurm_account=row.slurm_account, endpoint=storage.name, site=storage.site, region=storage.region,
        operator=storage.operator, root=root, selection=SELECTION_DIRECTORY, saved_from=origin,
        file_count=len(files), size_bytes=sum(f.size_bytes for f in files), producer_job_id=None,
        created_at=now,
        files=[DatasetFile(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in files],
    )  # fmt: skip
