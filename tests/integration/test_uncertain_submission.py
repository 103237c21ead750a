"""Idempotent submission on the REAL cluster: the connection dies around sbatch.

The SSH connection carrying ``sbatch`` is really cut (its TCP socket shut down) at several
moments of the exchange, and the gateway "crashes" between sbatch and its database commit.
Whatever happened, after the tag lookup and the worker's reconciliation there is exactly one
Slurm job carrying the submission's tag: never zero, never two.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.ports import CommandResult, SlurmBackend
from myriagate.profiles.loader import load_profile
from myriagate.runners import SshConnectionPool, SshRunner
from myriagate.services.jobs import tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm
CLOCK = SystemClock()


class CuttingRunner:
    """An SshRunner whose TCP connection is shut down ``cut_after_s`` into each sbatch."""

    def __init__(self, pool: SshConnectionPool, login: str, cut_after_s: float | None) -> None:
        self.pool, self.inner, self.cut_after_s = pool, SshRunner(pool, login), cut_after_s
        self.login = login
        self.cuts = 0

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
    ) -> CommandResult:
        if argv[0] != "sbatch" or self.cut_after_s is None:
            return self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)
        transport = self.pool.transport_for(self.login)
        assert transport is not None, "warm the pool first"
        sock = transport.sock

        def cut() -> None:
            time.sleep(self.cut_after_s or 0)
            self.cuts += 1
            try:
                assert isinstance(sock, socket.socket)
                sock.shutdown(socket.SHUT_RDWR)  # the network dies under the command
            except OSError:
                pass

        cutter = threading.Thread(target=cut, daemon=True)
        cutter.start()
        try:
            return self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)
        finally:
            # An sbatch quicker than the delay ends before the cut; the cut still lands (on the
            # now idle connection) before the caller goes on, so every run is cut exactly once.
            cutter.join()


class Backends:
    def __init__(self, user_backend: SlurmBackend, service_backend: SlurmBackend) -> None:
        self.user_backend, self.service_backend = user_backend, service_backend

    def for_login(self, login: str) -> SlurmBackend:
        return self.user_backend

    def for_service(self) -> SlurmBackend:
        return self.service_backend


@pytest.fixture
def pool(devcluster: DevCluster) -> Iterator[SshConnectionPool]:
    from myriagate.runners import CertificateAuthority

    p = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts,
                          CertificateAuthority(devcluster.ca_key))  # fmt: skip
    yield p
    p.close()


def slurm_jobs_with_tag(tag: str) -> list[str]:
    """Every Slurm job carrying ``tag`` in its comment, queued or finished (asked as root)."""
    found = set()
    out = subprocess.run(["squeue", "-h", "-a", "-o", "%i\x1f%k"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        job, _, comment = line.partition("\x1f")
        if comment == tag:
            found.add(job)
    out = subprocess.run(["sacct", "-a", "-n", "-X", "-P", "--delimiter=\x1f", "-S", "now-1hours",
                          "-o", "JobID,Comment"], capture_output=True, text=True, check=True)  # fmt: skip
    for line in out.stdout.splitlines():
        job, _, comment = line.partition("\x1f")
        if comment == tag:
            found.add(job)
    return sorted(found)


def count_with_tag_eventually(tag: str, timeout_s: float = 20.0) -> list[str]:
    # slurmdbd records a job a moment after slurmctld: look until the answer is stable.
    deadline = time.monotonic() + timeout_s
    jobs = slurm_jobs_with_tag(tag)
    while time.monotonic() < deadline:
        time.sleep(2)
        again = slurm_jobs_with_tag(tag)
        if again == jobs and jobs:
            return jobs
        jobs = again
    return jobs


@pytest.mark.parametrize("cut_after_s", [0.0, 0.003, 0.008, 0.02])
def test_connection_cut_during_sbatch_gives_exactly_one_job(
    cut_after_s: float,
    pool: SshConnectionPool,
    db: sessionmaker[Session],
    users: dict[str, User],
    gateway_settings: Settings,
) -> None:
    runner = CuttingRunner(pool, "alice", cut_after_s)
    runner.inner.run(["true"])  # warm the pooled transport we are going to cut
    user_backend = SlurmCliBackend(runner)
    backends = Backends(user_backend, SlurmCliBackend(SshRunner(pool, "myriagate")))
    profile = load_profile(CLUSTER, gateway_settings)
    with db() as session:
        job = submit_job(
            session, backends=backends, profile=profile, user=session.merge(users["alice"]),
            request=SubmitRequest(script_text="#!/bin/bash\nsleep 1\n", cluster=CLUSTER,
                                  overrides={"partition": "debug", "time": "1", "job-name": "mg-cut"}),
            clock=CLOCK,
        )  # fmt: skip
        job_id, tag = job.id, job.tag
    assert runner.cuts == 1
    # The worker reconciles what the submit could not settle: lookup first, resubmit only
    # when Slurm provably never got it. The cut is over: later commands use a new connection.
    runner.cut_after_s = None
    deadline = time.monotonic() + 60
    while True:
        with db() as session:
            # A cut before sbatch ran leaves no job: resent once two lookups 2 s apart miss it.
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=backends,
                clock=CLOCK,
                ledger=worker_ledger(CLOCK),
                uncertain_after_s=0,
                accounting_lag_s=2,
            )
            job = session.get_one(Job, job_id)
            if job.slurm_job_id is not None or time.monotonic() > deadline:
                break
        time.sleep(1)
    assert job.slurm_job_id is not None, f"never settled: {job.state} {job.reason}"
    assert count_with_tag_eventually(tag) == [job.slurm_job_id]


def test_crash_between_sbatch_and_commit_is_reconciled_to_one_job(
    pool: SshConnectionPool, db: sessionmaker[Session], users: dict[str, User], gateway_settings: Settings
) -> None:
    """sbatch ran, then the gateway died before recording the Slurm id: the tag finds it."""
    backend = SlurmCliBackend(SshRunner(pool, "alice"))
    backends = Backends(backend, SlurmCliBackend(SshRunner(pool, "myriagate")))
    profile = load_profile(CLUSTER, gateway_settings)

    class DiesAfterSbatch:
        """The backend runs sbatch for real, then the 'process' dies before the commit."""

        def for_login(self, login: str) -> SlurmBackend:
            return self  # type: ignore[return-value]

        def for_service(self) -> SlurmBackend:
            return self  # type: ignore[return-value]

        def submit(self, script: RenderedScript, *, tag: str) -> str:
            backend.submit(script, tag=tag)
            raise KeyboardInterrupt("gateway killed")

    with db() as session, pytest.raises(KeyboardInterrupt):
        submit_job(
            session, backends=DiesAfterSbatch(), profile=profile, user=session.merge(users["alice"]),
            request=SubmitRequest(script_text="#!/bin/bash\ntrue\n", cluster=CLUSTER,
                                  overrides={"partition": "debug", "time": "1"}),
            clock=CLOCK,
        )  # fmt: skip
    with db() as session:
        (job,) = jobs_repo_all(session)
        assert job.state is JobState.SUBMITTING and job.slurm_job_id is None  # the intent survived
        tag = job.tag
        tracking.tick(
            session,
            cluster=CLUSTER,
            backends=backends,
            clock=CLOCK,
            ledger=worker_ledger(CLOCK),
            uncertain_after_s=0,
        )
        job = session.get_one(Job, job.id)
        assert job.slurm_job_id is not None
    assert count_with_tag_eventually(tag) == [job.slurm_job_id]


def jobs_repo_all(session: Session) -> list[Job]:
    from sqlalchemy import select

    return list(session.scalars(select(Job)))
