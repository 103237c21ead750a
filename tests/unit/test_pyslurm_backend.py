"""PyslurmBackend's refusals and its pyslurm-specific translations (over tests/fakes/fake_pyslurm).

Its behaviour as a SlurmBackend is in tests/contract (``pyslurm-fake``).
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import (
    ConfigError,
    PermissionDenied,
    SchedulerRejected,
    SchedulerUnavailable,
    SubmissionUncertain,
)
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from tests.fakes import fake_pyslurm
from tests.fakes.fake_slurm import FakeCluster


@pytest.fixture
def cluster() -> FakeCluster:
    made = FakeCluster()
    fake_pyslurm.connect(made, "alice")
    return made


def test_missing_pyslurm_is_a_config_error_saying_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # Absent whether or not this venv has it (deploy/pyslurm.sh installs it for the slurm tier).
    monkeypatch.setitem(sys.modules, "pyslurm", None)
    with pytest.raises(ConfigError, match="pyslurm"):
        PyslurmBackend("22.05.8")


def test_a_pyslurm_built_for_another_slurm_is_refused(cluster: FakeCluster) -> None:
    with pytest.raises(ConfigError, match=r"built for Slurm 25\.11.*cluster runs Slurm 22\.05\.8"):
        PyslurmBackend("22.05.8", module=fake_pyslurm)


def test_a_module_without_a_version_is_refused() -> None:
    with pytest.raises(ConfigError):
        PyslurmBackend("25.11", module=types.ModuleType("pyslurm"))


def test_matching_release_is_accepted_whatever_the_patch_level(cluster: FakeCluster) -> None:
    PyslurmBackend("25.11.3", module=fake_pyslurm)


def test_sbatch_options_become_submit_description_attributes(cluster: FakeCluster) -> None:
    backend = PyslurmBackend("25.11", module=fake_pyslurm)
    script = RenderedScript(
        "#!/bin/sh\n#SBATCH --partition=long\n#SBATCH --job-name=from-script\ntrue\n",
        ("--job-name=from-argv", "--cpus-per-task=3", "--mem=2G", "--time=10"),
    )

    job_id = backend.submit(script, tag="mg:x")

    job = cluster.job(job_id)
    assert (job.name, job.partition, job.cpus, job.mem_mb, job.time_limit_s) == (
        "from-argv",
        "long",
        3,
        2048,
        600,
    )
    assert job.tag == "mg:x"


def test_an_option_pyslurm_cannot_express_is_rejected(cluster: FakeCluster) -> None:
    backend = PyslurmBackend("25.11", module=fake_pyslurm)

    with pytest.raises(SchedulerRejected, match="--wckey"):
        backend.submit(RenderedScript("#!/bin/sh\n", ("--wckey=x",)), tag="mg:x")


def test_rpc_errors_become_our_errors(cluster: FakeCluster) -> None:
    backend = PyslurmBackend("25.11", module=fake_pyslurm)
    cluster.fail_next_submit(SchedulerRejected("Invalid account or account/partition combination specified"))
    with pytest.raises(SchedulerRejected, match="Invalid account"):
        backend.submit(RenderedScript("#!/bin/sh\n"), tag="mg:x")

    cluster.lose_response_after_submit()
    with pytest.raises(SubmissionUncertain):
        backend.submit(RenderedScript("#!/bin/sh\n"), tag="mg:y")
    assert backend.find_by_tag("mg:y") is not None

    cluster.set_unreachable()
    with pytest.raises(SchedulerUnavailable):
        backend.status(["1"])
    assert not backend.ping().reachable


def test_pending_array_tasks_folded_in_one_record_are_expanded(cluster: FakeCluster) -> None:
    backend = PyslurmBackend("25.11", module=fake_pyslurm)
    job_id = backend.submit(RenderedScript("#!/bin/sh\n", ("--array=0-4",)), tag="mg:a")
    cluster.set_state(f"{job_id}_1", "RUNNING")

    records = fake_pyslurm.Jobs.load()
    status = backend.status([job_id])[job_id]

    assert any(r.array_tasks_waiting == "0,2-4" for r in records.values())
    assert status.state is JobState.RUNNING
    assert [t.state for t in status.array_tasks] == [JobState.PENDING, JobState.RUNNING] + [
        JobState.PENDING
    ] * 3


def test_accounting_by_accounts_finds_finished_jobs_and_comments_their_tags() -> None:
    """The outside-jobs sweep works on a pyslurm cluster too."""
    from datetime import UTC, datetime, timedelta

    import tests.fakes.fake_pyslurm as fake_pyslurm
    from myriagate.domain.jobs import RenderedScript
    from myriagate.slurm.pyslurm_backend import PyslurmBackend
    from tests.fakes.fake_slurm import FakeCluster

    cluster = FakeCluster()
    fake_pyslurm.connect(cluster, "alice")
    backend = PyslurmBackend("25.11", login="alice", module=fake_pyslurm)
    mine = backend.submit(RenderedScript("#!/bin/bash\ntrue\n", ("--account=caen-climat",)), tag="mg:abc")
    other = backend.submit(RenderedScript("#!/bin/bash\ntrue\n", ("--account=rouen-chimie",)), tag="mg:def")
    cluster.finish(mine, "COMPLETED", exit_code=0)
    cluster.finish(other, "COMPLETED", exit_code=0)
    now = datetime.now(UTC)
    since, until = now - timedelta(days=1), now + timedelta(days=1)
    found = backend.accounting_by_accounts(["caen-climat"], since, until)
    assert [j.slurm_job_id for j in found] == [mine]
    assert backend.comments([mine, other]) == {mine: "mg:abc", other: "mg:def"}
    assert backend.accounting_by_accounts(["caen-climat"], since, until, slurm_job_ids=[other]) == []


def test_tail_never_blocks_on_a_fifo_nor_follows_a_link(cluster: FakeCluster, tmp_path: Path) -> None:
    # The gateway may read as root here: what the login put at its output path must not hang a
    # thread (a FIFO opened for reading waits for a writer) nor lead elsewhere (a link).
    backend = PyslurmBackend("25.11", module=fake_pyslurm)
    fifo = tmp_path / "job.out"
    os.mkfifo(fifo)
    with pytest.raises(PermissionDenied, match="not a regular file"):
        backend.tail(str(fifo))
    secret = tmp_path / "secret"
    secret.write_bytes(b"not yours\n")
    link = tmp_path / "link.out"
    link.symlink_to(secret)
    with pytest.raises(PermissionDenied, match="symbolic link"):
        backend.tail(str(link))
    plain = tmp_path / "plain.out"
    plain.write_bytes(b"line 1\nlast\n")
    assert backend.tail(str(plain), max_bytes=5) == b"last\n"
    assert backend.tail(str(tmp_path / "missing.out")) == b""
