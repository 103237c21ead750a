"""The byte-moving half of the staging step: which files go where, verified end to end.

Every file's sha256 is compared across the whole chain — what the researcher uploaded (or
what the dataset recorded), what reached the spool, what reached the destination — so a
file that changed anywhere on the way fails loudly instead of landing quietly.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.staging import Dataset, DatasetFile, DatasetRole, DatasetUse, JobStaging
from myriagate.db.repos import staging as staging_repo
from myriagate.domain.outputs import resolve_work_dir
from myriagate.domain.skipped_results import SkipKind, SkippedFile
from myriagate.domain.skipped_results import note as skipped_note
from myriagate.domain.staging import escaped, storable_path
from myriagate.domain.states import JobState
from myriagate.errors import ChecksumMismatch, StagingError, Text, UnsafeValue
from myriagate.ports import RemoteTree, StagedFile
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services.common import audit
from myriagate.services.jobs import transitions
from myriagate.services.staging import plan as staging_plan
from myriagate.services.staging import uploads
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.residency import ensure_resident, storage_location

log = structlog.get_logger(__name__)

# Output datasets get ids derived from their job (a retried stage-out finds its record); their
# directory on the endpoint has a random name chosen at submission (``JobStaging.output_dir``).
_OUTPUT_NAMESPACE = uuid.UUID("6f1b8a52-3d4e-4c1a-9a57-0c2f5e7d9b11")
Progress = Callable[[int, int], None]

# How an output dataset's files were chosen (``Dataset.selection``).
SELECTION_JOB_DIR = "job_dir"
SELECTION_NEWER_THAN_START = "newer_than_start"


def output_dataset_id(job_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_OUTPUT_NAMESPACE, f"{job_id}:output")


def cluster_tree(profile: ClusterProfile, login: str, root: str, anchor: str = "") -> RemoteTree:
    conn = profile.connection
    assert conn.host is not None and conn.known_hosts is not None  # checked at submission
    return RemoteTree(
        host=conn.host, port=conn.port, login=login, known_hosts=conn.known_hosts, root=root, anchor=anchor
    )


def job_dir(ctx: StagingContext, job: Job, plan: JobStaging) -> str:
    """The job's absolute directory on the cluster (asked once, then kept in the plan)."""
    if plan.job_dir:
        return plan.job_dir
    if job.work_dir and job.work_dir.startswith("/"):
        plan.job_dir = job.work_dir
    else:
        home = ctx.backends.for_login(job.cluster_login).home_dir()
        plan.job_dir = resolve_work_dir(job.spec.get("chdir"), home)
    job.work_dir = plan.job_dir
    return plan.job_dir


def has_own_dir(job: Job) -> bool:
    """Whether the job runs in a directory the gateway made for it (not a --chdir of the user's)."""
    return job.spec.get("chdir") == staging_plan.job_dir_for(job.id)


def job_tree(ctx: StagingContext, job: Job, plan: JobStaging) -> RemoteTree:
    """The job's directory as a transfer sees it. The gateway's own directory is the anchor
    ``myriagate-jobs/<job id>`` under the login's home, walked without following links and
    created 0700; a --chdir the researcher chose is theirs, taken as they named it."""
    path = job_dir(ctx, job, plan)
    own = staging_plan.job_dir_for(job.id)
    if has_own_dir(job) and path.endswith("/" + own):
        return cluster_tree(ctx.profile, job.cluster_login, path[: -len(own) - 1] or "/", own)
    return cluster_tree(ctx.profile, job.cluster_login, path)


def storage_tree(storage: Storage, root: str) -> RemoteTree:
    """A directory on ``storage``: the endpoint's configured root, and the rest as the anchor."""
    base = storage.root.rstrip("/")
    if root != base and not root.startswith(base + "/"):
        raise StagingError(f"{root!r} is not under the root of endpoint {storage.name} ({storage.root})")
    return RemoteTree(
        host=storage.host,
        port=storage.port,
        login=storage.login,
        known_hosts=storage.known_hosts,
        root=storage.root,
        anchor=root[len(base) + 1 :] if root != base else "",
    )


def dataset_root(storage: Storage, account: str | None, directory: str) -> str:
    return f"{storage.root.rstrip('/')}/{account or 'no-account'}/{directory}"


def output_directory(plan: JobStaging, dataset_id: uuid.UUID) -> str:
    """The output dataset's directory name: random, recorded at submission (plans recorded
    before that rule existed keep the dataset id they were given)."""
    return plan.output_dir or str(dataset_id)


