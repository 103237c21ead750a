"""Fixtures for tests against the real dev cluster (deploy/devcluster): Slurm + sshd on :2222.

``devcluster`` checks once per session that the cluster is up and skips with the command to
run when it is not. ``ssh_runner_for(login)`` and ``local_runner_for(login)`` give the two ways
the gateway runs commands as a researcher, for any integration test to reuse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from myriagate.runners import CertificateAuthority, LocalRunner, SshConnectionPool, SshRunner

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
