"""Reconciling many uncertain submissions makes at most one ``squeue`` and one
``sacct`` per login per tick, not one of each per job.

30 submissions of two logins (alice 20, bob 10) whose ``sbatch`` replies were lost. The tick
runs the real ``SlurmCliBackend`` of each login over a FakeRunner that replays what Slurm
prints (``--me`` listings framed by job id) and counts every command. Before the fix, the tick
ran ``find_by_tag`` per job: 30 squeue and ~25 sacct calls, and a cluster that was down was
asked once per job.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.states import JobState
from myriagate.errors import SchedulerUnavailable
from myriagate.services.jobs import tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_runner import FakeRunner
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

UNCERTAIN_AFTER_S = 120.0
LAG_S = 60.0
CONFIG = "AccountingStoreFlags    = job_comment,job_script\n"
SEP = "\x1f"


def lost_submissions(session: Session, user: User, n: int, clock: FakeClock) -> list[Job]:
    """``n`` jobs of ``user`` left in ``submitting``: Slurm never answered their sbatch."""
    cluster = FakeCluster(name=CLUSTER, clock=clock.now)
    backends = FakeSlurmBackendFactory(cluster)
    jobs = []
    for _ in range(n):
        cluster.fail_next_submit(SchedulerUnavailable("ssh: connection reset"))
        request = SubmitRequest(
            script_text="#!/bin/bash\nsleep 60\n", cluster=CLUSTER, overrides={"job-name": "run"}
        )
        job = submit_job(
            session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
        )
        assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None)
        jobs.append(job)
    return jobs


def listing(pairs: list[tuple[str, str]]) -> str:
    """What ``squeue --me``/``sacct`` print for the tag lookup: id, comment, id per job."""
    return "".join(f"{job_id}{SEP}{comment}{SEP}{job_id}\n" for job_id, comment in pairs)


class Logins:
    """A SlurmBackendFactory: each login's own SlurmCliBackend over its own FakeRunner."""

    def __init__(self, runners: dict[str, FakeRunner]) -> None:
        self.runners = runners
        self.backends = {login: SlurmCliBackend(runner) for login, runner in runners.items()}

    def for_login(self, login: str) -> SlurmCliBackend:
        return self.backends[login]

    def for_service(self) -> SlurmCliBackend:
        return self.backends["myriagate"]


def runner(squeue: str = "", sacct: str = "", *, sbatch_from: int = 9000) -> FakeRunner:
    fake = FakeRunner()
    fake.reply("scontrol", CONFIG, when=lambda argv: argv[1:3] == ("show", "config"))
    fake.reply("squeue", squeue)
    fake.reply("sacct", sacct)
    for n in range(40):  # a resubmission answers a fresh id
        fake.reply("sbatch", f"{sbatch_from + n}\n", times=1)
    return fake


def test_thirty_uncertain_jobs_of_two_logins_cost_one_squeue_and_one_sacct_per_login(
    session: Session, alice: User, bob: User, clock: FakeClock
) -> None:
    alice_jobs = lost_submissions(session, alice, 20, clock)
    bob_jobs = lost_submissions(session, bob, 10, clock)
    # Slurm did get some of them: alice's first 8 are queued, the next 6 have ended (accounting
    # only); bob's first 3 are queued. The rest never reached Slurm.
    alice_runner = runner(
        squeue=listing([("500", "someone else's comment")]
                       + [(str(1000 + i), j.tag) for i, j in enumerate(alice_jobs[:8])]),
        sacct=listing([(str(2000 + i), j.tag) for i, j in enumerate(alice_jobs[8:14])]),
    )  # fmt: skip
    bob_runner = runner(
        squeue=listing([(str(3000 + i), j.tag) for i, j in enumerate(bob_jobs[:3])]), sbatch_from=9500
    )
    service = FakeRunner().reply("squeue", "").reply("sacct", "")
    logins = Logins({"alice": alice_runner, "bob": bob_runner, "myriagate": service})

    clock.advance(UNCERTAIN_AFTER_S + 1)
    tracking.tick(
        session,
        cluster=CLUSTER,
        backends=logins,
        clock=clock,
        ledger=worker_ledger(clock),
        uncertain_after_s=UNCERTAIN_AFTER_S,
        accounting_lag_s=LAG_S,
    )

    for name, fake in (("alice", alice_runner), ("bob", bob_runner)):
        assert fake.count("squeue") == 1, f"{name}: one squeue for all its uncertain jobs"
        assert fake.count("sacct") == 1, f"{name}: one sacct for the tags squeue did not show"
        assert fake.count("sbatch") == 0  # one "not found" is not enough to send again
    session.expire_all()
    ids = {j.id: session.get_one(Job, j.id) for j in alice_jobs + bob_jobs}
    assert [ids[j.id].slurm_job_id for j in alice_jobs[:14]] == [str(1000 + i) for i in range(8)] + [
        str(2000 + i) for i in range(6)
    ]
    assert [ids[j.id].slurm_job_id for j in bob_jobs[:3]] == ["3000", "3001", "3002"]
    assert all(ids[j.id].state is JobState.SUBMITTING for j in alice_jobs[14:] + bob_jobs[3:])

    # The lag later, still absent from both clean answers: each is sent once, and the lookups
    # are again one squeue and one sacct per login.
    clock.advance(LAG_S + 1)
    tracking.tick(
        session,
        cluster=CLUSTER,
        backends=logins,
        clock=clock,
        ledger=worker_ledger(clock),
        uncertain_after_s=UNCERTAIN_AFTER_S,
        accounting_lag_s=LAG_S,
    )
    assert (alice_runner.count("squeue"), alice_runner.count("sacct"), alice_runner.count("sbatch")) == (
        2,
        2,
        6,
    )
    assert (bob_runner.count("squeue"), bob_runner.count("sacct"), bob_runner.count("sbatch")) == (2, 2, 7)


