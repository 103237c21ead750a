"""Tracking keeps how a job ended (peak memory, request, time limit) and who cancelled it: the
gateway user who asked, or the login Slurm names when someone cancelled it on the cluster."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models import Job, Notification, User
from myriagate.domain.jobs import JobStatus
from myriagate.domain.notification_text import render
from myriagate.domain.notifications import NotificationKind
from myriagate.domain.states import JobState
from myriagate.services.jobs import tracking
from myriagate.services.jobs.cancel import cancel_job
from myriagate.services.submission.submit import SubmitRequest, submit_job
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

MiB = 2**20


def submit(session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock) -> Job:
    request = SubmitRequest(
        script_text="#!/bin/bash\nsleep 60\n", cluster=CLUSTER, overrides={"job-name": "x"}
    )
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def ended(job: Job, raw: str, state: JobState, **fields: object) -> JobStatus:
    assert job.slurm_job_id is not None
    base = JobStatus(job.slurm_job_id, state, raw, exit_code=0, signal=0)
    return replace(base, **fields)  # type: ignore[arg-type]


def test_memory_and_time_limit_are_kept_with_the_end(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    status = ended(job, "FAILED", JobState.FAILED, signal=9, max_rss_bytes=300 * MiB,
                   mem_requested_bytes=100 * MiB, time_limit_s=120)  # fmt: skip

    assert tracking.apply_status(session, job, status, now=clock.now())
    session.commit()

    assert (job.state, job.signal, job.max_rss_bytes, job.mem_requested_bytes, job.time_limit_s) == (
        JobState.FAILED, 9, 300 * MiB, 100 * MiB, 120,
    )  # fmt: skip
    assert job.status_fingerprint == status.fingerprint
    assert status.fingerprint != replace(status, max_rss_bytes=None).fingerprint


def test_a_cancel_asked_through_the_gateway_keeps_the_askers_name(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    cancel_job(session, job_id=job.id, user=alice, backends=backends, clock=clock)
    assert job.cancelled_by == alice.username

    # scancel ran as her login, which Slurm names: the gateway knows better who asked.
    tracking.apply_status(session, job, ended(job, "CANCELLED by 1001", JobState.CANCELLED,
                                              cancelled_by="alice"), now=clock.now())  # fmt: skip
    assert (job.state, job.cancelled_by) == (JobState.CANCELLED, alice.username)


def test_a_cancel_on_the_cluster_is_named_as_slurm_names_it(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    tracking.apply_status(session, job, ended(job, "CANCELLED by 0", JobState.CANCELLED, cancelled_by="root"),
                          now=clock.now())  # fmt: skip
    assert job.cancelled_by == "root"

    other = submit(session, backends, alice, clock)
    cancel_job(session, job_id=other.id, user=alice, backends=backends, clock=clock)
    # Asked through the gateway, but a Slurm coordinator's scancel got there first.
    tracking.apply_status(session, other, ended(other, "CANCELLED by 1003", JobState.CANCELLED,
                                                cancelled_by="carol"), now=clock.now())  # fmt: skip
    assert other.cancelled_by == "carol"


def test_a_cancel_the_pyslurm_backend_sent_as_root_keeps_the_askers_name(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    cancel_job(session, job_id=job.id, user=alice, backends=backends, clock=clock)
    # pyslurm cancels from the gateway's root process: Slurm (and pyslurm) name root.
    tracking.apply_status(session, job, ended(job, "CANCELLED", JobState.CANCELLED, cancelled_by="root"),
                          now=clock.now())  # fmt: skip
    assert job.cancelled_by == alice.username


def test_an_unnamed_canceller_leaves_no_uid(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    tracking.apply_status(session, job, ended(job, "CANCELLED by 4242", JobState.CANCELLED), now=clock.now())
    assert job.cancelled_by is None and job.state is JobState.CANCELLED


def test_the_failure_email_gives_no_exit_code_for_a_timeout_and_the_signal_for_a_kill(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    alice.email = "alice@unicaen.fr"
    late, killed = submit(session, backends, alice, clock), submit(session, backends, alice, clock)
    tracking.apply_status(session, late, ended(late, "TIMEOUT", JobState.TIMEOUT), now=clock.now())
    tracking.apply_status(
        session, killed, ended(killed, "FAILED", JobState.FAILED, signal=9), now=clock.now()
    )
    session.commit()

    rows = session.scalars(sa.select(Notification).order_by(Notification.id)).all()
    payloads = {row.payload["job_id"]: row.payload for row in rows}
    assert payloads[str(late.id)]["exit_code"] is None, "sacct's 0 is not its exit code"
    assert (payloads[str(killed.id)]["exit_code"], payloads[str(killed.id)]["signal"]) == (None, 9)
    assert "Exit code" not in render(NotificationKind.JOB_FAILED, payloads[str(late.id)], "en").body


def test_a_job_that_ran_ends_without_the_reason_it_once_waited_for(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    """sacct's Reason is the last reason a job *waited* for, kept for good: an array that
    waited on its %2 limit, then failed a task, read 'failed — waiting: the array's limit of
    tasks running at once is reached' in its timeline (found trying it as a researcher)."""
    job = submit(session, backends, alice, clock)
    assert job.slurm_job_id is not None
    waiting = JobStatus(job.slurm_job_id, JobState.PENDING, "PENDING", reason="JobArrayTaskLimit")
    tracking.apply_status(session, job, waiting, now=clock.now())
    assert job.reason == "JobArrayTaskLimit"
    now = clock.now()
    running = replace(waiting, state=JobState.RUNNING, slurm_state="RUNNING", reason=None, started_at=now)
    tracking.apply_status(session, job, running, now=clock.now())
    failed = ended(job, "FAILED", JobState.FAILED, exit_code=2, reason="JobArrayTaskLimit", started_at=now)
    tracking.apply_status(session, job, failed, now=clock.now())
    session.commit()

    last = job.history[-1]
    assert (last.to_state, last.reason) == (JobState.FAILED, None)
    assert job.reason is None


def test_a_job_cancelled_while_waiting_keeps_what_it_waited_for(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    job = submit(session, backends, alice, clock)
    cancelled = ended(job, "CANCELLED by 0", JobState.CANCELLED, reason="AssocGrpBillingMinutes")
    tracking.apply_status(session, job, cancelled, now=clock.now())
    session.commit()

    assert (job.history[-1].reason, job.reason) == ("AssocGrpBillingMinutes", "AssocGrpBillingMinutes")
