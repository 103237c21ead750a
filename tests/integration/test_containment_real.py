"""A researcher with a shell on the storage endpoint or the cluster cannot move a dataset.

Real components: the storage sshd (127.0.0.1:2223, the gateway writes as ``myriagate``), the
cluster's sshd (127.0.0.1:2222, jobs' directories written as the researcher's login), the
OpenSSH stager with the gateway's certificates, the staging service and a database. Slurm
itself is the fake here (the job's end is told, not waited for): what is under test is where
bytes land. Traps are planted by alice's own Unix login (``runuser -u alice``) in an area
she can write, the most permissive a site could configure. Each attack ends refused, with
one ``staging.refused`` audit event naming the component, no dataset recorded, the job failed
with its results left on the cluster, and nothing changed outside the area.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import AuditEvent, Dataset, Job, JobStaging, User
from myriagate.domain.states import JobState
from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.runners.certificates import CertificateAuthority
from myriagate.services.jobs import tracking
from myriagate.services.staging import step as staging
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.staging.openssh import OpenSshStager, TransferHooks
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

STORAGE = Path("/srv/myriagate-storage")
GATEWAY_LOGIN = "myriagate"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:05:00\n#SBATCH --partition=debug\ntrue\n"


def as_alice(*argv: str) -> None:
    as_login("alice", *argv)


def as_login(login: str, *argv: str) -> None:
    subprocess.run(["runuser", "-u", login, "--", *argv], check=True, capture_output=True)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` with its content's sha256 (links as their target)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@dataclass
class Area:
    """A test's own storage areas: the Caen endpoint's root, a neighbour, Paris, elsewhere."""

    base: Path
    caen: Path
    neighbour: Path
    paris: Path
    outside: Path

    def targets(self) -> dict[str, Path]:
        return {"same_area": self.caen / "caen-climat-archive", "neighbour": self.neighbour,
                "other_region": self.paris, "outside": self.outside}  # fmt: skip

    def outside_the_dataset(self) -> dict[str, str]:
        return {name: str(snapshot(path)) for name, path in self.targets().items()}


@pytest.fixture
def area(devcluster: DevCluster) -> Iterator[Area]:
    base = STORAGE / f"ct-{uuid.uuid4().hex[:8]}"
    found = Area(base, base / "caen", base / "caen" / "rouen-chimie", base / "paris" / "caen-climat",
                 base / "outside")  # fmt: skip
    for path in (found.caen, found.neighbour, found.paris, found.outside, found.caen / "caen-climat-archive"):
        path.mkdir(parents=True, exist_ok=True)
    for path in (
        base,
        base / "paris",
        found.paris,
        found.outside,
        found.neighbour,
        found.caen / "caen-climat-archive",
    ):
        shutil.chown(path, GATEWAY_LOGIN, GATEWAY_LOGIN)
        path.chmod(0o755)  # the gateway's login could write there if a link led it there
    (found.neighbour / "keep.h5").write_bytes(b"rouen's results")
    shutil.chown(found.caen, GATEWAY_LOGIN, GATEWAY_LOGIN)
    found.caen.chmod(0o777)  # the worst case: researchers may create entries in the root
    yield found
    shutil.rmtree(base, ignore_errors=True)


@dataclass
class Harness:
    db: sessionmaker[Session]
    ctx: StagingContext
    fake: FakeCluster
    backends: FakeSlurmBackendFactory
    clock: FakeClock
    alice: User
    hooks: TransferHooks
    # The job directories on the cluster of this test's jobs, removed afterwards (only those:
    # other tests running at the same time have theirs in the same ~/myriagate-jobs).
    job_dirs: list[Path] = field(default_factory=list)

    def submit(self, patterns: list[str], user: User | None = None) -> uuid.UUID:
        with self.db() as session:
            researcher = session.merge(user or self.alice)
            job = submit_job(
                session, backends=self.backends, profile=self.ctx.profile, user=researcher,
                request=SubmitRequest(script_text=SCRIPT, cluster=CLUSTER), clock=self.clock,
                staging=StagingRequest(output_patterns=patterns, store="caen"),
                residency=ResidencyContext(allowed_regions=["FR-NOR"], audit_session=self.db),
            )  # fmt: skip
            self.job_dirs.append(Path(f"/home/{researcher.cluster_login}/myriagate-jobs/{job.id}"))
            return job.id

    def start(self, job_id: uuid.UUID) -> Path:
        """Stage-in (makes the job's own directory over the real sshd), then it is queued."""
        assert staging.process(self.ctx, job_id)
        with self.db() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.state is JobState.PENDING, job.reason if job else None
            return Path(f"/home/alice/myriagate-jobs/{job_id}")

    def finish(self, job_id: uuid.UUID) -> None:
        with self.db() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.slurm_job_id is not None
            self.fake.finish(job.slurm_job_id, "COMPLETED")
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=self.backends,
                clock=self.clock,
                ledger=worker_ledger(self.clock),
            )
            session.refresh(job)
            assert job.state is JobState.STAGING_OUT

    def output_dir(self, job_id: uuid.UUID) -> str:
        with self.db() as session:
            plan = session.get(JobStaging, job_id)
            assert plan is not None and plan.output_dir
            return plan.output_dir

    def refused(self, job_id: uuid.UUID) -> AuditEvent:
        """The job failed, no dataset, exactly one staging.refused event: returned."""
        with self.db() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.state is JobState.FAILED, (job.state, job.reason) if job else None
            assert session.scalar(sa.select(sa.func.count()).select_from(Dataset)) == 0
            events = session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")
            ).all()
            assert len(events) == 1, [(e.action, e.detail) for e in events]
            return events[0]