def test_a_cluster_that_does_not_answer_is_asked_once_per_login_not_once_per_job(
    session: Session, alice: User, bob: User, clock: FakeClock
) -> None:
    lost_submissions(session, alice, 12, clock)
    lost_submissions(session, bob, 5, clock)
    down = {login: FakeRunner() for login in ("alice", "bob")}
    for fake in down.values():
        fake.reply("scontrol", CONFIG, when=lambda argv: argv[1:3] == ("show", "config"))
        fake.fail("squeue", SchedulerUnavailable("ssh: connection refused"))
    service = FakeRunner().reply("squeue", "").reply("sacct", "")
    clock.advance(UNCERTAIN_AFTER_S + 1)

    tracking.tick(
        session,
        cluster=CLUSTER,
        backends=Logins({**down, "myriagate": service}),
        clock=clock,
        ledger=worker_ledger(clock),
        uncertain_after_s=UNCERTAIN_AFTER_S,
        accounting_lag_s=LAG_S,
    )

    assert [down[login].count("squeue") for login in ("alice", "bob")] == [1, 1]
    assert [down[login].count("sacct") for login in ("alice", "bob")] == [0, 0]
    assert sum(down[login].count("sbatch") for login in ("alice", "bob")) == 0


def test_an_answer_with_a_slurm_error_leaves_the_tags_it_did_not_show_unknown() -> None:
    fake = FakeRunner()
    fake.reply("scontrol", CONFIG, when=lambda argv: argv[1:3] == ("show", "config"))
    fake.reply("squeue", listing([("77", "mg:queued")]))
    timed_out = "sacct: error: Problem talking to the database: Socket timed out on send/recv operation\n"
    fake.reply("sacct", listing([("78", "mg:ended")]), stderr=timed_out)
    answer = SlurmCliBackend(fake).find_by_tags(["mg:queued", "mg:ended", "mg:lost"])
    # Found is found, whatever stderr says; "mg:lost" is not declared absent: it is left out.
    assert answer == {"mg:queued": "77", "mg:ended": "78"}
    assert (fake.count("squeue"), fake.count("sacct")) == (1, 1)

    clean = FakeRunner()
    clean.reply("scontrol", CONFIG, when=lambda argv: argv[1:3] == ("show", "config"))
    clean.reply("squeue", listing([("77", "mg:queued")])).reply("sacct", "")
    assert SlurmCliBackend(clean).find_by_tags(["mg:queued", "mg:lost"]) == {
        "mg:queued": "77",
        "mg:lost": None,
    }
    only_queued = FakeRunner()
    only_queued.reply("scontrol", CONFIG, when=lambda argv: argv[1:3] == ("show", "config"))
    only_queued.reply("squeue", listing([("77", "mg:queued")]))
    assert SlurmCliBackend(only_queued).find_by_tags(["mg:queued"]) == {"mg:queued": "77"}
    assert only_queued.count("sacct") == 0  # every tag was in the queue: no sacct at all
