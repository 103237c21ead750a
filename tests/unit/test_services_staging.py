"""Data staging through the services: submit with inputs/outputs, the worker's staging step,
residency refusals, integrity failures and retries (FakeStager over local directories,
FakeSlurm for the cluster)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Dataset, DatasetUse, Job, JobStaging, Upload, User
from myriagate.domain.states import JobState
from myriagate.errors import (
    ChecksumMismatch,
    InvalidRequest,
    NotFound,
    ResidencyViolation,
    StagingError,
    UnsafeValue,
)
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs import cancel, tracking
from myriagate.services.staging import uploads
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.staging.step import run_pending
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock, add_project
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.fakes.hostile import HOSTILE_STRINGS

SCRIPT = (
    "#!/bin/bash\n#SBATCH --job-name=climate\n#SBATCH --time=00:10:00\ncat data/input.csv > results/out.h5\n"
)


@pytest.fixture
def profile() -> ClusterProfile:
    return load_profile(CLUSTER, Settings(dev_mode=True))


@pytest.fixture
def stager(tmp_path: Path) -> FakeStager:
    return FakeStager(tmp_path / "hosts")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def ctx(
    session_factory: sessionmaker[Session],
    profile: ClusterProfile,
    backends: FakeSlurmBackendFactory,
    stager: FakeStager,
    clock: FakeClock,
    spool: Path,
) -> StagingContext:
    return StagingContext(
        session_factory=session_factory,
        profile=profile,
        backends=backends,
        stager=stager,
        clock=clock,
        allowed_regions=["FR-NOR"],
        spool_dir=spool,
        holder="test-worker",
        max_attempts=3,
    )


def residency(
    session_factory: sessionmaker[Session], regions: tuple[str, ...] = ("FR-NOR",)
) -> ResidencyContext:
    return ResidencyContext(allowed_regions=regions, audit_session=session_factory)


def upload_files(
    session: Session, user: User, spool: Path, clock: FakeClock, files: dict[str, bytes]
) -> Upload:
    upload = uploads.create_upload(session, user=user, at=clock.now())
    for path, data in files.items():
        writer, clean = uploads.open_file(
            session, upload_id=upload.id, path=path, user=user, spool_dir=spool, max_bytes=1 << 20
        )
        for start in range(0, len(data), 7):  # several chunks, as a stream arrives
            writer.write(data[start : start + 7])
        sha = writer.finish(hashlib.sha256(data).hexdigest())
        uploads.record_file(session, upload_id=upload.id, path=clean, size_bytes=len(data), sha256=sha)
    return upload


def submit(
    session: Session,
    session_factory: sessionmaker[Session],
    backends: FakeSlurmBackendFactory,
    profile: ClusterProfile,
    user: User,
    clock: FakeClock,
    staging: StagingRequest,
    regions: tuple[str, ...] = ("FR-NOR",),
    **overrides: str,
) -> Job:
    return submit_job(
        session,
        backends=backends,
        profile=profile,
        user=user,
        request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER, overrides=overrides),
        clock=clock,
        staging=staging,
        residency=residency(session_factory, regions),
    )


def host_dir(stager: FakeStager, port: int, root: str) -> Path:
    return stager.base / f"127.0.0.1_{port}" / root.lstrip("/")


def test_inputs_are_staged_verified_then_the_job_is_submitted(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    data = {"data/input.csv": b"t,x\n0,1\n" * 100, "params.toml": b"steps = 3\n"}
    upload = upload_files(session, alice, spool, clock, data)
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )

    assert job.state is JobState.STAGING_IN and job.slurm_job_id is None
    assert fake_cluster.calls.get("submit", 0) == 0  # nothing reaches sbatch before the inputs
    assert "--chdir=myriagate-jobs/" + str(job.id) in " ".join(job.sbatch_args)

    assert run_pending(ctx) == 1
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.PENDING and job.slurm_job_id is not None
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}")
    assert (job_dir / "data/input.csv").read_bytes() == data["data/input.csv"]
    plan = session.get(JobStaging, job.id)
    assert plan is not None and plan.job_dir == f"/home/alice/myriagate-jobs/{job.id}"
    assert {row["path"]: row["sha256"] for row in plan.staged_inputs} == {
        path: hashlib.sha256(content).hexdigest() for path, content in data.items()
    }
    assert not uploads.upload_dir(spool, upload.id).exists()  # spool freed once verified
    states = [c.to_state for c in job.history]
    assert states[:3] == [JobState.STAGING_IN, JobState.SUBMITTING, JobState.PENDING]
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "job.stage_in")
        )
        == 1
    )


def refreshed(session: Session, job: Job) -> Job:
    """``job`` as the database has it now (rebinding it also tells mypy its state may differ)."""
    session.refresh(job)
    return job


def started_in_own_dir(session: Session, ctx: StagingContext, stager: FakeStager, job: Job) -> Path:
    """Run the stage-in step that makes a results-only job's own directory; that directory."""
    assert job.state is JobState.STAGING_IN
    assert run_pending(ctx) == 1
    job = refreshed(session, job)
    assert job.state is JobState.PENDING, job.reason
    return host_dir(stager, 2222, f"/home/{job.cluster_login}/myriagate-jobs/{job.id}")


