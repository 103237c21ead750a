"""The outside-jobs sweep: charge the jobs of the projects' Slurm accounts the gateway did not submit.

One sacct call by account and time window, reading no free-text field; each ended Slurm job
that is not the gateway's (its id is unknown and its comment, asked separately by job id, is
not the tag of one of our jobs) is charged once per Slurm job id. A charge above
``confirm_above`` is made only when a second, narrow sacct (these ids, that account) reports
the same job with the same cost (docs/slurm.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import Project
from myriagate.db.repos import allocations as allocations_repo
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import TAG_PREFIX, JobUsage
from myriagate.domain.states import JobState
from myriagate.ports import SlurmBackend, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations import charging
from myriagate.services.allocations.settling_ledger import LedgerFactory

# The settlement run's logger: its events keep the name they are filtered and read by.
log = structlog.get_logger("myriagate.services.allocations.settlement")

# Outside jobs charged per sweep at most (one commit each): a first sweep over days of a busy
# account would otherwise hold the worker's tick for many seconds; the next sweep goes on.
OUTSIDE_PER_RUN = 500
# An outside charge above this many core- (or GPU-) seconds waits for a second, narrow sacct
# to confirm the job in that account (MYRIAGATE_OUTSIDE_CONFIRM_CORE_SECONDS).
DEFAULT_OUTSIDE_CONFIRM_CORE_SECONDS = 3600
# Ids per IN list and per narrow sacct call.
_BATCH = 2000
# A gateway job without a Slurm id in these states may have reached Slurm (its sbatch reply
# lost, or cancelled meanwhile) until reconciliation has looked its tag up.
_IN_DOUBT = (JobState.SUBMITTING, JobState.CANCELLED)


def never_ran(usage: JobUsage) -> bool:
    """No run of the job held anything for any time (cancelled while pending, say)."""
    return all(run.elapsed_s == 0 or run.alloc_cpus == 0 for run in charging.runs_of(usage))


def sweep_outside(
    session: Session,
    *,
    cluster: str,
    profile: ClusterProfile,
    backends: SlurmBackendFactory,
    ledger: LedgerFactory,
    since: datetime,
    until: datetime,
    confirm_above: int = DEFAULT_OUTSIDE_CONFIRM_CORE_SECONDS,
) -> int:
    """Charge the jobs of the cluster's project accounts that the gateway did not submit."""
    accounts = sorted(session.scalars(sa.select(Project.slurm_account).where(Project.cluster == cluster)))
    if not accounts:
        return 0
    backend = backends.for_service()
    found = backend.accounting_by_accounts(accounts, since, until)
    ours = _ours_by_id(session, cluster, found)
    outside = [u for u in found if u.slurm_job_id.split("_", 1)[0] not in ours]
    already = _charged_outside(session, cluster, [u.slurm_job_id for u in outside])
    due = [u for u in outside if u.slurm_job_id not in already and u.account is not None and not never_ran(u)]
    planned: list[tuple[JobUsage, UUID, Cost]] = []
    for index, used in enumerate(due):
        assert used.account is not None  # filtered above
        if len(planned) == OUTSIDE_PER_RUN:
            log.info("settlement.outside_deferred", cluster=cluster, left=len(due) - index)
            break
        at = used.started_at or used.ended_at or until
        allocation = allocations_repo.allocation_at(session, cluster, used.account, at)
        if allocation is None:
            log.warning(
                "settlement.outside_no_allocation", slurm_job_id=used.slurm_job_id, account=used.account
            )
            continue
        planned.append((used, allocation.id, charging.actual_on(profile, used, None)))
    session.commit()  # no transaction stays open while sacct runs
    if not planned:
        return 0
    comments = backend.comments([used.slurm_job_id for used, _, _ in planned])
    planned = _not_tagged_ours(session, cluster, planned, comments)
    big = [(used, actual) for used, _, actual in planned if _above(actual, confirm_above)]
    confirmed = _confirmed(backend, profile, big, since, until)
    charged = 0
    for used, allocation_id, actual in planned:
        if _above(actual, confirm_above) and confirmed.get(used.slurm_job_id) != actual:
            log.warning("settlement.outside_unconfirmed", slurm_job_id=used.slurm_job_id,
                        account=used.account, core_seconds=actual.core_seconds,
                        confirmed=str(confirmed.get(used.slurm_job_id)))  # fmt: skip
            continue
        ledger(session).charge_outside(allocation_id, used.slurm_job_id, actual)
        session.commit()
        charged += 1
        log.info("allocation.charge_outside", slurm_job_id=used.slurm_job_id, account=used.account,
                 user=used.user, core_seconds=actual.core_seconds)  # fmt: skip
    return charged


def _above(cost: Cost, limit: int) -> bool:
    return max(cost.core_seconds, cost.gpu_seconds) > limit