def stage_in(
    ctx: StagingContext, session: Session, job: Job, plan: JobStaging, dest: RemoteTree, progress: Progress
) -> list[StagedFile]:
    """Upload files and input datasets to ``dest``; every file checked against its recorded sha256.
    ``dest`` is created (0700) even when nothing is to be copied: the job runs there."""
    staged: list[StagedFile] = []
    if plan.upload_id is None and not plan.input_dataset_ids:
        # Nothing to copy: only the directory is made (any transfer into it makes it too).
        ctx.stager.upload(ctx.spool_dir, [], dest)
    if plan.upload_id is not None:
        upload = staging_repo.get_upload(session, plan.upload_id)
        if upload is None:
            raise StagingError(Text("upload %(upload)s is gone", upload=plan.upload_id))
        local = uploads.files_dir(ctx.spool_dir, upload.id)
        expected = {f.path: f.sha256 for f in upload.files}
        result = ctx.stager.upload(local, sorted(expected), dest, progress=progress)
        staged += verified(result, expected, Text("the uploaded files"))
    for raw_id in plan.input_dataset_ids:
        dataset = staging_repo.get_dataset(session, uuid.UUID(raw_id))
        if dataset is None:
            raise StagingError(Text("input dataset %(dataset)s is gone", dataset=raw_id))
        staged += _dataset_in(ctx, session, job, dataset, dest, progress)
    return sorted(staged, key=lambda f: f.path)


def _dataset_in(
    ctx: StagingContext, session: Session, job: Job, dataset: Dataset, dest: RemoteTree, progress: Progress
) -> list[StagedFile]:
    storage = ctx.profile.storage_endpoint(dataset.endpoint)
    if storage is None:
        raise StagingError(
            Text(
                "dataset %(dataset)s is on %(endpoint)s, no longer declared",
                dataset=dataset.id,
                endpoint=repr(dataset.endpoint),
            )
        )
    relay = ctx.spool_dir / "stage-in" / str(job.id) / str(dataset.id)
    staged = dataset_to_cluster(ctx, dataset, storage, dest, relay, progress)
    if session.get(DatasetUse, (dataset.id, job.id, DatasetRole.INPUT)) is None:
        session.add(
            DatasetUse(dataset_id=dataset.id, job_id=job.id, role=DatasetRole.INPUT, at=ctx.clock.now())
        )
    return staged


def dataset_to_cluster(
    ctx: StagingContext, dataset: Dataset, storage: Storage, dest: RemoteTree, relay: Path, progress: Progress
) -> list[StagedFile]:
    """Copy a stored dataset into ``dest`` through the spool directory ``relay``: each file
    checked against the sha256 recorded in the dataset when fetched, and again where it landed
    (stage-in's inputs and "copy dataset here" both come this way)."""
    expected = {f.path: f.sha256 for f in dataset.files}
    fetched = ctx.stager.download(
        storage_tree(storage, dataset.root), sorted(expected), relay, progress=progress
    )
    verified(fetched, expected, Text("dataset %(dataset)s (fetched)", dataset=dataset.id))
    result = ctx.stager.upload(relay, sorted(expected), dest, progress=progress)
    return verified(result, expected, Text("dataset %(dataset)s", dataset=dataset.id))


def discard_inputs(ctx: StagingContext, plan: JobStaging) -> None:
    """Free the spool once the inputs are verified on the cluster."""
    if plan.upload_id is not None:
        uploads.discard_spool(ctx.spool_dir, plan.upload_id)
    shutil.rmtree(ctx.spool_dir / "stage-in" / str(plan.job_id), ignore_errors=True)


def _resident_output_endpoint(ctx: StagingContext, job: Job, plan: JobStaging) -> Storage:
    """The job's output endpoint, still declared and still inside the allowed regions (checked
    again at stage-out: the profile may have changed since the job was accepted)."""
    storage = ctx.profile.storage_endpoint(plan.output_endpoint or "")
    if storage is None:
        raise StagingError(
            Text(
                "storage endpoint %(endpoint)s is no longer declared for %(cluster)s",
                endpoint=repr(plan.output_endpoint),
                cluster=ctx.profile.name,
            )
        )
    ensure_resident(
        storage_location(storage),
        ctx.allowed_regions,
        audit_session=ctx.session_factory,
        actor=audit.WORKER,
        subject=("job", job.id),
        what="job outputs",
        source="worker",
        at=ctx.clock.now(),
    )
    return storage


