"""After a fault: nothing lost, nothing twice, every hold and charge accounted, no torn file.

Shared by the fault tests and ``bench/load.py``. The truth about Slurm is read as root from
``squeue -a`` and ``sacct -a -X`` (by the job's tag ``mg:<uuid>`` in its comment), the truth
about money from the ledger entries, recomputed and compared with the maintained totals.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import Allocation, EntryKind, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import Dataset, DatasetFile, JobStaging
from myriagate.domain.states import JobState

NEVER_SENT_STATES = {JobState.FAILED, JobState.CANCELLED}
# Names a writer uses before its atomic rename: none may be left beside the final names.
TEMP_SUFFIXES = (".part", ".tmp", ".partial", ".myriagate-tmp")
SEP = "\x1f"


@dataclass
class Report:
    """Figures of one check; ``problems`` is empty when everything is consistent."""

    jobs_accepted: int = 0
    jobs_in_db: int = 0
    jobs_in_slurm_once: int = 0
    jobs_never_sent: int = 0
    jobs_lost: int = 0
    jobs_duplicated: int = 0
    jobs_unfinished: int = 0
    holds: int = 0
    holds_open: int = 0
    charges: int = 0
    releases: int = 0
    ledger_consistent: bool = True
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def figures(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "problems"}
        out["problems"] = len(self.problems)
        return out


def slurm_jobs_by_tag(since: str = "now-2hours") -> dict[str, list[str]]:
    """Every Slurm job id per gateway tag, queued or finished (as root: all users)."""
    comment_of: dict[str, str] = {}
    out = subprocess.run(
        ["sacct", "-a", "-n", "-X", "-P", f"--delimiter={SEP}", "-S", since, "-o", "JobID,Comment"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    for line in out.stdout.splitlines():
        job, _, comment = line.partition(SEP)
        comment_of[job] = comment
    out = subprocess.run(
        ["squeue", "-h", "-a", "-o", f"%i{SEP}%k"], capture_output=True, text=True, check=True, timeout=60
    )
    for line in out.stdout.splitlines():
        job, _, comment = line.partition(SEP)
        comment_of[job] = comment  # a job just submitted may not be in slurmdbd yet
    tags: dict[str, list[str]] = {}
    for job, comment in comment_of.items():
        if comment.startswith("mg:"):
            tags.setdefault(comment, []).append(job)
    return tags


def wait_settled(
    factory: Callable[[], Session],
    job_ids: Collection[uuid.UUID],
    *,
    timeout_s: float,
    need_final: bool = True,
    poll_s: float = 2.0,
) -> int:
    """Wait until every job has left ``submitting``/``staging_in`` (and is final when
    ``need_final``) and holds its settlement; returns how many are still not there."""
    deadline = time.monotonic() + timeout_s
    ids = list(job_ids)
    while True:
        with factory() as session:
            pending = _unsettled(session, ids, need_final)
        if pending == 0 or time.monotonic() > deadline:
            return pending
        time.sleep(poll_s)


def _unsettled(session: Session, ids: list[uuid.UUID], need_final: bool) -> int:
    pending = 0
    closing = {EntryKind.RELEASE, EntryKind.CHARGE}
    closed = set(session.scalars(sa.select(LedgerEntry.job_id).where(LedgerEntry.kind.in_(closing))).all())
    held = set(session.scalars(sa.select(LedgerEntry.job_id).where(LedgerEntry.kind == EntryKind.HOLD)))
    for chunk in _chunks(ids, 2000):
        for job_id, state in session.execute(sa.select(Job.id, Job.state).where(Job.id.in_(chunk))):
            if state in (JobState.SUBMITTING, JobState.STAGING_IN) or (
                need_final and (not state.is_final or (job_id in held and job_id not in closed))
            ):
                pending += 1
    return pending


def _chunks(items: list[uuid.UUID], size: int) -> Iterable[list[uuid.UUID]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def check(
    factory: Callable[[], Session],
    accepted: Collection[uuid.UUID],
    *,
    since: str = "now-2hours",
    dirs: Iterable[Path] = (),
    require_final: bool = True,
    allow_not_in_slurm_yet: bool = False,
    lag_s: float = 30.0,
) -> Report:
    """Every check of the fault suite; ``dirs``: job directories to scan for torn files."""
    report = Report(jobs_accepted=len(accepted))
    with factory() as session:
        jobs = {job.id: job for job in session.scalars(sa.select(Job))}
        tags = _tags_settled(since, [j.tag for j in jobs.values() if j.slurm_job_id is not None], lag_s)
        report.jobs_in_db = len(jobs)
        for job_id in accepted:
            if job_id not in jobs:
                report.jobs_lost += 1
                report.problems.append(f"accepted job {job_id} is not in the database")
        # Every job row counts, accepted or not (a request cut before its answer may have
        # created one): it must be in Slurm once, or never sent with a reason.
        for job in jobs.values():
            _check_job(job, tags.get(job.tag, []), report, require_final, allow_not_in_slurm_yet)
        _check_ledger(session, jobs, report)
        _check_datasets(session, report)
        _check_staged_inputs(session, jobs, report)
    for directory in dirs:
        _check_no_temp_names(directory, report)
    return report


def _tags_settled(since: str, expected: list[str], lag_s: float) -> dict[str, list[str]]:
    """The tags in Slurm, read again while some recorded job is not there yet: a job
    cancelled while pending reaches slurmdbd (hence sacct) seconds after leaving squeue."""
    deadline = time.monotonic() + lag_s
    while True:
        tags = slurm_jobs_by_tag(since)
        if all(t in tags for t in expected) or time.monotonic() > deadline:
            return tags
        time.sleep(2)


def _check_job(job: Job, in_slurm: list[str], report: Report, require_final: bool, lenient: bool) -> None:
    if len(in_slurm) > 1:
        report.jobs_duplicated += 1
        report.problems.append(f"job {job.id} is {len(in_slurm)} times in Slurm: {in_slurm}")
        return
    if job.slurm_job_id is None:
        if in_slurm:
            report.jobs_lost += 1  # Slurm runs it, the gateway does not know: lost for tracking
            report.problems.append(f"job {job.id} ({job.state}) has no Slurm id but Slurm has {in_slurm}")
        elif job.state in NEVER_SENT_STATES and job.reason:
            report.jobs_never_sent += 1
        elif job.state in (JobState.SUBMITTING, JobState.STAGING_IN) and not require_final:
            report.jobs_unfinished += 1
        else:
            report.problems.append(f"job {job.id} never reached Slurm and is {job.state} ({job.reason!r})")
        return
    if not in_slurm:
        if lenient:
            report.jobs_unfinished += 1
            return
        report.jobs_lost += 1
        report.problems.append(f"job {job.id} has Slurm id {job.slurm_job_id} but its tag is not in Slurm")
        return
    if in_slurm != [job.slurm_job_id]:
        report.problems.append(f"job {job.id} records {job.slurm_job_id}, Slurm has {in_slurm}")
        return
    report.jobs_in_slurm_once += 1
    if require_final and not job.state.is_final:
        report.jobs_unfinished += 1
        report.problems.append(f"job {job.id} is still {job.state}")


def _check_ledger(session: Session, jobs: dict[uuid.UUID, Job], report: Report) -> None:
    entries: dict[tuple[uuid.UUID, EntryKind], list[LedgerEntry]] = {}
    for e in session.scalars(sa.select(LedgerEntry).where(LedgerEntry.job_id.is_not(None))):
        assert e.job_id is not None
        entries.setdefault((e.job_id, e.kind), []).append(e)
    counts = Counter(kind for (_, kind), rows in entries.items() for _ in rows)
    report.holds, report.charges = counts[EntryKind.HOLD], counts[EntryKind.CHARGE]
    report.releases = counts[EntryKind.RELEASE]
    held_by_alloc: Counter[uuid.UUID] = Counter()
    for (job_id, kind), rows in entries.items():
        if len(rows) > 1:
            report.problems.append(f"job {job_id} has {len(rows)} {kind} entries")
        if kind is not EntryKind.HOLD:
            continue
        hold = rows[0]
        charge = entries.get((job_id, EntryKind.CHARGE))
        release = entries.get((job_id, EntryKind.RELEASE))
        job = jobs.get(job_id)
        if charge and release:
            report.problems.append(f"job {job_id} is both charged and released")
        if release and job is not None and _ran_s(job) >= 2:
            # sacct bills whole seconds: a job of 0 s is "never ran" for the ledger, released.
            report.problems.append(f"job {job_id} ran {_ran_s(job):.0f} s but was released uncharged")
        if charge and charge[0].core_seconds > hold.core_seconds:
            report.problems.append(
                f"job {job_id} charged {charge[0].core_seconds} core-s beyond its hold {hold.core_seconds}"
            )
        if not charge and not release:
            report.holds_open += 1
            held_by_alloc[hold.allocation_id] += hold.core_seconds
            if job is not None and job.state.is_final:
                report.problems.append(f"job {job_id} is {job.state} but its hold is still open")
            if job is not None and job.slurm_job_id is None and job.state in NEVER_SENT_STATES:
                report.problems.append(f"job {job_id} never reached Slurm and its hold was not released")
    charged_by_alloc: Counter[uuid.UUID] = Counter()
    for (_, kind), rows in entries.items():
        if kind is EntryKind.CHARGE:
            for e in rows:
                charged_by_alloc[e.allocation_id] += e.core_seconds
    # Charges outside the gateway carry no job id: count them in too.
    for alloc_id, core in session.execute(
        sa.select(LedgerEntry.allocation_id, sa.func.sum(LedgerEntry.core_seconds))
        .where(LedgerEntry.job_id.is_(None), LedgerEntry.kind == EntryKind.CHARGE)
        .group_by(LedgerEntry.allocation_id)
    ):
        charged_by_alloc[alloc_id] += int(core)
    for alloc in session.scalars(sa.select(Allocation)):
        if alloc.held_core_seconds != held_by_alloc[alloc.id]:
            report.ledger_consistent = False
            report.problems.append(
                f"allocation {alloc.id}: held {alloc.held_core_seconds} "
                f"!= open holds {held_by_alloc[alloc.id]}"
            )
        if alloc.charged_core_seconds != charged_by_alloc[alloc.id]:
            report.ledger_consistent = False
            report.problems.append(
                f"allocation {alloc.id}: charged {alloc.charged_core_seconds} "
                f"!= entries {charged_by_alloc[alloc.id]}"
            )
    if any("entries" in p or "hold" in p or "charged" in p for p in report.problems):
        report.ledger_consistent = False


def _ran_s(job: Job) -> float:
    if job.started_at is None or job.ended_at is None:
        return 0.0
    return (job.ended_at - job.started_at).total_seconds()


def _check_datasets(session: Session, report: Report) -> None:
    """Every dataset file on disk (the storage endpoint is this machine) has its recorded sha256."""
    for dataset in session.scalars(sa.select(Dataset)):
        root = Path(dataset.root)
        if not root.is_dir():
            continue  # an endpoint on another machine: not ours to read
        for f in session.scalars(sa.select(DatasetFile).where(DatasetFile.dataset_id == dataset.id)):
            _check_file(root / f.path, f.sha256, f.size_bytes, report)
        _check_no_temp_names(root, report)


def _check_staged_inputs(session: Session, jobs: dict[uuid.UUID, Job], report: Report) -> None:
    for plan in session.scalars(sa.select(JobStaging).where(JobStaging.job_dir.is_not(None))):
        if not plan.staged_inputs or plan.job_dir is None:
            continue
        job_dir = Path(plan.job_dir)
        if not job_dir.is_dir():
            continue
        for row in plan.staged_inputs:
            _check_file(job_dir / str(row["path"]), str(row["sha256"]), int(row["size_bytes"]), report)


def _check_file(path: Path, sha256: str, size: int, report: Report) -> None:
    report.files_checked += 1
    if not path.is_file():
        report.problems.append(f"{path} is recorded but missing")
        return
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if path.stat().st_size != size or digest.hexdigest() != sha256:
        report.problems.append(f"{path} differs from its recorded size/sha256")


def _check_no_temp_names(directory: Path, report: Report) -> None:
    if not directory.is_dir():
        return
    for path in directory.rglob("*"):
        if ".myriagate" in path.relative_to(directory).parts:
            continue  # the stager's own partial area: never a final name
        if path.is_file() and path.name.endswith(TEMP_SUFFIXES):
            report.problems.append(f"{path}: a temporary name left among final names")
