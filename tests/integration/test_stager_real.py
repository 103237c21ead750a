"""OpenSshStager faults on the REAL storage sshd of the dev cluster (127.0.0.1:2223).

A connection cut mid-file resumes from the partial data; a full disk and a permission
problem fail with a message saying so; symlinks planted on the far side never let a write or
a read leave the root; an unreachable or impostor host fails the way callers expect; one
SSH handshake serves many transfers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from myriagate.errors import ConfigError, StagingError, UnsafeValue
from myriagate.ports import RemoteTree, TransferProgress
from myriagate.runners.certificates import CertificateAuthority
from myriagate.staging.openssh import OpenSshStager, TransferHooks
from tests.contract.test_stager import storage_problem
from tests.integration.conftest import STATE_DIR, DevCluster

pytestmark = pytest.mark.slurm

STORE = Path("/srv/myriagate-storage/caen")
LOGIN = "myriagate"


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture(scope="module")
def devcluster() -> DevCluster:
    """The storage endpoint only (these tests need neither Slurm nor the login node)."""
    problem = storage_problem()
    if problem is not None and os.environ.get("CI") == "true":
        pytest.fail(f"dev cluster not ready in CI: {problem}")
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    return DevCluster("127.0.0.1", 2223, STATE_DIR / "known_hosts", STATE_DIR / "ssh_user_ca")


@pytest.fixture(scope="module")
def ca(devcluster: DevCluster) -> CertificateAuthority:
    return CertificateAuthority(devcluster.ca_key, validity_s=300)


@pytest.fixture
def remote() -> Iterator[Path]:
    path = STORE / f"it-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    shutil.chown(path, LOGIN, LOGIN)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _tree(devcluster: DevCluster, root: Path | str, port: int = 2223) -> RemoteTree:
    return RemoteTree("127.0.0.1", port, LOGIN, devcluster.known_hosts, str(root))


@pytest.fixture
def hooks() -> TransferHooks:
    return TransferHooks()


@pytest.fixture
def stager(ca: CertificateAuthority, hooks: TransferHooks) -> Iterator[OpenSshStager]:
    with OpenSshStager(ca, hooks=hooks) as stager:
        yield stager


def _big(tmp_path: Path, mib: int = 32) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    with open(src / "big.bin", "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    return src


def _cut_midway(hooks: TransferHooks) -> tuple[dict[str, int], TransferProgress]:
    """Kill the ssh process moving the data once half of it is through (a dropped connection)."""
    state: dict[str, int] = {"killed_at": 0}
    procs: list[subprocess.Popen[bytes]] = []
    hooks.transport_started = procs.append

    def progress(done: int, total: int) -> None:
        if not state["killed_at"] and done >= total // 2 and procs:
            procs[-1].send_signal(signal.SIGKILL)
            state["killed_at"] = done

    return state, progress


def test_upload_cut_mid_file_resumes_and_sends_less_than_the_whole_file(
    devcluster: DevCluster, stager: OpenSshStager, hooks: TransferHooks, remote: Path, tmp_path: Path
) -> None:
    src = _big(tmp_path)
    size = (src / "big.bin").stat().st_size
    state, cut_progress = _cut_midway(hooks)
    with pytest.raises(StagingError) as cut:
        stager.upload(src, ["big.bin"], _tree(devcluster, remote), progress=cut_progress)
    assert cut.value.transient, "a dropped connection is worth retrying"
    assert state["killed_at"] >= size // 2
    assert not (remote / "big.bin").exists(), "no final file after a cut"

    hooks.transport_started = None
    staged = stager.upload(src, ["big.bin"], _tree(devcluster, remote))
    assert staged[0].sha256 == _sha(src / "big.bin") == _sha(remote / "big.bin")
    stats = stager.last_stats
    assert stats.bytes_resumed > 0
    assert stats.bytes_sent < size, f"resent {stats.bytes_sent} of {size} bytes"
    assert stats.bytes_sent + stats.bytes_resumed == size


def test_download_cut_mid_file_resumes(
    devcluster: DevCluster, stager: OpenSshStager, hooks: TransferHooks, remote: Path, tmp_path: Path
) -> None:
    src = _big(tmp_path)
    stager.upload(src, ["big.bin"], _tree(devcluster, remote))
    size = (src / "big.bin").stat().st_size
    state, cut_progress = _cut_midway(hooks)
    with pytest.raises(StagingError):
        stager.download(_tree(devcluster, remote), ["big.bin"], tmp_path / "back", progress=cut_progress)
    assert state["killed_at"]
    assert not (tmp_path / "back" / "big.bin").exists()

    hooks.transport_started = None
    staged = stager.download(_tree(devcluster, remote), ["big.bin"], tmp_path / "back")
    assert staged[0].sha256 == _sha(src / "big.bin") == _sha(tmp_path / "back" / "big.bin")
    assert 0 < stager.last_stats.bytes_sent < size


def test_stale_partial_data_is_detected_and_the_file_sent_whole(
    devcluster: DevCluster, stager: OpenSshStager, hooks: TransferHooks, remote: Path, tmp_path: Path
) -> None:
    """Partial data from another version of the source is not glued to the new one."""
    src = _big(tmp_path, 4)
    state, cut_progress = _cut_midway(hooks)
    with pytest.raises(StagingError):
        stager.upload(src, ["big.bin"], _tree(devcluster, remote), progress=cut_progress)
    assert state["killed_at"]
    hooks.transport_started = None
    _big(tmp_path, 4)  # the source changed in between (same size, other bytes)
    staged = stager.upload(src, ["big.bin"], _tree(devcluster, remote))
    assert staged[0].sha256 == _sha(src / "big.bin") == _sha(remote / "big.bin")


def test_destination_disk_full_is_a_clear_error(
    devcluster: DevCluster, stager: OpenSshStager, remote: Path, tmp_path: Path
) -> None:
    small = remote / "small-fs"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(small)],
                             capture_output=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        shutil.chown(small, LOGIN, LOGIN)
        src = _big(tmp_path, 3)
        with pytest.raises(StagingError, match="disk full") as full:
            stager.upload(src, ["big.bin"], _tree(devcluster, small))
        assert "127.0.0.1" in str(full.value) and str(small) in str(full.value)
        assert not (small / "big.bin").exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_permission_denied_is_a_clear_error(
    devcluster: DevCluster, stager: OpenSshStager, remote: Path, tmp_path: Path
) -> None:
    locked = remote / "root-only"
    locked.mkdir(mode=0o755)  # owned by root: myriagate may read, not write
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"a")
    with pytest.raises(StagingError, match="permission denied") as denied:
        stager.upload(tmp_path / "src", ["a.txt"], _tree(devcluster, locked))
    assert str(locked) in str(denied.value)
    assert not denied.value.transient
    assert not (locked / "a.txt").exists()


def test_remote_symlinks_never_lead_a_write_or_a_read_outside_the_root(
    devcluster: DevCluster, stager: OpenSshStager, remote: Path, tmp_path: Path
) -> None:
    outside = STORE / f"outside-{uuid.uuid4().hex[:8]}"
    outside.mkdir()
    shutil.chown(outside, LOGIN, LOGIN)
    (outside / "secret.txt").write_bytes(b"secret")
    try:
        root = remote / "root"
        root.mkdir()
        shutil.chown(root, LOGIN, LOGIN)
        (root / "escape").symlink_to(outside)  # a directory symlink leading outside
        (root / "file-link.txt").symlink_to(outside / "secret.txt")
        (tmp_path / "src" / "escape").mkdir(parents=True)
        (tmp_path / "src" / "escape" / "planted.txt").write_bytes(b"planted")
        (tmp_path / "src" / "file-link.txt").write_bytes(b"overwrite?")
        tree = _tree(devcluster, root)

        with pytest.raises(UnsafeValue, match="symlink"):
            stager.upload(tmp_path / "src", ["escape/planted.txt"], tree)
        with pytest.raises(UnsafeValue, match="symlink"):
            stager.upload(tmp_path / "src", ["file-link.txt"], tree)
        with pytest.raises(UnsafeValue, match="symlink"):
            stager.download(tree, ["escape/secret.txt"], tmp_path / "back")
        with pytest.raises(UnsafeValue, match="symlink"):
            stager.download(tree, ["file-link.txt"], tmp_path / "back")
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert (outside / "secret.txt").read_bytes() == b"secret"
        assert not (tmp_path / "back" / "file-link.txt").exists()
        assert stager.scan(tree, ["**"]) == []  # symlinks are never reported
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_the_stagers_own_directory_cannot_be_named(
    devcluster: DevCluster, stager: OpenSshStager, remote: Path, tmp_path: Path
) -> None:
    (tmp_path / "src" / ".myriagate").mkdir(parents=True)
    (tmp_path / "src" / ".myriagate" / "manifest.json").write_bytes(b"{}")
    with pytest.raises(UnsafeValue, match="reserved"):
        stager.upload(tmp_path / "src", [".myriagate/manifest.json"], _tree(devcluster, remote))


def test_many_transfers_share_one_handshake(
    devcluster: DevCluster,
    stager: OpenSshStager,
    remote: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only this stager's key directories are checked: they go to a temporary directory of the
    # test's own. In the shared one, other processes' may be left (a worker killed by a fault
    # test) or mid-handshake (tests running beside this one).
    tmp_root = tmp_path_factory.mktemp("ssh")  # short: the master's control socket lives there
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    (tmp_path / "src").mkdir()
    for i in range(5):
        (tmp_path / "src" / f"f{i}").write_bytes(b"x" * i)
        stager.upload(tmp_path / "src", [f"f{i}"], _tree(devcluster, remote))
        stager.scan(_tree(devcluster, remote), ["*"])
    assert stager.connects == 1
    # The key and certificate written for the handshake are gone once the master is up.
    assert list(tmp_root.glob("mg-ssh-*")), "the stager's key directory went elsewhere"
    leftovers = [p for d in tmp_root.glob("mg-ssh-*") for p in d.glob("id*")]
    assert leftovers == []


def test_an_unreachable_endpoint_is_a_transient_error(
    devcluster: DevCluster, stager: OpenSshStager, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a")
    with pytest.raises(StagingError, match="cannot connect") as err:
        stager.upload(tmp_path / "src", ["a"], _tree(devcluster, "/srv/x", port=2299))
    assert err.value.transient


def test_an_impostor_host_key_is_refused(
    devcluster: DevCluster, stager: OpenSshStager, remote: Path, tmp_path: Path
) -> None:
    # Pin the login node's key for the storage port: the storage sshd presents another key.
    wrong = tmp_path / "known_hosts"
    login_key = devcluster.known_hosts.read_text().splitlines()[0].split(" ", 1)[1]
    wrong.write_text(f"[127.0.0.1]:2223 {login_key}\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a")
    tree = RemoteTree("127.0.0.1", 2223, LOGIN, wrong, str(remote))
    with pytest.raises(ConfigError, match="host key"):
        stager.upload(tmp_path / "src", ["a"], tree)
    assert not (remote / "a").exists()