def stage_out(ctx: StagingContext, session: Session, job: Job, plan: JobStaging, progress: Progress) -> None:
    """Copy the job's outputs to its storage endpoint, record them as a dataset, complete the job."""
    storage = _resident_output_endpoint(ctx, job, plan)
    source = job_tree(ctx, job, plan)
    selection, newer_than_ns = SELECTION_JOB_DIR, None
    if not has_own_dir(job):
        # A directory the researcher chose may hold other runs' files: only what changed
        # after this job started is its result (docs/staging.md, "A directory per job").
        selection = SELECTION_NEWER_THAN_START
        started = job.started_at or job.submitted_at or job.created_at
        newer_than_ns = int(started.timestamp()) * 1_000_000_000
    skipped: list[SkippedFile] = []
    dataset_id = output_dataset_id(job.id)
    root = dataset_root(storage, job.slurm_account, output_directory(plan, dataset_id))
    relay = ctx.spool_dir / "stage-out" / str(job.id)
    stored = results_to_storage(
        ctx, source, plan.output_patterns, storage_tree(storage, root), relay, progress,
        newer_than_ns=newer_than_ns, skipped=skipped, what=(Text("job output"), Text("job output (fetched)")),
    )  # fmt: skip
    now = ctx.clock.now()
    dataset = _record_dataset(session, job, storage, dataset_id, root, selection, stored, now)
    plan.output_dataset_id = dataset.id
    plan.stage_out_at = now
    plan.last_error = None
    plan.claimed_by, plan.claimed_until = None, None
    job.stage_out = False
    note = f"{len(stored)} result file(s) stored in {storage.site} ({storage.region})" + skipped_note(skipped)
    if not stored and not skipped:
        note = "no file matched the output patterns: " + ", ".join(plan.output_patterns)
    job.reason = note
    transitions.move(session, job, JobState.COMPLETED, at=now, reason=note)
    audit.record(session, audit.WORKER, "job.stage_out", ("job", job.id),
                 {"dataset_id": str(dataset.id), "files": len(stored), "endpoint": storage.name,
                  "region": storage.region,
                  "skipped": [{"path": escaped(f.path), "kind": f.kind.value} for f in skipped]},
                 "worker", at=now)  # fmt: skip
    session.commit()
    shutil.rmtree(relay, ignore_errors=True)
    log.info("staging.out_done", job_id=str(job.id), files=len(stored), skipped=len(skipped),
             endpoint=storage.name)  # fmt: skip


def results_to_storage(
    ctx: StagingContext,
    source: RemoteTree,
    patterns: Sequence[str],
    dest: RemoteTree,
    relay: Path,
    progress: Progress,
    *,
    newer_than_ns: int | None,
    skipped: list[SkippedFile],
    what: tuple[Text, Text],
) -> list[StagedFile]:
    """Copy the files of ``source`` matching ``patterns`` to ``dest`` on a storage endpoint
    through the spool directory ``relay``, each sha256 computed where it was read, checked when
    fetched and again where it landed. What cannot be stored safely (a link, a special file, a
    refused name) is appended to ``skipped``, never copied. Stage-out and "save as dataset"
    both come this way. ``what`` names the files in messages: where they land, and as fetched."""
    found = storable_results(
        ctx.stager.scan(source, patterns, newer_than_ns=newer_than_ns, skipped=skipped), skipped
    )
    if not found:
        return []
    expected = {f.path: f.sha256 for f in found}
    fetched = ctx.stager.download(source, sorted(expected), relay, progress=progress)
    verified(fetched, expected, what[1])
    return verified(ctx.stager.upload(relay, sorted(expected), dest, progress=progress), expected, what[0])


def storable_results(found: Iterable[StagedFile], skipped: list[SkippedFile]) -> list[StagedFile]:
    """The scanned files whose names the storage rules take (``storable_path``); the others
    are appended to ``skipped``. Decided per file: one name that could be read as an option
    (``-rf``) or that holds a control character costs the job that file, not its results.
    The stager refuses such a name anyway (its own check, before any command line)."""
    kept: list[StagedFile] = []
    for f in found:
        try:
            storable_path(f.path, "file")
        except UnsafeValue:
            skipped.append(SkippedFile(f.path, SkipKind.NAME))
        else:
            kept.append(f)
    return kept


def _record_dataset(
    session: Session,
    job: Job,
    storage: Storage,
    dataset_id: uuid.UUID,
    root: str,
    selection: str,
    files: Iterable[StagedFile],
    now: datetime,
) -> Dataset:
    existing = staging_repo.get_dataset(session, dataset_id)
    if existing is not None:  # a retry after the commit was lost: keep the first record
        return existing
    rows = list(files)
    dataset = Dataset(
        id=dataset_id,
        name=f"results of {job.job_name or 'job'} ({job.slurm_job_id or job.id})",
        owner_id=job.user_id,
        cluster=job.cluster,
        slurm_account=job.slurm_account,
        endpoint=storage.name,
        site=storage.site,
        region=storage.region,
        operator=storage.operator,
        root=root,
        selection=selection,
        file_count=len(rows),
        size_bytes=sum(f.size_bytes for f in rows),
        producer_job_id=job.id,
        created_at=now,
        files=[DatasetFile(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in rows],
    )
    session.add(dataset)
    session.add(DatasetUse(dataset_id=dataset_id, job_id=job.id, role=DatasetRole.OUTPUT, at=now))
    return dataset


def verified(result: Iterable[StagedFile], expected: Mapping[str, str], what: Text) -> list[StagedFile]:
    """The transfer's files, after checking each one's sha256 against what was expected."""
    got = {f.path: f for f in result}
    missing = sorted(set(expected) - set(got))
    if missing:
        raise StagingError(
            Text(
                "%(what)s: %(n)s file(s) missing after the transfer, e.g. %(path)s",
                what=what,
                n=len(missing),
                path=repr(missing[0]),
            )
        )
    for path, sha in expected.items():
        if got[path].sha256 != sha:
            raise ChecksumMismatch(
                Text(
                    "%(what)s: %(path)s arrived with sha256 %(got)s, expected %(expected)s",
                    what=what,
                    path=repr(path),
                    got=got[path].sha256,
                    expected=sha,
                )
            )
    return [got[path] for path in sorted(expected)]
