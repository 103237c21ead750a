"""--dependency through the gateway: ids looked up among the submitter's own jobs only, written
with Slurm's ids in the argv, and a job that waits in the gateway for a job still staging."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Job, User
from myriagate.domain.jobs import submission_tag
from myriagate.domain.sbatch_options import dependency
from myriagate.domain.states import JobState
from myriagate.errors import JobSpecInvalid
from myriagate.profiles.loader import load_profile
from myriagate.services.jobs import transitions
from myriagate.services.jobs.tracking import tick
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.staging.step import run_pending
from myriagate.services.submission.preview import preview_job
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.fakes.profiles import dev_profile
from tests.unit.test_services_staging import upload_files

SCRIPT = "#!/bin/bash\nsleep 1\n"


def submit(
    session: Session, backends: FakeSlurmBackendFactory, user: User, clock: FakeClock, **ov: str
) -> Job:
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=ov)
    return submit_job(
        session, backends=backends, profile=dev_profile(), user=user, request=request, clock=clock
    )


def add_job(
    session: Session,
    user: User,
    clock: FakeClock,
    state: JobState,
    *,
    slurm_job_id: str | None = None,
    job_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> Job:
    """A job of ``user`` as the gateway holds it (no sbatch): staging, ended before Slurm..."""
    job_id = job_id or uuid.uuid4()
    now = clock.now()
    job = Job(
        id=job_id, user_id=user.id, cluster=CLUSTER, cluster_login=user.cluster_login,
        slurm_account=user.accounts_on(CLUSTER)[0], partition="court", tag=submission_tag(job_id),
        state=state, slurm_job_id=slurm_job_id, reason=reason, script_text=SCRIPT, sbatch_args=[],
        spec={}, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(job)
    session.commit()
    return job


def sent_dependency(fake_cluster: FakeCluster, job: Job) -> str | None:
    assert job.slurm_job_id is not None
    args = fake_cluster.job(job.slurm_job_id).sbatch_args
    return next((a.removeprefix("--dependency=") for a in args if a.startswith("--dependency=")), None)


def run_tick(session: Session, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def reload(session: Session, job: Job) -> Job:
    session.expire_all()
    fresh = session.get(Job, job.id)
    assert fresh is not None
    return fresh


# --- translation ------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["full", "prefix", "slurm"])
def test_each_way_of_naming_ones_own_job_reaches_sbatch_as_its_slurm_id(
    how: str,
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    first = submit(session, backends, alice, clock)
    assert first.slurm_job_id is not None
    name = {"full": str(first.id), "prefix": str(first.id)[:8], "slurm": first.slurm_job_id}[how]

    second = submit(session, backends, alice, clock, dependency=f"afterok:{name}")

    assert second.state is JobState.PENDING
    assert sent_dependency(fake_cluster, second) == f"afterok:{first.slurm_job_id}"
    assert second.spec["dependency"] == f"afterok:{name}"  # the spec keeps what the user wrote


def test_delays_array_tasks_and_alternatives_are_kept(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    first = submit(session, backends, alice, clock)
    array = submit(session, backends, alice, clock, array="0-3")
    written = f"after:{first.id}+10?afterany:{array.slurm_job_id}_2"
    second = submit(session, backends, alice, clock, dependency=written)
    assert (
        sent_dependency(fake_cluster, second)
        == f"after:{first.slurm_job_id}+10?afterany:{array.slurm_job_id}_2"
    )


def test_a_dependency_on_a_job_already_ended_is_decided_by_the_gateway(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    # Slurm 22.05 counts a dependency on a job it has purged as met: the gateway's record decides.
    done = add_job(session, alice, clock, JobState.COMPLETED, slurm_job_id="9001")
    failed = add_job(session, alice, clock, JobState.FAILED, slurm_job_id="9002")
    met = submit(session, backends, alice, clock, dependency=f"afterok:{done.id},afternotok:{failed.id}")
    assert met.state is JobState.PENDING and sent_dependency(fake_cluster, met) is None
    before = session.scalar(sa.select(sa.func.count()).select_from(Job))
    with pytest.raises(
        JobSpecInvalid, match=f"afterok:{failed.id} can never be satisfied: job {failed.id} ended failed"
    ):
        submit(session, backends, alice, clock, dependency=f"afterok:{failed.id}")
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == before


# --- refusals ---------------------------------------------------------------------------
def test_another_users_job_is_refused_exactly_like_a_job_that_does_not_exist(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    bob: User,
    clock: FakeClock,
) -> None:
    theirs = submit(session, backends, bob, clock)
    assert theirs.slurm_job_id is not None
    sbatch_before = fake_cluster.calls["sbatch"]
    jobs_before = session.scalar(sa.select(sa.func.count()).select_from(Job))
    answers: dict[str, str] = {}
    # A prefix holding a letter: eight digits alone (2 % of uuids) read as a Slurm job id too.
    text = str(theirs.id)
    prefix = text[: max(8, next(i for i, c in enumerate(text) if c.isalpha()) + 1)]
    for label, word in {
        "their uuid": str(theirs.id),
        "no uuid": str(uuid.uuid4()),
        "their prefix": prefix,
        "their slurm id": theirs.slurm_job_id,
        "no slurm id": "99999",
    }.items():
        with pytest.raises(JobSpecInvalid) as caught:
            submit(session, backends, alice, clock, dependency=f"afterok:{word}")
        assert [f.loc for f in caught.value.fields] == [("dependency",)]
        answers[label] = caught.value.fields[0].message.replace(word, "<id>")
    assert answers["their uuid"] == answers["no uuid"] == answers["their prefix"]
    assert answers["their uuid"] == f"--dependency: no job of yours with id '<id>' on {CLUSTER}"
    assert answers["their slurm id"] == answers["no slurm id"]
    assert "submitted through the gateway" in answers["their slurm id"]
    assert fake_cluster.calls["sbatch"] == sbatch_before  # nothing sent
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == jobs_before  # nothing written


def test_a_prefix_shared_by_two_of_ones_jobs_is_ambiguous(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, bob: User, clock: FakeClock
) -> None:
    one = add_job(session, alice, clock, JobState.PENDING, slurm_job_id="700",
                  job_id=uuid.UUID("abcdef01-0000-4000-8000-000000000001"))  # fmt: skip
    add_job(session, alice, clock, JobState.PENDING, slurm_job_id="701",
            job_id=uuid.UUID("abcdef01-1000-4000-8000-000000000002"))  # fmt: skip
    # Bob's job shares a longer prefix: it is never counted, so never said to exist.
    add_job(session, bob, clock, JobState.PENDING, slurm_job_id="702",
            job_id=uuid.UUID("abcdef01-0000-4000-8000-000000000003"))  # fmt: skip
    with pytest.raises(
        JobSpecInvalid, match="'abcdef01' matches several of your jobs on devcluster; give more"
    ):
        submit(session, backends, alice, clock, dependency="afterok:abcdef01")
    job = submit(session, backends, alice, clock, dependency="afterok:abcdef01-0000")
    assert job.state is JobState.PENDING
    assert str(one.id).startswith("abcdef01-0000")


# --- waiting in the gateway -------------------------------------------------------------
def test_a_job_waits_for_a_dependee_still_staging_then_goes_with_its_slurm_id(
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    with session_factory() as session:
        staging = add_job(session, session.merge(alice), clock, JobState.STAGING_IN)
        waiting = submit(session, backends, session.merge(alice), clock, dependency=f"afterok:{staging.id}")
        waiting_id, staging_id = waiting.id, staging.id
        assert waiting.state is JobState.SUBMITTING and waiting.slurm_job_id is None
        assert waiting.reason == f"waiting for job {staging.id} (staging in) to reach Slurm (--dependency)"
        assert f"--dependency=afterok:{staging.id}" in waiting.sbatch_args
    assert fake_cluster.calls["sbatch"] == 0
    clock.advance(3600)  # long past the reconciliation delay: it is not taken for a lost submission
    with session_factory() as session:  # a new session, as after a restart: the state is all in the rows
        run_tick(session, backends, clock)
        assert reload(session, session.get(Job, waiting_id)).state is JobState.SUBMITTING  # type: ignore[arg-type]
    assert fake_cluster.calls["sbatch"] == 0
    # Never looked up by its tag either (squeue, sacct): it was never sent.
    assert fake_cluster.calls.get("squeue", 0) == 0 and fake_cluster.calls.get("sacct", 0) == 0

    with session_factory() as session:  # the dependee's inputs are in: it reaches Slurm
        dependee = session.get(Job, staging_id)
        assert dependee is not None
        transitions.move(session, dependee, JobState.SUBMITTING, at=clock.now())
        transitions.record_submitted(session, dependee, "4242", at=clock.now())
        session.commit()
        run_tick(session, backends, clock)
        sent = reload(session, session.get(Job, waiting_id))  # type: ignore[arg-type]
        assert sent.state is JobState.PENDING and sent.reason is None
        assert sent_dependency(fake_cluster, sent) == "afterok:4242"
        assert "--dependency=afterok:4242" in sent.sbatch_args
        actions = session.scalars(sa.select(AuditEvent.action).where(AuditEvent.target_id == str(waiting_id)))
        assert "job.dependency_released" in list(actions)
    assert fake_cluster.calls["sbatch"] == 1


@pytest.mark.parametrize(("kill", "ends"), [(None, JobState.FAILED), ("yes", JobState.CANCELLED)])
def test_a_dependee_failing_before_slurm_ends_the_waiting_job(
    kill: str | None,
    ends: JobState,
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    staging = add_job(session, alice, clock, JobState.STAGING_IN)
    extra = {"kill-on-invalid-dep": kill} if kill else {}
    waiting = submit(session, backends, alice, clock, dependency=f"afterok:{staging.id}", **extra)
    staging.reason = "stage-in failed: input.dat: no such file"
    transitions.move(session, staging, JobState.FAILED, at=clock.now(), reason=staging.reason, force=True)
    session.commit()

    run_tick(session, backends, clock)

    ended = reload(session, waiting)
    assert ended.state is ends
    assert ended.reason == (
        f"dependency never satisfied: afterok:{staging.id} can never be satisfied: job {staging.id} "
        "ended failed before reaching Slurm (stage-in failed: input.dat: no such file)"
    )
    assert fake_cluster.calls["sbatch"] == 0


def test_afterany_on_a_dependee_that_failed_before_slurm_is_sent_without_it(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    staging = add_job(session, alice, clock, JobState.STAGING_IN)
    other = submit(session, backends, alice, clock)
    waiting = submit(session, backends, alice, clock, dependency=f"afterany:{staging.id}:{other.id}")
    assert waiting.state is JobState.SUBMITTING
    transitions.move(session, staging, JobState.FAILED, at=clock.now(), force=True)
    session.commit()
    run_tick(session, backends, clock)
    sent = reload(session, waiting)
    assert sent.state is JobState.PENDING
    assert sent_dependency(fake_cluster, sent) == f"afterany:{other.slurm_job_id}"


# --- a chain whose first job stages its inputs --------------------------------------------
def test_a_chain_of_staged_jobs_goes_to_slurm_in_order(
    session: Session,
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    spool = tmp_path / "spool"
    ctx = StagingContext(
        session_factory=session_factory, profile=profile, backends=backends, clock=clock,
        stager=FakeStager(tmp_path / "hosts"), allowed_regions=["FR-NOR"], spool_dir=spool,
        holder="test-worker", max_attempts=3,
    )  # fmt: skip
    where = ResidencyContext(allowed_regions=("FR-NOR",), audit_session=session_factory)

    def staged_submit(**overrides: str) -> Job:
        upload = upload_files(session, alice, spool, clock, {"input.csv": b"1,2\n"})
        request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=overrides)
        staging = StagingRequest(upload_id=upload.id)
        return submit_job(session, backends=backends, profile=profile, user=alice, request=request,
                          clock=clock, staging=staging, residency=where)  # fmt: skip

    first = staged_submit()
    second = staged_submit(dependency=f"afterok:{first.id}")
    assert (first.state, second.state) == (JobState.STAGING_IN, JobState.STAGING_IN)

    assert run_pending(ctx) == 2  # both staged; the first is sent, the second waits for its id
    first, second = reload(session, first), reload(session, second)
    assert first.state is JobState.PENDING and first.slurm_job_id is not None
    assert second.state is JobState.SUBMITTING and second.slurm_job_id is None
    assert fake_cluster.calls["sbatch"] == 1

    run_tick(session, backends, clock)
    second = reload(session, second)
    assert second.state is JobState.PENDING
    assert sent_dependency(fake_cluster, second) == f"afterok:{first.slurm_job_id}"


def test_a_dry_run_answers_what_a_submission_would_send_or_refuse(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, bob: User, clock: FakeClock
) -> None:
    mine, theirs = submit(session, backends, alice, clock), submit(session, backends, bob, clock)

    def dry_run(word: str) -> tuple[str, ...]:
        request = SubmitRequest(
            script_text=SCRIPT, cluster=CLUSTER, overrides={"dependency": f"afterok:{word}"}
        )
        return preview_job(
            session, profile=dev_profile(), user=alice, request=request, clock=clock
        ).sbatch_args

    assert f"--dependency=afterok:{mine.slurm_job_id}" in dry_run(str(mine.id)[:8])
    with pytest.raises(JobSpecInvalid, match="no job of yours with id"):
        dry_run(str(theirs.id))


@pytest.mark.parametrize(
    "text",
    [
        "afterok:123\n:456",
        "afterok:abcdef12\n:456",
        "after:123+5\n:7",
        "afterok:1\n,afterok:2",
        "afterok:\u0661\u0662\u0663",
        "after:1+\u0665",
    ],
)
def test_a_newline_or_a_non_ascii_digit_in_a_dependency_is_refused_when_it_is_read(text: str) -> None:
    # '$' also matches before a final newline: 'afterok:123\n:456' read as the jobs '123\n' and
    # '456', and only the last guard before sbatch (commands.sbatch_options) refused it.
    with pytest.raises(JobSpecInvalid):
        dependency.parse(text)
