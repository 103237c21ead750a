"""The FakeSlurmBackend's test-driving knobs behave as the services' tests rely on."""

from __future__ import annotations

import pytest

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import PermissionDenied, SchedulerRejected, SchedulerUnavailable, SubmissionUncertain
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackend, FakeSlurmBackendFactory

SCRIPT = RenderedScript("#!/bin/sh\ntrue\n", ("--partition=court",))


def test_logins_share_one_cluster_and_polling_is_counted() -> None:
    factory = FakeSlurmBackendFactory()
    job_id = factory.for_login("alice").submit(SCRIPT, tag="mg:1")
    factory.cluster.reset_calls()

    status = factory.for_service().status([job_id, "5"])

    assert status[job_id].state is JobState.PENDING
    assert (factory.cluster.calls["squeue"], factory.cluster.calls["sacct"]) == (1, 1)
    assert factory.for_login("alice") is factory.for_login("alice")


def test_a_lost_submit_reply_leaves_a_job_findable_by_its_tag() -> None:
    cluster = FakeCluster()
    backend = FakeSlurmBackend(cluster)
    cluster.lose_response_after_submit()

    with pytest.raises(SubmissionUncertain):
        backend.submit(SCRIPT, tag="mg:lost")

    assert backend.find_by_tag("mg:lost") is not None
    assert backend.submit(SCRIPT, tag="mg:next") != backend.find_by_tag("mg:lost")


def test_failures_are_injected_once() -> None:
    cluster = FakeCluster()
    backend = FakeSlurmBackend(cluster)
    cluster.fail_next_submit(SchedulerRejected("Invalid account"))

    with pytest.raises(SchedulerRejected):
        backend.submit(SCRIPT, tag="mg:1")
    assert backend.submit(SCRIPT, tag="mg:1")

    cluster.set_unreachable()
    with pytest.raises(SchedulerUnavailable):
        backend.status(["1000"])
    assert not backend.ping().reachable


def test_states_are_driven_and_ended_jobs_move_to_accounting() -> None:
    cluster = FakeCluster()
    backend = FakeSlurmBackend(cluster)
    job_id = backend.submit(SCRIPT, tag="mg:1")

    cluster.set_state(job_id, "RUNNING")
    assert backend.status([job_id])[job_id].state is JobState.RUNNING
    cluster.finish(job_id, "OUT_OF_MEMORY", exit_code=0, signal=9, purge=True)
    cluster.reset_calls()

    status = backend.status([job_id])[job_id]
    assert (status.state, status.signal) == (JobState.OUT_OF_MEMORY, 9)
    assert cluster.calls["sacct"] == 1


def test_over_the_partition_limit_is_rejected_and_others_cannot_cancel() -> None:
    cluster = FakeCluster()
    alice, bob = FakeSlurmBackend(cluster, "alice"), FakeSlurmBackend(cluster, "bob")

    with pytest.raises(SchedulerRejected, match="time limit"):
        alice.submit(RenderedScript("#!/bin/sh\n", ("--partition=debug", "--time=2:00:00")), tag="mg:1")
    job_id = alice.submit(SCRIPT, tag="mg:2")
    with pytest.raises(PermissionDenied):
        bob.cancel(job_id)