def finish_in_slurm(session: Session, job: Job, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
                    clock: FakeClock) -> None:  # fmt: skip
    assert job.slurm_job_id is not None
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def test_outputs_go_to_the_regional_endpoint_as_a_dataset_then_the_job_completes(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    request = StagingRequest(output_patterns=["results/*.h5", "logs/**/*.txt"], store="caen")
    job = submit(session, session_factory, backends, profile, alice, clock, request)
    # No inputs, but results: the job gets a fresh directory of its own before sbatch.
    assert job.state is JobState.STAGING_IN and job.stage_out
    assert run_pending(ctx) == 1
    job = refreshed(session, job)
    assert job.state is JobState.PENDING
    assert job.spec["chdir"] == f"myriagate-jobs/{job.id}"
    work = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}")
    assert work.is_dir() and not any(work.iterdir())
    outputs = {"results/a.h5": b"\x89HDF" + b"1" * 50, "results/b.h5": b"\x89HDF2", "logs/x/y/run.txt": b"ok"}
    for path, content in outputs.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    (work / "results/ignored.csv").write_bytes(b"not matched")

    finish_in_slurm(session, job, fake_cluster, backends, clock)
    job = refreshed(session, job)
    assert job.state is JobState.STAGING_OUT  # Slurm is done, the results are not stored yet

    assert run_pending(ctx) == 1
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.COMPLETED and not job.stage_out
    dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job.id)).one()
    assert (dataset.endpoint, dataset.site, dataset.region) == ("caen", "Caen", "FR-NOR")
    assert {f.path: f.sha256 for f in dataset.files} == {
        path: hashlib.sha256(content).hexdigest() for path, content in outputs.items()
    }
    assert dataset.size_bytes == sum(len(c) for c in outputs.values())
    stored = host_dir(stager, 2223, dataset.root)
    # Where results go is random, chosen at submission: no link can be planted there in advance.
    plan = session.get(JobStaging, job.id)
    assert plan is not None and plan.output_dir and str(dataset.id) not in plan.output_dir
    assert dataset.root == f"/srv/myriagate-storage/caen/caen-climat/{plan.output_dir}"
    assert dataset.selection == "job_dir"
    assert (stored / "results/a.h5").read_bytes() == outputs["results/a.h5"]
    assert not (stored / "results/ignored.csv").exists()
    assert session.get(DatasetUse, (dataset.id, job.id, "output")) is not None