def _confirmed(
    backend: SlurmBackend,
    profile: ClusterProfile,
    big: Sequence[tuple[JobUsage, Cost]],
    since: datetime,
    until: datetime,
) -> dict[str, Cost]:
    """What a narrow sacct (these ids, in their own account, same window) says each job cost.

    One call per account. The sweep's line of a job is checked shape by shape, but a charge
    this large is only made when accounting, asked about exactly that job and account, agrees.
    """
    by_account: dict[str, list[str]] = {}
    for used, _ in big:
        assert used.account is not None
        by_account.setdefault(used.account, []).append(used.slurm_job_id)
    costs: dict[str, Cost] = {}
    for account, ids in sorted(by_account.items()):
        for chunk in _chunks(ids):
            for usage in backend.accounting_by_accounts([account], since, until, slurm_job_ids=chunk):
                if usage.account == account and usage.slurm_job_id in chunk:
                    costs[usage.slurm_job_id] = charging.actual_on(profile, usage, None)
    return costs


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _ours_by_id(session: Session, cluster: str, found: Sequence[JobUsage]) -> set[str]:
    """The Slurm job (or array parent) ids among ``found`` that are gateway jobs."""
    parents = sorted({u.slurm_job_id.split("_", 1)[0] for u in found})
    ours: set[str] = set()
    for chunk in _chunks(parents):
        ours.update(
            str(i)
            for i in session.scalars(
                sa.select(Job.slurm_job_id).where(Job.cluster == cluster, Job.slurm_job_id.in_(chunk))
            )
        )
    return ours


def _not_tagged_ours(
    session: Session,
    cluster: str,
    planned: list[tuple[JobUsage, UUID, Cost]],
    comments: Mapping[str, str],
) -> list[tuple[JobUsage, UUID, Cost]]:
    """Drop the job whose comment is the tag of a gateway job whose sbatch reply may have been
    lost (reconciliation will find it) and those whose comment is unknown (asked again at the
    next sweep).

    A tag copied onto another job does not count (any login reads comments in squeue): not when
    the tagged gateway job has a different Slurm id, nor when its submission is no longer in
    doubt (it ended without reaching Slurm, or reconciliation looked it up already), nor when
    the job is another login's (reconciliation searches only the owner's jobs). A submission in
    doubt makes one Slurm job, on its allocation, costing at most its hold (which stays as long
    as the doubt does): only one such job per tag is spared, so a login that keeps its own
    lookups failing gets nothing it has not paid for.
    """
    doubts = _in_doubt(session, cluster, {c for c in comments.values() if c.startswith(TAG_PREFIX)})
    spared: set[str] = set()
    out = []
    for item in sorted(planned, key=lambda i: _id_order(i[0].slurm_job_id)):
        used, allocation_id, actual = item
        if used.slurm_job_id not in comments:
            log.warning("settlement.outside_comment_unknown", slurm_job_id=used.slurm_job_id)
            continue
        tag = comments[used.slurm_job_id]
        doubt = doubts.get(tag)
        if (
            doubt is not None
            and tag not in spared
            and doubt == (used.user, allocation_id, doubt[2])
            and actual.core_seconds <= doubt[2].core_seconds
            and actual.gpu_seconds <= doubt[2].gpu_seconds
        ):
            spared.add(tag)
            continue
        out.append(item)
    return out


def _in_doubt(session: Session, cluster: str, tags: set[str]) -> dict[str, tuple[str, UUID, Cost]]:
    """{tag: (login, allocation, hold)} of the gateway jobs with these tags whose sbatch may
    have reached Slurm without the gateway knowing its id."""
    doubts: dict[str, tuple[str, UUID, Cost]] = {}
    for chunk in _chunks(sorted(tags)):
        rows = session.execute(
            sa.select(Job.tag, Job.cluster_login, LedgerEntry.allocation_id, LedgerEntry.core_seconds,
                      LedgerEntry.gpu_seconds)
            .join(LedgerEntry, sa.and_(LedgerEntry.job_id == Job.id, LedgerEntry.kind == EntryKind.HOLD))
            .where(Job.cluster == cluster, Job.tag.in_(chunk), Job.slurm_job_id.is_(None),
                   Job.reconciled_at.is_(None), Job.state.in_(_IN_DOUBT))
        )  # fmt: skip
        for tag, login, allocation_id, core, gpu in rows:
            doubts[tag] = (login, allocation_id, Cost(core, gpu))
    session.commit()
    return doubts


def _id_order(slurm_job_id: str) -> tuple[int, str]:
    head = slurm_job_id.split("_", 1)[0]
    return (int(head), slurm_job_id) if head.isdigit() else (0, slurm_job_id)


def _charged_outside(session: Session, cluster: str, slurm_job_ids: list[str]) -> set[str]:
    """Which of these Slurm jobs of ``cluster`` the sweep charged already (skip the no-op)."""
    charged: set[str] = set()
    for chunk in _chunks(sorted(set(slurm_job_ids))):
        stmt = (
            sa.select(LedgerEntry.slurm_job_id)
            .join(Allocation, Allocation.id == LedgerEntry.allocation_id)
            .join(Project, Project.id == Allocation.project_id)
            .where(Project.cluster == cluster, LedgerEntry.kind == EntryKind.CHARGE)
            .where(LedgerEntry.slurm_job_id.in_(chunk))
        )
        charged.update(str(i) for i in session.scalars(stmt))
    return charged
