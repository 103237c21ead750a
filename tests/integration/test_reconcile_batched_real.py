"""On the REAL dev cluster: a tick reconciling 30 uncertain submissions of two
logins (alice 20, bob 10) runs at most one ``squeue`` and one ``sacct`` per login, counted on
the SSH runners that carry every command to the cluster.

Some of the submissions did reach Slurm (their sbatch reply "lost": submitted here with the
job's tag, held so they use no node); the others never did. Before the fix the tick looked
each tag up on its own: 30 squeue calls, and a sacct for every job squeue did not show.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerUnavailable
from myriagate.ports import CommandResult, SlurmBackend
from myriagate.profiles.loader import load_profile
from myriagate.runners import CertificateAuthority, SshConnectionPool, SshRunner
from myriagate.services.jobs import tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER
from tests.integration.conftest import DevCluster

# test_forged_slurm_records.py gives bob a job whose comment breaks lines, which makes his tag
# lookups ask again job by job: never at the same time as this count (one xdist worker runs
# both: tests/conftest.py ONE_WORKER).
pytestmark = pytest.mark.slurm
CLOCK = SystemClock()
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=2\nsleep 30\n"
ACCOUNTS = {"alice": "caen-climat", "bob": "rouen-chimie"}


class CountingRunner:
    """An SshRunner that counts the commands it runs, by name."""

    def __init__(self, pool: SshConnectionPool, login: str) -> None:
        self.inner, self.counts = SshRunner(pool, login), Counter[str]()

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
    ) -> CommandResult:
        self.counts[argv[0]] += 1
        return self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)


class LostReplies:
    """Backends whose sbatch never reaches Slurm (the job stays ``submitting``)."""

    def __init__(self, backends: dict[str, SlurmBackend]) -> None:
        self.backends = backends

    def for_login(self, login: str) -> SlurmBackend:
        backend = self.backends[login]

        class Lost:
            def submit(self, script: RenderedScript, *, tag: str) -> str:
                raise SchedulerUnavailable("ssh: connection reset before sbatch ran")

            def __getattr__(self, name: str) -> object:
                return getattr(backend, name)

        return Lost()  # type: ignore[return-value]

    def for_service(self) -> SlurmBackend:
        return self.backends["myriagate"]


class Logins:
    def __init__(self, backends: dict[str, SlurmBackend]) -> None:
        self.backends = backends

    def for_login(self, login: str) -> SlurmBackend:
        return self.backends[login]

    def for_service(self) -> SlurmBackend:
        return self.backends["myriagate"]


@pytest.fixture
def pool(devcluster: DevCluster) -> Iterator[SshConnectionPool]:
    p = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts,
                          CertificateAuthority(devcluster.ca_key))  # fmt: skip
    yield p
    p.close()


def test_thirty_uncertain_jobs_of_two_logins_cost_one_squeue_and_one_sacct_per_login(
    pool: SshConnectionPool, db: sessionmaker[Session], users: dict[str, User], gateway_settings: Settings
) -> None:
    runners = {login: CountingRunner(pool, login) for login in ("alice", "bob", "myriagate")}
    backends: dict[str, SlurmBackend] = {login: SlurmCliBackend(r) for login, r in runners.items()}
    profile = load_profile(CLUSTER, gateway_settings)
    reached: dict[str, str] = {}  # job id -> the Slurm id of the submissions that did reach Slurm
    with db() as session:
        jobs: list[Job] = []
        for login, n in (("alice", 20), ("bob", 10)):
            user = session.merge(users[login])
            for _ in range(n):
                request = SubmitRequest(
                    script_text=SCRIPT, cluster=CLUSTER, overrides={"account": ACCOUNTS[login]}
                )
                job = submit_job(session, backends=LostReplies(backends), profile=profile, user=user,
                                 request=request, clock=CLOCK)  # fmt: skip
                assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None), job.reason
                jobs.append(job)
        try:
            # A third of them did reach Slurm: the same script, with the job's tag (held).
            for job in jobs[::3]:
                script = RenderedScript(job.script_text, (*job.sbatch_args, "--hold"))
                reached[str(job.id)] = backends[job.cluster_login].submit(script, tag=job.tag)
            for r in runners.values():
                r.counts.clear()

            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=Logins(backends),
                clock=CLOCK,
                ledger=worker_ledger(CLOCK),
                uncertain_after_s=0,
                accounting_lag_s=3600,
            )

            for login in ("alice", "bob"):
                counts = runners[login].counts
                assert counts["squeue"] == 1, (login, counts)
                assert counts["sacct"] <= 1, (login, counts)
                assert counts["sbatch"] == 0, (login, counts)  # nothing resent before the lag
            session.expire_all()
            for job in jobs:
                fresh = session.get(Job, job.id)
                assert fresh is not None
                if str(job.id) in reached:  # queued (held): found by the one squeue
                    assert fresh.slurm_job_id == reached[str(job.id)], fresh.reason
                else:
                    assert (fresh.state, fresh.slurm_job_id) == (JobState.SUBMITTING, None)
        finally:
            for slurm_job_id in reached.values():
                subprocess.run(["scancel", slurm_job_id], capture_output=True, timeout=30, check=False)