@pytest.fixture
def harness(
    devcluster: DevCluster, db: sessionmaker[Session], area: Area, tmp_path: Path
) -> Iterator[Harness]:
    base = load_profile(CLUSTER, Settings(dev_mode=True))
    caen = next(s for s in base.storage if s.name == "caen").model_copy(update={"root": str(area.caen)})
    profile: ClusterProfile = base.model_copy(
        update={"storage": (caen, *[s for s in base.storage if s.name != "caen"])}
    )
    clock = FakeClock()
    fake = FakeCluster(name=CLUSTER, clock=clock.now)
    backends = FakeSlurmBackendFactory(fake)
    hooks = TransferHooks()
    with db() as session:
        alice = make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)
    with OpenSshStager(CertificateAuthority(devcluster.ca_key, validity_s=300), hooks=hooks) as stager:
        ctx = StagingContext(
            session_factory=db, profile=profile, backends=backends, stager=stager, clock=clock,
            allowed_regions=["FR-NOR"], spool_dir=tmp_path / "spool", holder="containment-test",
        )  # fmt: skip
        made = Harness(db, ctx, fake, backends, clock, alice, hooks)
        yield made
    for job_dir in made.job_dirs:
        shutil.rmtree(job_dir, ignore_errors=True)


def _results(job_dir: Path) -> None:
    as_alice("mkdir", "-p", str(job_dir / "results"))
    as_alice("sh", "-c", f"echo 'alice results' > {job_dir}/results/field.h5")


def test_results_land_under_the_real_root_in_a_random_directory(harness: Harness, area: Area) -> None:
    job_id = harness.submit(["results/*"])
    job_dir = harness.start(job_id)
    assert job_dir.stat().st_mode & 0o777 == 0o700 and job_dir.owner() == "alice"
    _results(job_dir)
    harness.finish(job_id)
    assert staging.process(harness.ctx, job_id)
    with harness.db() as session:
        dataset = session.scalars(sa.select(Dataset)).one()
        assert dataset.root == f"{area.caen}/caen-climat/{harness.output_dir(job_id)}"
        assert str(dataset.id) not in dataset.root  # not derivable from the job id
        assert (Path(dataset.root) / "results/field.h5").read_bytes() == b"alice results\n"
        assert (area.caen / "caen-climat").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("level", ["account", "dataset"])
