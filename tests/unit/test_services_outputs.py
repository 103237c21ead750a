"""Reading a job's output: the owner only, the right file, as the job's own login."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.errors import NotFound, SchedulerUnavailable
from myriagate.services.jobs.outputs import read_output
from myriagate.services.jobs.tracking import tick
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile


def submit(
    session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock, **spec: str
) -> Job:
    overrides = {"job-name": "run", **spec}
    request = SubmitRequest(script_text="#!/bin/bash\necho hi\n", cluster=CLUSTER, overrides=overrides)
    job = submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )
    # The tick learns the work dir.
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    return job


def test_the_default_output_file_is_read_from_the_work_dir(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    fake_cluster.write_file(f"/home/alice/slurm-{job.slurm_job_id}.out", b"line 1\nline 2\n")

    assert read_output(session, job_id=job.id, user=alice, backends=backends) == b"line 1\nline 2\n"
    assert read_output(session, job_id=job.id, user=alice, backends=backends, max_bytes=7) == b"line 2\n"


def test_the_error_stream_follows_the_error_pattern(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, chdir="run", error="logs/%x-%j.err")
    fake_cluster.write_file(f"/home/alice/run/logs/run-{job.slurm_job_id}.err", b"oops\n")

    assert read_output(session, job_id=job.id, user=alice, backends=backends, stream="error") == b"oops\n"


def test_an_array_tasks_output(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock, array="0-2")
    fake_cluster.write_file(f"/home/alice/slurm-{job.slurm_job_id}_2.out", b"task 2\n")

    out = read_output(session, job_id=job.id, user=alice, backends=backends, array_task_id=2)
    assert out == b"task 2\n"


def test_a_job_slurm_does_not_know_yet_has_no_output(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    fake_cluster.fail_next_submit(SchedulerUnavailable("down"))
    job = submit(session, backends, alice, clock)
    assert read_output(session, job_id=job.id, user=alice, backends=backends) == b""
    assert fake_cluster.calls["tail"] == 0


def test_someone_elses_output_is_not_found(
    session: Session, backends: FakeSlurmBackendFactory, fake_cluster: FakeCluster, alice: User, bob: User,
    clock: FakeClock,
) -> None:  # fmt: skip
    job = submit(session, backends, alice, clock)
    with pytest.raises(NotFound):
        read_output(session, job_id=job.id, user=bob, backends=backends)
    with pytest.raises(NotFound):
        read_output(session, job_id=uuid.uuid4(), user=alice, backends=backends)
    assert fake_cluster.calls["tail"] == 0


def test_no_database_connection_is_held_while_the_output_is_read(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    job = submit(session, backends, alice, clock)
    fake_cluster.write_file(f"/home/alice/slurm-{job.slurm_job_id}.out", b"hi\n")
    session.expire_all()
    seen: list[bool] = []
    fake_cluster.on_call = lambda _command: seen.append(session.in_transaction())
    assert read_output(session, job_id=job.id, user=alice, backends=backends) == b"hi\n"
    assert seen == [False]  # the SSH tail ran with the pooled connection given back
