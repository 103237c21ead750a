"""Fixtures for tests against the real dev cluster (deploy/devcluster): Slurm + sshd on :2222.

``devcluster`` checks once per session that the cluster is up and skips with the command to
run when it is not. ``ssh_runner_for(login)`` and ``local_runner_for(login)`` give the two ways
the gateway runs commands as a researcher, for any integration test to reuse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.db.session import make_engine, make_session_factory
from myriagate.runners import CertificateAuthority, LocalRunner, SshConnectionPool, SshRunner
from myriagate.settings import Settings
from tests.conftest import FakeClock, make_user
from tests.db_templates import MigratedTemplates

REPO = Path(__file__).resolve().parents[2]
STATUS_SH = REPO / "deploy" / "devcluster" / "status.sh"
STATE_DIR = Path("/var/lib/myriagate-devcluster")


@dataclass(frozen=True)
class DevCluster:
    ssh_host: str
    ssh_port: int
    known_hosts: Path
    ca_key: Path
    cluster_name: str = "devcluster"


def _cluster_problem() -> str | None:
    """None when the cluster answers, else what is wrong."""
    if STATUS_SH.exists():
        try:
            result = subprocess.run(
                ["bash", str(STATUS_SH), "-q"], capture_output=True, text=True, timeout=120, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{STATUS_SH.name} did not answer within 120 s"
        if result.returncode != 0:
            return (result.stdout + result.stderr).strip() or f"{STATUS_SH.name} exited {result.returncode}"
    else:  # the status script is not there yet: at least Slurm must answer
        if shutil.which("scontrol") is None:
            return "scontrol is not installed"
        result = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0 or "UP" not in result.stdout:
            return f"scontrol ping: {(result.stdout + result.stderr).strip()}"
    for needed in (STATE_DIR / "known_hosts", STATE_DIR / "ssh_user_ca"):
        if not needed.exists():
            return f"{needed} is missing"
    if not os.access(STATE_DIR / "ssh_user_ca", os.R_OK):
        return f"{STATE_DIR / 'ssh_user_ca'} is not readable (run the tests as root)"
    return None


@pytest.fixture(scope="session")
def devcluster() -> DevCluster:
    problem = _cluster_problem()
    deadline = time.monotonic() + 30
    while problem is not None and shutil.which("sinfo") is not None and time.monotonic() < deadline:
        # A busy cluster passes through states a single look can catch (every job of the node
        # completing): look again for a while before calling it not ready.
        time.sleep(2)
        problem = _cluster_problem()
    if problem is not None and os.environ.get("CI") == "true":
        # CI brings the cluster up first: a cluster that is not ready there is a failure,
        # not a reason to skip the tests that matter most.
        pytest.fail(f"dev cluster not ready in CI: {problem}")
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    return DevCluster(
        ssh_host="127.0.0.1",
        ssh_port=2222,
        known_hosts=STATE_DIR / "known_hosts",
        ca_key=STATE_DIR / "ssh_user_ca",
    )


@pytest.fixture(scope="session")
def ca(devcluster: DevCluster) -> CertificateAuthority:
    return CertificateAuthority(devcluster.ca_key, validity_s=300)


@pytest.fixture(scope="session")
def ssh_pool(devcluster: DevCluster, ca: CertificateAuthority) -> Iterator[SshConnectionPool]:
    """One pool for the whole session, like the gateway's; tests counting connects make their own."""
    pool = SshConnectionPool(
        devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, ca, connect_timeout=10.0
    )
    yield pool
    pool.close()


@pytest.fixture
def ssh_runner_for(ssh_pool: SshConnectionPool) -> Callable[[str], SshRunner]:
    def make(login: str) -> SshRunner:
        return SshRunner(ssh_pool, login)

    return make


@pytest.fixture
def local_runner_for(devcluster: DevCluster) -> Callable[[str], LocalRunner]:
    if os.geteuid() != 0:
        pytest.skip("LocalRunner as another login needs root")

    def make(login: str) -> LocalRunner:
        return LocalRunner(as_login=login)

    return make


@pytest.fixture(scope="session")
def gateway_settings(devcluster: DevCluster) -> Settings:
    """Settings of a gateway talking to the dev cluster (dev mode: no real secret needed)."""
    return Settings(dev_mode=True, ssh_ca_key_path=devcluster.ca_key, enforce_allocations=False)


@pytest.fixture
def db(tmp_path: Path, migrated_templates: MigratedTemplates) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite database for one test (the unit suite covers PostgreSQL too)."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrated_templates.clone_into(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def users(db: sessionmaker[Session]) -> dict[str, User]:
    """alice (Caen) and bob (Rouen) as gateway users, matching the dev cluster's associations."""
    with db() as session:
        clock = FakeClock()
        return {
            "alice": make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock),
            "bob": make_user(session, "bob@univ-rouen.fr", "bob", ["rouen-chimie"], clock),
        }