def test_storage_outside_normandy_is_refused_at_submit_and_audited(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, fake_cluster: FakeCluster, stager: FakeStager,
) -> None:  # fmt: skip
    with pytest.raises(ResidencyViolation, match=r"Paris.*FR-IDF"):
        submit(session, session_factory, backends, profile, alice, clock,
               StagingRequest(output_patterns=["out/*"], store="paris"))  # fmt: skip
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert fake_cluster.calls.get("submit", 0) == 0
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")).one()
    assert event.actor == str(alice.id)
    assert event.detail["endpoint"] == "paris" and event.detail["region"] == "FR-IDF"
    assert event.detail["allowed_regions"] == ["FR-NOR"]
    assert not (stager.base / "127.0.0.1_2223").exists()  # not a byte moved


def test_worker_rechecks_residency_before_moving_outputs(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    job = submit(session, session_factory, backends, profile, alice, clock,
                 StagingRequest(output_patterns=["*.out"], store="caen"))  # fmt: skip
    (started_in_own_dir(session, ctx, stager, job) / "r.out").write_bytes(b"x")
    finish_in_slurm(session, job, fake_cluster, backends, clock)
    ctx.allowed_regions = ["FR-BRE"]  # the policy changed while the job ran
    run_pending(ctx)
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.FAILED
    assert job.reason is not None and "stage-out failed" in job.reason and "FR-NOR" in job.reason
    assert not (stager.base / "127.0.0.1_2223").exists()
    actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert {"staging.refused", "job.stage_out_failed"} <= actions


def test_a_cut_connection_is_retried_later_and_then_succeeds(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.dat": b"123"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    stager.failures.append(StagingError("connection reset by peer", transient=True))
    assert run_pending(ctx) == 0
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.STAGING_IN
    assert job.reason is not None and "connection reset" in job.reason and "retry 2" in job.reason
    assert run_pending(ctx) == 0  # not before its delay
    clock.advance(6)
    assert run_pending(ctx) == 1
    session.expire_all()
    assert session.get(Job, job.id).state is JobState.PENDING  # type: ignore[union-attr]


def test_transient_failures_give_up_after_max_attempts_and_release_nothing_twice(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.dat": b"123"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    for _ in range(3):
        stager.failures.append(StagingError("no route to host", transient=True))
        run_pending(ctx)
        clock.advance(600)
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.FAILED and job.slurm_job_id is None
    assert job.reason == "stage-in failed: no route to host"


def test_a_corrupted_file_fails_the_job_and_leaves_no_final_file(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.dat": b"precious data"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )

    def flip_a_byte(path: Path) -> None:
        raw = bytearray(path.read_bytes())
        raw[3] ^= 0xFF
        path.write_bytes(bytes(raw))

    stager.before_verify = flip_a_byte
    assert run_pending(ctx) == 1
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.FAILED and "sha256" in (job.reason or "")
    assert not (host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}") / "in.dat").exists()
    assert fake_cluster.calls.get("submit", 0) == 0


def test_destination_errors_fail_the_job_with_the_reason(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.dat": b"x"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    stager.failures.append(StagingError("destination disk full on devcluster (/home/alice)"))
    run_pending(ctx)
    session.expire_all()
    job = session.get_one(Job, job.id)
    assert job is not None and job.state is JobState.FAILED
    assert job.reason == "stage-in failed: destination disk full on devcluster (/home/alice)"


def test_cancel_while_staging_in_stops_the_job_before_slurm(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, spool: Path,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"in.dat": b"x"})
    job = submit(
        session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id)
    )
    cancel.cancel_job(session, job_id=job.id, user=alice, backends=backends, clock=clock)
    assert run_pending(ctx) == 0
    session.expire_all()
    assert session.get(Job, job.id).state is JobState.CANCELLED  # type: ignore[union-attr]
    assert fake_cluster.calls.get("submit", 0) == 0


def test_results_of_one_job_are_inputs_of_the_next(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, carol: User, clock: FakeClock, ctx: StagingContext,
    stager: FakeStager, fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    first = submit(session, session_factory, backends, profile, alice, clock,
                   StagingRequest(output_patterns=["results/*"], store="caen"))  # fmt: skip
    work = started_in_own_dir(session, ctx, stager, first)
    (work / "results").mkdir(parents=True)
    (work / "results/field.h5").write_bytes(b"field data")
    finish_in_slurm(session, first, fake_cluster, backends, clock)
    run_pending(ctx)
    dataset = session.scalars(sa.select(Dataset)).one()

    # carol is a member of caen-climat too: she may use the project's dataset.
    second = submit(session, session_factory, backends, profile, carol, clock,
                    StagingRequest(input_dataset_ids=[dataset.id]), account="caen-climat")  # fmt: skip
    assert second.state is JobState.STAGING_IN
    run_pending(ctx)
    staged = host_dir(stager, 2222, f"/home/carol/myriagate-jobs/{second.id}/results/field.h5")
    assert staged.read_bytes() == b"field data"
    assert session.get(DatasetUse, (dataset.id, second.id, "input")) is not None


@pytest.mark.parametrize(
    ("request_", "error", "match"),
    [
        (StagingRequest(output_patterns=["out/*"]), InvalidRequest, "need a storage endpoint"),
        (StagingRequest(store="caen"), InvalidRequest, "no output pattern"),
        (
            StagingRequest(output_patterns=["out/*"], store="lyon"),
            InvalidRequest,
            "unknown storage endpoint 'lyon'",
        ),
        (StagingRequest(output_patterns=["../etc/*"], store="caen"), InvalidRequest, "not safe"),
        (StagingRequest(output_patterns=["/etc/passwd"], store="caen"), InvalidRequest, "not safe"),
        (StagingRequest(upload_id=uuid.uuid4()), NotFound, "no upload"),
        (StagingRequest(input_dataset_ids=[uuid.uuid4()]), NotFound, "no dataset"),
    ],
)
def test_bad_staging_requests_are_refused_and_change_nothing(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, request_: StagingRequest, error: type[Exception],
    match: str,
) -> None:  # fmt: skip
    with pytest.raises(error, match=match):
        submit(session, session_factory, backends, profile, alice, clock, request_)
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_someone_elses_upload_is_not_found_and_a_used_upload_is_refused(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, bob: User, clock: FakeClock, spool: Path,
) -> None:  # fmt: skip
    upload = upload_files(session, alice, spool, clock, {"a": b"1"})
    with pytest.raises(NotFound):
        uploads.open_file(session, upload_id=upload.id, path="b", user=bob, spool_dir=spool, max_bytes=10)
    submit(session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id))
    with pytest.raises(InvalidRequest, match="already used"):
        submit(session, session_factory, backends, profile, alice, clock, StagingRequest(upload_id=upload.id))


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", "~/x", "a\nb", "-rf", "a/./b", ""])
def test_upload_paths_that_leave_the_root_are_refused(
    session: Session, alice: User, clock: FakeClock, spool: Path, path: str
) -> None:
    upload = uploads.create_upload(session, user=alice, at=clock.now())
    with pytest.raises(UnsafeValue):
        uploads.open_file(session, upload_id=upload.id, path=path, user=alice, spool_dir=spool, max_bytes=10)
    assert not any(p.is_file() for p in spool.rglob("*")) if spool.exists() else True


def test_hostile_but_safe_names_travel_as_data(
    session: Session, alice: User, clock: FakeClock, spool: Path
) -> None:
    names = [
        h for h in HOSTILE_STRINGS if not set(h) & {"/", "\\"} and h and not h.startswith(("-", "~", "."))
    ]
    names = [n for n in names if not any(ord(c) < 32 or ord(c) == 127 for c in n) and len(n.encode()) <= 255]
    assert names
    upload = upload_files(session, alice, spool, clock, {name: name.encode() for name in names})
    for name in names:
        assert (uploads.files_dir(spool, upload.id) / name).read_bytes() == name.encode()


def test_upload_size_limit_and_announced_checksum(
    session: Session, alice: User, clock: FakeClock, spool: Path
) -> None:
    upload = uploads.create_upload(session, user=alice, at=clock.now())
    writer, _ = uploads.open_file(
        session, upload_id=upload.id, path="big", user=alice, spool_dir=spool, max_bytes=4
    )
    with pytest.raises(InvalidRequest, match="larger than"):
        writer.write(b"12345")
    writer, _ = uploads.open_file(
        session, upload_id=upload.id, path="f", user=alice, spool_dir=spool, max_bytes=99
    )
    writer.write(b"abc")
    with pytest.raises(ChecksumMismatch):
        writer.finish("0" * 64)
    assert not any(p.is_file() for p in spool.rglob("*"))


def test_a_failed_stage_in_releases_the_allocation_hold(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    spool: Path,
) -> None:  # fmt: skip
    from datetime import UTC, datetime

    from myriagate.db.ledger import SqlLedger
    from myriagate.db.repos import projects as projects_repo
    from myriagate.domain.costs import Cost
    from myriagate.services.allocations import grants as allocations
    from myriagate.services.runtime.worker import Worker, WorkerOptions, settle_step

    alice.is_platform_admin = True
    projects_repo.add_institution(session, code="unicaen", name="Caen")
    add_project(session, cluster=CLUSTER, slurm_account="caen-climat", institution="unicaen",
                              created_at=clock.now())  # fmt: skip
    session.commit()
    period = allocations.create_period(session, alice, cluster=CLUSTER, name="2026",
                                       starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                                       ends_at=datetime(2027, 1, 1, tzinfo=UTC), clock=clock)  # fmt: skip
    allocations.set_quota(session, alice, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(100), clock=clock)  # fmt: skip
    allocation_id = allocations.grant(session, alice, cluster=CLUSTER, slurm_account="caen-climat",
                                      amount=allocations.hours(10), clock=clock,
                                      ledger=SqlLedger).allocation_id  # fmt: skip
    alice.is_platform_admin = False
    session.commit()

    upload = upload_files(session, alice, spool, clock, {"in.dat": b"x"})
    job = submit_job(
        session, backends=backends, profile=profile, user=alice,
        request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER), clock=clock, ledger=SqlLedger,
        staging=StagingRequest(upload_id=upload.id), residency=residency(session_factory),
    )  # fmt: skip
    with session_factory() as s:
        assert SqlLedger(s).balance(allocation_id).held.core_seconds > 0  # held at submit, before staging
    stager.failures.append(StagingError("permission denied on devcluster: /home/alice/myriagate-jobs"))
    run_pending(ctx)
    step = settle_step(cluster=CLUSTER, backends=backends, clock=clock, settings=Settings(dev_mode=True),
                       profile=profile, ledger=SqlLedger)  # fmt: skip
    options = WorkerOptions(cluster=CLUSTER)
    Worker(session_factory, backends, clock, options, ledger=worker_ledger(clock), settle=step).run_once()
    with session_factory() as s:
        after = SqlLedger(s).balance(allocation_id)
        assert (after.held, after.charged) == (Cost(), Cost())
        assert s.get(Job, job.id).reason == (  # type: ignore[union-attr]
            "stage-in failed: permission denied on devcluster: /home/alice/myriagate-jobs"
        )


def test_a_dry_run_checks_staging_and_says_where_results_would_go(
    session: Session, session_factory: sessionmaker[Session], profile: ClusterProfile, alice: User,
    clock: FakeClock, spool: Path,
) -> None:  # fmt: skip
    from myriagate.services.submission.preview import preview_job

    upload = upload_files(session, alice, spool, clock, {"data/input.csv": b"1"})
    request = SubmitRequest(script_text=SCRIPT, cluster=CLUSTER)
    preview = preview_job(
        profile=profile, user=alice, request=request, session=session, clock=clock,
        staging=StagingRequest(upload_id=upload.id, output_patterns=["results/*"], store="caen"),
        residency=residency(session_factory),
    )  # fmt: skip
    assert preview.input_paths == ("data/input.csv",)
    assert (preview.store, preview.store_location) == ("caen", "Caen, FR-NOR")
    with pytest.raises(ResidencyViolation):
        preview_job(
            profile=profile, user=alice, request=request, session=session, clock=clock,
            staging=StagingRequest(output_patterns=["results/*"], store="paris"),
            residency=residency(session_factory),
        )  # fmt: skip
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    assert session.get(Upload, upload.id).job_id is None  # type: ignore[union-attr]  # a dry run takes nothing


def test_uploads_no_job_took_are_purged_after_their_ttl(
    session: Session, alice: User, clock: FakeClock, spool: Path, ctx: StagingContext
) -> None:
    from myriagate.services.staging.step import _purge_uploads

    kept = upload_files(session, alice, spool, clock, {"a": b"1"})
    clock.advance(8 * 86400)
    fresh = upload_files(session, alice, spool, clock, {"b": b"2"})
    kept_id, fresh_id = kept.id, fresh.id
    _purge_uploads(ctx)
    session.expire_all()
    assert session.get(Upload, kept_id) is None and not uploads.upload_dir(spool, kept_id).exists()
    assert session.get(Upload, fresh_id) is not None and uploads.upload_dir(spool, fresh_id).exists()


def test_with_a_chdir_of_the_researchers_only_files_changed_after_the_start_are_results(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    """A directory the researcher names is theirs (no directory is made); an earlier run's
    files there are not this job's results, and the dataset says how it chose its files."""
    job = submit(session, session_factory, backends, profile, alice, clock,
                 StagingRequest(output_patterns=["*.out"], store="caen"), chdir="runs/a")  # fmt: skip
    assert job.state is JobState.PENDING and job.spec["chdir"] == "runs/a"
    work = host_dir(stager, 2222, "/home/alice/runs/a")
    work.mkdir(parents=True)
    (work / "earlier.out").write_bytes(b"an earlier run")
    before_start = int(clock.now().timestamp() - 3600) * 1_000_000_000
    os.utime(work / "earlier.out", ns=(before_start, before_start))
    (work / "this.out").write_bytes(b"this job")
    finish_in_slurm(session, job, fake_cluster, backends, clock)
    assert run_pending(ctx) == 1
    dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job.id)).one()
    assert [f.path for f in dataset.files] == ["this.out"]
    assert dataset.selection == "newer_than_start"


def test_two_results_only_jobs_of_one_login_never_share_a_directory(
    session: Session, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory,
    profile: ClusterProfile, alice: User, clock: FakeClock, ctx: StagingContext, stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:  # fmt: skip
    request = StagingRequest(output_patterns=["results/*"], store="caen")
    first = submit(session, session_factory, backends, profile, alice, clock, request)
    second = submit(session, session_factory, backends, profile, alice, clock, request)
    assert run_pending(ctx) == 2  # each gets a directory of its own before sbatch
    for job in (first, second):
        job = refreshed(session, job)
    dirs = [host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}") for job in (first, second)]
    assert dirs[0] != dirs[1] and all(d.is_dir() for d in dirs)
    for job, work in zip((first, second), dirs, strict=True):
        (work / "results").mkdir()
        (work / "results" / f"{job.id}.txt").write_bytes(job.id.bytes)
    for job in (first, second):
        finish_in_slurm(session, job, fake_cluster, backends, clock)
    assert run_pending(ctx) == 2
    for job in (first, second):
        dataset = session.scalars(sa.select(Dataset).where(Dataset.producer_job_id == job.id)).one()
        assert [f.path for f in dataset.files] == [f"results/{job.id}.txt"]
