"""The demo's jobs: submitted through the gateway's own use case as their researchers, then
followed as the worker records them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.repos import users as users_repo
from myriagate.demo.data import DEMO_JOBS, STAGED_DEMO_INPUT, STAGED_DEMO_SCRIPT
from myriagate.services.staging import uploads
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.submission import Submission
from myriagate.services.submission.submit import SubmitRequest


def submit_demo_jobs(
    session: Session, *, submission: Submission, cluster: str, spool_dir: Path | None = None
) -> list[Job]:
    """Submit the demo jobs through the gateway's submission use case, as their researchers.

    With a spool, one more job stages an uploaded input in and its results out to the "caen"
    storage endpoint (data staging, FR-NOR).
    """
    jobs: list[Job] = []
    for username, script, overrides in DEMO_JOBS:
        user = users_repo.get_by_username(session, username)
        if user is None:
            raise LookupError(f"demo user {username} is missing: seed the users first")
        request = SubmitRequest(script_text=script, cluster=cluster, overrides=overrides, source="cli")
        jobs.append(submission.submit(session, user, request).job)
    if spool_dir is not None:
        jobs.append(_submit_staged_demo_job(session, submission, cluster, spool_dir))
    return jobs


def _submit_staged_demo_job(session: Session, submission: Submission, cluster: str, spool_dir: Path) -> Job:
    user = users_repo.get_by_username(session, "alice")
    if user is None:
        raise LookupError("demo user alice is missing: seed the users first")
    upload = uploads.create_upload(session, user=user, at=submission.clock.now(), source="cli")
    writer, path = uploads.open_file(
        session, upload_id=upload.id, path="data/temperatures.csv", user=user, spool_dir=spool_dir,
        max_bytes=len(STAGED_DEMO_INPUT),
    )  # fmt: skip
    writer.write(STAGED_DEMO_INPUT)
    sha256 = writer.finish(None)
    uploads.record_file(
        session, upload_id=upload.id, path=path, size_bytes=len(STAGED_DEMO_INPUT), sha256=sha256
    )
    request = SubmitRequest(script_text=STAGED_DEMO_SCRIPT, cluster=cluster, source="cli")
    staging = StagingRequest(upload_id=upload.id, output_patterns=["results/*"], store="caen")
    return submission.submit(session, user, request, staging).job


@dataclass(frozen=True)
class JobLine:
    """One row of the demo's live table."""

    job_id: str
    login: str
    job_name: str | None
    slurm_job_id: str | None
    state: str
    exit_code: int | None
    reason: str | None
    is_final: bool


def job_lines(session: Session, job_ids: Sequence[uuid.UUID]) -> list[JobLine]:
    """Fresh states of these jobs, as the worker last recorded them."""
    session.expire_all()
    lines: list[JobLine] = []
    for job_id in job_ids:
        job = session.get(Job, job_id)
        if job is None:
            continue
        lines.append(
            JobLine(
                str(job.id),
                job.cluster_login,
                job.job_name,
                job.slurm_job_id,
                job.state.value,
                job.exit_code,
                job.reason,
                job.state.is_final,
            )
        )
    return lines
