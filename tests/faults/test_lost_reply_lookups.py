"""No duplicate job from a lost sbatch reply, even when accounting lags or lies.

The real ``SlurmCliBackend`` over a FakeRunner that replays what Slurm prints: sbatch's reply is
lost (the job may exist), then the tag lookups (``squeue``, ``sacct``) answer exit 0 with an
empty stdout. With a Slurm error on stderr ("Socket timed out") that answer is *unknown*, never
"absent"; even a clean empty answer is only believed when a second lookup, the accounting lag
later, says the same. Only then is the job sent again, once.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.db.models.audit import AuditEvent
from myriagate.domain.states import JobState
from myriagate.errors import ConfigError, SubmissionUncertain
from myriagate.profiles.loader import load_profile
from myriagate.services.jobs import tracking
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_runner import FakeRunner, load_capture

LAG_S = 60.0
SQUEUE_TIMEOUT = "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation\n"
SACCT_TIMEOUT = "sacct: error: Problem talking to the database: Socket timed out on send/recv operation\n"


class OneBackend:
    """A SlurmBackendFactory handing out one backend for every login."""

    def __init__(self, backend: SlurmCliBackend) -> None:
        self.backend = backend

    def for_login(self, login: str) -> SlurmCliBackend:
        return self.backend

    def for_service(self) -> SlurmCliBackend:
        return self.backend


def cluster_with_lost_reply(config: str = "scontrol_show_config") -> FakeRunner:
    """sbatch runs but its reply is lost; a later sbatch answers job 4242."""
    runner = FakeRunner()
    runner.reply("sbatch", "4242\n")
    runner.fail("sbatch", SubmissionUncertain("sbatch: no exit after 60 s, killed"), times=1)
    runner.reply_from("scontrol", config, when=lambda argv: argv[1:3] == ("show", "config"))
    runner.reply("printenv", "/home/alice\n")
    return runner


def submit(session: Session, runner: FakeRunner, user: User, clock: FakeClock) -> Job:
    request = SubmitRequest(script_text="#!/bin/bash\nsleep 60\n", cluster=CLUSTER,
                            overrides={"time": "00:10:00", "mem": "1000M"})  # fmt: skip
    return submit_job(session, backends=OneBackend(SlurmCliBackend(runner)),
                      profile=load_profile(CLUSTER, Settings(dev_mode=True)), user=user, request=request,
                      clock=clock)  # fmt: skip


def tick(session: Session, runner: FakeRunner, clock: FakeClock) -> None:
    backends = OneBackend(SlurmCliBackend(runner))
    tracking.tick(
        session,
        cluster=CLUSTER,
        backends=backends,
        clock=clock,
        ledger=worker_ledger(clock),
        uncertain_after_s=0,
        accounting_lag_s=LAG_S,
    )


def reload(session: Session, job: Job) -> Job:
    session.expire_all()
    found = session.get(Job, job.id)
    assert found is not None
    return found


def test_lookups_that_time_out_with_exit_0_never_cause_a_second_sbatch(
    session: Session, alice: User, clock: FakeClock
) -> None:
    runner = cluster_with_lost_reply()
    runner.reply("squeue", stderr=SQUEUE_TIMEOUT)  # exit 0, empty stdout, an error on stderr
    runner.reply("sacct", stderr=SACCT_TIMEOUT)
    job = submit(session, runner, alice, clock)
    assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None)

    for _ in range(4):  # the worker keeps looking, well past the accounting lag
        clock.advance(LAG_S + 1)
        tick(session, runner, clock)

    job = reload(session, job)
    assert runner.count("sbatch") == 1, "an unanswered lookup was taken for 'not submitted'"
    assert (job.state, job.slurm_job_id) == (JobState.SUBMITTING, None)
    assert runner.count("squeue") >= 5 and runner.count("sacct") >= 1  # it did keep asking


def test_a_clean_empty_answer_is_believed_only_when_repeated_after_the_lag(
    session: Session, alice: User, clock: FakeClock
) -> None:
    runner = cluster_with_lost_reply()
    runner.reply("squeue", "")  # exit 0, nothing on stderr: Slurm has no such job (yet)
    runner.reply("sacct", "")
    job = submit(session, runner, alice, clock)

    clock.advance(1)
    tick(session, runner, clock)  # first "absent": accounting may not have the job yet
    clock.advance(LAG_S - 2)
    tick(session, runner, clock)  # still within the lag
    assert runner.count("sbatch") == 1
    clock.advance(2)
    tick(session, runner, clock)  # absent again, the lag later: Slurm never got it
    tick(session, runner, clock)

    job = reload(session, job)
    assert runner.count("sbatch") == 2 and job.slurm_job_id == "4242"
    actions = session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.target_id == str(job.id)).order_by(AuditEvent.at)
    ).all()
    assert "job.tag_not_found" in actions and "job.resubmitting" in actions


def test_a_job_accounting_shows_late_is_found_not_sent_again(
    session: Session, alice: User, clock: FakeClock
) -> None:
    runner = cluster_with_lost_reply()
    runner.reply("squeue", "")
    runner.reply("sacct", "")
    job = submit(session, runner, alice, clock)
    clock.advance(1)
    tick(session, runner, clock)  # not in squeue (ended, purged) and not in slurmdbd yet
    # slurmdbd catches up: the job that ran is now in accounting, with its tag.
    runner.reply("sacct", f"4100\x1f{job.tag}\x1f4100\n")
    clock.advance(LAG_S + 1)
    tick(session, runner, clock)

    job = reload(session, job)
    assert runner.count("sbatch") == 1
    assert job.slurm_job_id == "4100"


def test_a_cluster_that_does_not_store_comments_is_a_config_error(
    session: Session, alice: User, clock: FakeClock, tmp_path: object
) -> None:
    stdout, _, _ = load_capture("scontrol_show_config")
    without = stdout.replace(b"= job_comment,job_script", b"= job_script")
    runner = cluster_with_lost_reply()
    runner.reply("scontrol", without, when=lambda argv: argv[1:3] == ("show", "config"))
    runner.reply("squeue", "")
    runner.reply("sacct", "")

    with pytest.raises(ConfigError, match="AccountingStoreFlags=job_comment"):
        submit(session, runner, alice, clock)
    assert runner.count("sbatch") == 1 and runner.count("squeue") == 0