@pytest.mark.parametrize("target", ["same_area", "neighbour", "other_region", "outside"])
def test_a_link_planted_by_the_researcher_on_the_storage_side_is_refused_and_audited(
    harness: Harness, area: Area, level: str, target: str
) -> None:
    job_id = harness.submit(["results/*"])
    _results(harness.start(job_id))
    harness.finish(job_id)
    destination = area.targets()[target]
    account = area.caen / "caen-climat"
    if level == "account":
        as_alice("ln", "-s", str(destination), str(account))
        component = "caen-climat"
    else:
        # Even knowing the random name (she cannot: it is only in the gateway's database).
        account.mkdir(mode=0o777)
        shutil.chown(account, GATEWAY_LOGIN, GATEWAY_LOGIN)
        account.chmod(0o777)
        as_alice("ln", "-s", str(destination), str(account / harness.output_dir(job_id)))
        component = f"caen-climat/{harness.output_dir(job_id)}"
    before = area.outside_the_dataset()

    staging.process(harness.ctx, job_id)

    event = harness.refused(job_id)
    assert event.detail["reason"] == "unsafe_path"
    assert component in str(event.detail)
    assert area.outside_the_dataset() == before
    assert (Path(f"/home/alice/myriagate-jobs/{job_id}") / "results/field.h5").exists()  # kept


@pytest.mark.parametrize("planted_as", ["alice", "root"])
def test_an_account_directory_of_somebody_elses_is_refused(
    harness: Harness, area: Area, planted_as: str
) -> None:
    job_id = harness.submit(["results/*"])
    _results(harness.start(job_id))
    harness.finish(job_id)
    if planted_as == "alice":
        as_alice("mkdir", str(area.caen / "caen-climat"))
    else:
        (area.caen / "caen-climat").mkdir()
    staging.process(harness.ctx, job_id)
    event = harness.refused(job_id)
    assert "belongs to uid" in str(event.detail)
    assert list((area.caen / "caen-climat").iterdir()) == []


def test_a_link_swapped_in_during_the_transfer_is_refused(harness: Harness, area: Area) -> None:
    """Between the bytes and the commit, alice moves the dataset directory away and puts a link
    to Paris in its place (she can: the account directory is world-writable here)."""
    job_id = harness.submit(["results/*"])
    _results(harness.start(job_id))
    harness.finish(job_id)
    account = area.caen / "caen-climat"
    account.mkdir()
    shutil.chown(account, GATEWAY_LOGIN, GATEWAY_LOGIN)
    account.chmod(0o777)
    dataset_dir = account / harness.output_dir(job_id)
    swapped: list[bool] = []

    def swap(_paths: list[str]) -> None:
        if dataset_dir.is_dir() and not dataset_dir.is_symlink():
            as_alice("mv", str(dataset_dir), str(account / "moved-away"))
            as_alice("ln", "-s", str(area.paris), str(dataset_dir))
            swapped.append(True)

    harness.hooks.before_verify = swap
    before = area.outside_the_dataset()
    staging.process(harness.ctx, job_id)
    assert swapped == [True]
    harness.refused(job_id)
    assert area.outside_the_dataset() == before
    assert not (area.paris / "results").exists()


def test_a_link_at_the_jobs_directory_on_the_cluster_is_refused(harness: Harness, area: Area) -> None:
    """A researcher's own ~/myriagate-jobs as a link: the stage-in refuses to create the job
    there. The researcher is carol (caen-climat too): the link replaces the whole directory,
    which alice's jobs of the tests running beside this one use."""
    with harness.db() as session:
        carol = make_user(session, "carol@unicaen.fr", "carol", ["caen-climat"], harness.clock)
    home_jobs = Path("/home/carol/myriagate-jobs")
    shutil.rmtree(home_jobs, ignore_errors=True)
    elsewhere = Path(f"/tmp/carol-elsewhere-{uuid.uuid4().hex[:6]}")
    as_login("carol", "mkdir", str(elsewhere))
    as_login("carol", "ln", "-s", str(elsewhere), str(home_jobs))
    try:
        job_id = harness.submit(["results/*"], user=carol)
        staging.process(harness.ctx, job_id)
        event = harness.refused(job_id)
        assert "myriagate-jobs" in str(event.detail)
        assert list(elsewhere.iterdir()) == []
        assert harness.fake.calls.get("submit", 0) == 0  # never reached sbatch
    finally:
        home_jobs.unlink(missing_ok=True)
        shutil.rmtree(elsewhere, ignore_errors=True)
