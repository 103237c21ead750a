"""Several clusters in one gateway: one profile each, their own connection pool,
poller, lease and jobs; a job names its cluster or takes the default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import Job, User
from myriagate.db.repos import leases
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine
from myriagate.domain.states import JobState
from myriagate.profiles.loader import load_profile
from myriagate.services.jobs.tracking import tick
from myriagate.services.runtime.worker import lease_name
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, build_gateway, worker_ledger
from tests.conftest import CLUSTER, FakeClock, ensure_project
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory

AUSTRAL = "austral"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\nsrun ./model\n"


@pytest.fixture
def site_profiles(tmp_path: Path) -> Path:
    """A site profiles directory adding a second cluster beside the bundled ones."""
    bundled = Path(__file__).resolve().parents[2] / "cluster_profiles" / "devcluster.toml"
    text = bundled.read_text().replace('name = "devcluster"', f'name = "{AUSTRAL}"', 1)
    text = text.replace('display_name = "Dev cluster (local)"', 'display_name = "Austral (successor)"')
    (tmp_path / f"{AUSTRAL}.toml").write_text(text)
    return tmp_path


def test_a_site_directory_adds_a_cluster_and_each_gets_its_own_ssh_pool(
    site_profiles: Path, tmp_path: Path
) -> None:
    settings = Settings(dev_mode=True, profiles_dir=site_profiles, ssh_ca_key_path=_ca_key(tmp_path))
    factory: sessionmaker[Session] = sessionmaker(bind=make_engine(f"sqlite:///{tmp_path / 'g.db'}"))
    gateway = build_gateway(settings, session_factory=factory)
    try:
        assert {CLUSTER, AUSTRAL} <= set(gateway.profiles)
        assert gateway.profile().name == CLUSTER  # the default when a job names none
        first, second = gateway.backends(CLUSTER), gateway.backends(AUSTRAL)
        assert isinstance(first, ClusterBackends) and isinstance(second, ClusterBackends)
        assert first is not second and first.pool is not second.pool
        assert gateway.backends(AUSTRAL) is second  # one per cluster, reused
    finally:
        gateway.close()


def _ca_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "ca"
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    return path


def test_jobs_polls_and_leases_stay_with_their_cluster(
    session: Session, alice: User, clock: FakeClock, site_profiles: Path
) -> None:
    ensure_project(session, "caen-climat", clock, cluster=AUSTRAL)
    users_repo.add_membership(session, alice, cluster=AUSTRAL, slurm_account="caen-climat")
    session.commit()
    settings = Settings(dev_mode=True, profiles_dir=site_profiles)
    fakes = {
        CLUSTER: FakeSlurmBackendFactory(FakeCluster(name=CLUSTER, clock=clock.now)),
        AUSTRAL: FakeSlurmBackendFactory(FakeCluster(name=AUSTRAL, clock=clock.now, first_job_id=5000)),
    }
    jobs: dict[str, Job] = {}
    for cluster in (CLUSTER, AUSTRAL):
        jobs[cluster] = submit_job(
            session,
            backends=fakes[cluster],
            profile=load_profile(cluster, settings),
            user=alice,
            request=SubmitRequest(script_text=SCRIPT, cluster=cluster),
            clock=clock,
        )
    assert jobs[AUSTRAL].cluster == AUSTRAL and jobs[AUSTRAL].slurm_job_id == "5000"
    assert fakes[CLUSTER].cluster.calls["sbatch"] == 1 and fakes[AUSTRAL].cluster.calls["sbatch"] == 1

    fakes[AUSTRAL].cluster.finish("5000")
    result = tick(session, cluster=AUSTRAL, backends=fakes[AUSTRAL], clock=clock, ledger=worker_ledger(clock))
    assert result.polled == 1  # austral's poller asks austral about austral's job only
    assert fakes[CLUSTER].cluster.calls.get("squeue", 0) == 0
    session.expire_all()
    assert session.get(Job, jobs[AUSTRAL].id).state is JobState.COMPLETED  # type: ignore[union-attr]
    assert session.get(Job, jobs[CLUSTER].id).state is JobState.PENDING  # type: ignore[union-attr]

    # One lease per cluster: two workers can poll the two clusters at the same time.
    ttl = timedelta(seconds=30)
    assert leases.acquire(session, lease_name(CLUSTER), "worker-a", now=clock.now(), ttl=ttl)
    assert leases.acquire(session, lease_name(AUSTRAL), "worker-b", now=clock.now(), ttl=ttl)
    assert not leases.acquire(session, lease_name(AUSTRAL), "worker-a", now=clock.now(), ttl=ttl)
