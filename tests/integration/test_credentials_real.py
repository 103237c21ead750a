"""Credentials live no longer than they should (catalog S19), on the real sshds.

sshd checks a user certificate only at login: a connection kept open for reuse (an OpenSSH
ControlMaster of the stager, a paramiko Transport of the runners' pool) would outlive both its
certificate and the user's right to it. These tests show that the gateway closes them itself:
when the certificate expires, and when the user is disabled (in whichever process holds them),
and that the next use logs in again with a freshly signed certificate. The pool's own expiry
tests are in test_ssh_runner.py.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import User
from myriagate.ports import RemoteTree
from myriagate.profiles.loader import load_all_profiles
from myriagate.runners import CertificateAuthority
from myriagate.services.people import users as people
from myriagate.settings import Settings
from myriagate.staging.openssh import OpenSshStager
from myriagate.wiring import ClusterBackends, Gateway
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm

STORE = Path("/srv/myriagate-storage/caen")
STORE_LOGIN = "myriagate"


def _my_masters() -> list[int]:
    """pids of the ``ssh -M`` processes this test process started (the stager's masters)."""
    found = []
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"-M" in cmdline and b"-N" in cmdline:
            found.append(int(pid))
    return found


def _wait_until(predicate: object, within_s: float) -> float:
    started = time.monotonic()
    while not predicate() and time.monotonic() - started < within_s:  # type: ignore[operator]
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def store(devcluster: DevCluster) -> Iterator[RemoteTree]:
    path = STORE / f"cred-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    shutil.chown(path, STORE_LOGIN, STORE_LOGIN)
    yield RemoteTree("127.0.0.1", 2223, STORE_LOGIN, devcluster.known_hosts, str(path))
    shutil.rmtree(path, ignore_errors=True)


def _send(stager: OpenSshStager, tree: RemoteTree, tmp_path: Path, name: str) -> None:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / name).write_text(name)
    [staged] = stager.upload(src, [name], tree)
    assert staged.size_bytes == len(name)


def test_a_stager_master_closes_when_its_certificate_expires(
    devcluster: DevCluster, store: RemoteTree, tmp_path: Path
) -> None:
    """The ControlMaster ends when its certificate does, with no transfer to notice it; the
    next transfer logs in again with a new certificate."""
    short = CertificateAuthority(devcluster.ca_key, validity_s=5, renew_before_s=1)
    with OpenSshStager(short, retire_before_expiry_s=0.5) as stager:
        _send(stager, store, tmp_path, "first.txt")
        first_cert = short.key_for(STORE_LOGIN)
        assert len(_my_masters()) == 1 and stager.connects == 1
        waited = _wait_until(lambda: not _my_masters(), within_s=10)
        assert not _my_masters(), "the master outlived its certificate"
        assert waited < 6
        time.sleep(max(0.0, first_cert.valid_before - time.time()))
        _send(stager, store, tmp_path, "second.txt")
        assert stager.connects == 2
        assert short.key_for(STORE_LOGIN).key_id != first_cert.key_id


def test_forgetting_a_login_closes_its_masters_at_once(
    devcluster: DevCluster, ca: CertificateAuthority, store: RemoteTree, tmp_path: Path
) -> None:
    with OpenSshStager(ca) as stager:
        _send(stager, store, tmp_path, "first.txt")
        assert len(_my_masters()) == 1
        assert stager.forget("someone-else") == 0
        assert stager.forget(STORE_LOGIN) == 1
        assert _wait_until(lambda: not _my_masters(), within_s=5) < 5
        _send(stager, store, tmp_path, "second.txt")
        assert stager.connects == 2


@pytest.fixture
def gateway(devcluster: DevCluster, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=devcluster.ca_key,
        enforce_allocations=False,
        spool_dir=tmp_path / "spool",
        credential_check_s=0.2,
    )
    gateway = Gateway(settings=settings, profiles=load_all_profiles(settings), session_factory=db)
    yield gateway
    gateway.close()


def test_disabling_a_user_closes_their_connections_and_the_next_use_logs_in_again(
    gateway: Gateway,
    db: sessionmaker[Session],
    users: dict[str, User],
    devcluster: DevCluster,
    tmp_path: Path,
) -> None:
    """An admin disables alice (the service the API calls). Within a few checks every SSH
    connection this gateway process holds as alice is closed: the runners' pooled Transport
    and the stager's ControlMaster to the cluster; bob's stay open."""
    backends = gateway.backends(CLUSTER)
    assert isinstance(backends, ClusterBackends)
    pool = backends.pool
    assert pool is not None
    assert backends.for_login("alice").home_dir() == "/home/alice"
    assert backends.for_login("bob").home_dir() == "/home/bob"
    alices, bobs = pool.transport_for("alice"), pool.transport_for("bob")
    assert alices is not None and bobs is not None and alices.is_active()
    stager = gateway.stager()
    own_dir = f"mg-cred-test-{uuid.uuid4().hex[:8]}"  # tests may run side by side as alice
    tree = RemoteTree(
        "127.0.0.1", devcluster.ssh_port, "alice", devcluster.known_hosts, "/home/alice", own_dir
    )
    try:
        _send(stager, tree, tmp_path, "in.txt")  # type: ignore[arg-type]
        assert len(_my_masters()) == 1
        with db() as session:
            admin = make_user(session, "admin@myriagate", "myriagate", [], FakeClock())
            admin.is_platform_admin = True
            session.commit()
            people.patch_user(session, admin, users["alice"].id, {"is_active": False})
        took = _wait_until(lambda: not alices.is_active() and not _my_masters(), within_s=5)
        assert not alices.is_active(), "alice's pooled connection outlived her account"
        assert not _my_masters(), "alice's ControlMaster outlived her account"
        assert took < 3
        assert bobs.is_active()
        connects = pool.stats().connects
        # A later use (an admin reading a disabled user's job output) logs in again.
        assert backends.for_login("alice").ping().reachable
        assert pool.stats().connects == connects + 1
    finally:
        shutil.rmtree(f"/home/alice/{own_dir}", ignore_errors=True)
