"""The worker's half of "save as dataset" and "copy dataset here" (issue #17).

Each queued transfer of the cluster is claimed (one conditional UPDATE on its row, renewed
while bytes move), residency is checked again, and the bytes go through stage-out's and
stage-in's own copiers (``staging.transfers.results_to_storage`` and ``dataset_to_cluster``)
with the area's root as the operator's root and the directory inside it as the anchor: the
far side walks it one component at a time without following links, each component a real
directory owned by the researcher's login (created 0700 for a copy), so a link planted in the
path is refused and audited, and a link inside a saved directory is skipped and named, as at
stage-out. A transient failure is retried with a growing delay; anything else fails the
transfer with a reason the researcher can read.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.db.repos import dataset_transfers as repo
from myriagate.domain.dataset_transfers import TransferKind, TransferState
from myriagate.domain.staging import escaped
from myriagate.errors import ConfigError, MyriagateError, Text, UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.services.common import audit
from myriagate.services.common.leases import Lease
from myriagate.services.dataset_transfers.moves import copy_here, save_directory
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.residency import audit_refusal
from myriagate.services.staging.step import ClaimKeeper
from myriagate.services.staging.transfers import cluster_tree

log = structlog.get_logger(__name__)


def run_pending(ctx: StagingContext, limit: int = 20) -> int:
    """Run every claimable transfer of the cluster once; how many ended (or failed)."""
    with ctx.session_factory() as session:
        ids = repo.claimable(session, ctx.profile.name, ctx.clock.now(), limit)
    return sum(1 for transfer_id in ids if process(ctx, transfer_id))


def process(ctx: StagingContext, transfer_id: uuid.UUID) -> bool:
    """Claim and run one transfer; True when it ended (completed or failed)."""
    claim = Lease(transfer_id, ctx.holder, timedelta(seconds=ctx.claim_s), ctx.clock, repo.TRANSFER_CLAIMS)
    with ctx.session_factory() as session:
        if not claim.acquire(session):
            return False
        row = session.get(DatasetTransfer, transfer_id)
        if row is None or row.state.final:
            if row is not None:
                claim.release(session)
            return False
        row.state, row.updated_at = TransferState.RUNNING, ctx.clock.now()
        session.commit()
        try:
            progress = ClaimKeeper(ctx.session_factory, claim).progress
            tree = area_tree(ctx, row)
            if row.kind is TransferKind.SAVE:
                save_directory(ctx, session, row, tree, progress)
            else:
                copy_here(ctx, session, row, tree, progress)
        except MyriagateError as exc:
            session.rollback()
            return _failed(ctx, session, transfer_id, exc)
        except Exception as exc:  # a bug or an unexpected library error: retried, never fatal
            session.rollback()
            log.exception("dataset_transfer.unexpected_error", transfer_id=str(transfer_id))
            return _failed(ctx, session, transfer_id, MyriagateError(repr(exc), transient=True))
    return True


def area_tree(ctx: StagingContext, row: DatasetTransfer) -> RemoteTree:
    """The transfer's directory on the cluster: the area's root for the login (its home asked
    from the cluster for a ``{home}`` root) as the operator's root, the path as the anchor."""
    area = ctx.profile.files.area(row.area)
    if area is None:
        raise ConfigError(Text("the file area %(area)s is no longer declared", area=repr(row.area)))
    root = area.root_for(row.cluster_login)
    if root.startswith("{home}"):
        root = ctx.backends.for_login(row.cluster_login).home_dir().rstrip("/") + root[len("{home}") :]
    return cluster_tree(ctx.profile, row.cluster_login, root or "/", row.path)


def _failed(ctx: StagingContext, session: Session, transfer_id: uuid.UUID, exc: MyriagateError) -> bool:
    """Retry a transient failure later; fail the transfer otherwise (a refused path audited)."""
    row = session.get(DatasetTransfer, transfer_id)
    if row is None:
        return False
    what = "save as dataset" if row.kind is TransferKind.SAVE else "copy dataset here"
    if isinstance(exc, UnsafeValue):  # the far side refused a path: audited like stage-out's
        audit_refusal(ctx.session_factory, actor=audit.WORKER, subject=("dataset_transfer", transfer_id),
                      reason="unsafe_path", value=exc.value if exc.value is not None else exc.detail,
                      what=what, source="worker", at=ctx.clock.now(),
                      extra={"detail": escaped(exc.detail)})  # fmt: skip
    now = ctx.clock.now()
    row.attempts += 1
    row.last_error = exc.detail
    row.updated_at = now
    shown = _for_researchers(exc, ctx)
    if exc.transient and row.attempts < ctx.max_attempts:
        delay = min(300.0, 5.0 * 2 ** (row.attempts - 1))
        row.claimed_by, row.claimed_until = ctx.holder, now + timedelta(seconds=delay)
        row.note = f"interrupted ({shown}); retry {row.attempts + 1} in {delay:.0f} s"
        session.commit()
        return False
    row.state, row.finished_at, row.note = TransferState.FAILED, now, f"failed: {shown}"
    shutil.rmtree(ctx.spool_dir / "dataset-transfers" / str(transfer_id), ignore_errors=True)
    row.claimed_by, row.claimed_until = None, None
    audit.record(session, audit.WORKER, f"dataset.{row.kind.value}_failed", ("dataset_transfer", row.id),
                 {"error": exc.code, "detail": escaped(exc.detail)}, "worker", at=now)  # fmt: skip
    session.commit()
    log.warning("dataset_transfer.failed", transfer_id=str(transfer_id), error=exc.code, detail=exc.detail)
    return True


def _for_researchers(exc: MyriagateError, ctx: StagingContext) -> str:
    """No set-up detail nor the gateway's spool path in what the researcher reads."""
    if isinstance(exc, ConfigError):
        return Text("the gateway is not set up for this transfer; its administrators have the details")
    return exc.detail.replace(str(ctx.spool_dir), "(the gateway's copy)")


def run_loop(ctx: StagingContext, stop: threading.Event, *, min_s: float = 1.0, max_s: float = 10.0) -> None:
    """Run the cluster's transfers until ``stop`` is set, beside its job staging loop (a long
    save never holds a job's stage-in back): at once again after work, slower when idle."""
    delay = min_s
    while not stop.is_set():
        try:
            moved = run_pending(ctx)
        except Exception:  # a database hiccup must not end the loop
            log.exception("dataset_transfer.step_failed", cluster=ctx.profile.name)
            moved = 0
        delay = min_s if moved else min(max_s, delay * 2)
        stop.wait(delay)
