"""The Stager contract, run against every implementation.

- ``fake``: FakeStager over local directories (what the service tests use);
- ``openssh``: OpenSshStager against the REAL storage sshd of the dev cluster (127.0.0.1:2223,
  login ``myriagate``, certificate from the dev CA), marked ``slurm``.

Each test states behaviour a caller relies on: bytes and sha256 survive a round trip, names
that a shell would misread arrive verbatim, an unchanged file is not sent again, a path that
leaves its root is refused with nothing written, a corrupted temporary file never becomes
the final file, and ``scan`` lists regular files only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from myriagate.errors import ChecksumMismatch, UnsafeValue
from myriagate.ports import RemoteTree, Stager
from myriagate.staging.openssh import OpenSshStager, TransferHooks
from myriagate.staging.remote_helper import partial_key
from tests.fakes.fake_stager import FakeStager
from tests.fakes.hostile import CANARY

STATE = Path("/var/lib/myriagate-devcluster")
STORE = Path("/srv/myriagate-storage/caen")

# Names a shell would misread; all valid for domain.staging.relative_path.
HOSTILE_NAMES = [
    "it's.txt",
    'say "hi".txt',
    f"$(touch {CANARY}).txt",  # also a nested path: '$(touch ' / 'tmp' / 'myriagate-pwned).txt'
    "`touch x`.txt",
    "a; touch b.txt",
    "a b  c.txt",
    "dir/x --uid=0 -rf",
    "${HOME}.txt",
    "*.txt",
    "?[a-z].txt",
    "100%.txt",
    "é à ü — Ω.txt",
    "deep/er/and deeper/file.bin",
]


@dataclass
class StagerEnv:
    name: str
    stager: Stager
    tree: RemoteTree
    remote_dir: Path  # where ``tree.root`` is on this machine
    files_sent: Callable[[], int]
    corrupt_next: Callable[[str], None]  # flip a byte of this file after writing, before verifying


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_env(tmp_path: Path) -> StagerEnv:
    stager = FakeStager(tmp_path / "fake-hosts")
    tree = RemoteTree("storage.example", 22, "myriagate", tmp_path / "known_hosts", "/srv/data")

    def corrupt_next(rel: str) -> None:
        def flip(path: Path) -> None:
            if path.name.startswith("." + rel.rsplit("/", 1)[-1]):
                data = bytearray(path.read_bytes())
                data[0] ^= 0xFF
                path.write_bytes(bytes(data))
                stager.before_verify = None  # once

        stager.before_verify = flip

    return StagerEnv("fake", stager, tree, stager.local_dir(tree), lambda: stager.sent_files, corrupt_next)


@pytest.fixture
def openssh_env(storage_sshd: None) -> Iterator[StagerEnv]:
    from myriagate.runners.certificates import CertificateAuthority

    remote = STORE / f"contract-{uuid.uuid4().hex[:8]}"
    remote.mkdir()
    shutil.chown(remote, "myriagate", "myriagate")
    hooks = TransferHooks()
    stager = OpenSshStager(CertificateAuthority(STATE / "ssh_user_ca"), hooks=hooks)
    tree = RemoteTree("127.0.0.1", 2223, "myriagate", STATE / "known_hosts", str(remote))

    def files_sent() -> int:
        return stager.last_stats.files_sent

    def corrupt_next(rel: str) -> None:
        def flip(paths: list[str]) -> None:
            key = partial_key(rel)
            part = remote / ".myriagate" / "partial" / key[:2] / key
            data = bytearray(part.read_bytes())
            data[0] ^= 0xFF
            part.write_bytes(bytes(data))
            hooks.before_verify = None

        hooks.before_verify = flip

    try:
        yield StagerEnv("openssh", stager, tree, remote, files_sent, corrupt_next)
    finally:
        stager.close()
        shutil.rmtree(remote, ignore_errors=True)


@pytest.fixture(params=["fake", pytest.param("openssh", marks=pytest.mark.slurm)])
def env(request: pytest.FixtureRequest) -> StagerEnv:
    if request.param == "fake":
        return request.getfixturevalue("fake_env")  # type: ignore[no-any-return]
    return request.getfixturevalue("openssh_env")  # type: ignore[no-any-return]


def storage_problem() -> str | None:
    """None when the dev cluster's storage sshd (:2223) takes a certificate login, else why.

    Only the storage endpoint is checked: these tests need neither Slurm nor the login node."""
    lib = Path(__file__).resolve().parents[2] / "deploy" / "devcluster" / "lib.sh"
    for needed in (STATE / "known_hosts", STATE / "ssh_user_ca"):
        if not os.access(needed, os.R_OK):
            return f"{needed} is missing or unreadable (run as root)"
    check = subprocess.run(["bash", "-c", 'source "$1" && check_storage_ssh', "check", str(lib)],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return None if check.returncode == 0 else "the storage sshd on 127.0.0.1:2223 refused a certificate login"


@pytest.fixture(scope="session")
def storage_sshd() -> None:
    """Skip (fail in CI) unless the storage sshd on :2223 is up."""
    problem = storage_problem()
    if problem is not None and os.environ.get("CI") == "true":
        pytest.fail(f"dev cluster not ready in CI: {problem}")
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_upload_then_download_round_trip_keeps_bytes_and_sha256(env: StagerEnv, tmp_path: Path) -> None:
    files = {"a.txt": b"hello\n", "results/deep/x.bin": os.urandom(300_000), "empty": b""}
    _write(tmp_path / "src", files)
    seen: list[tuple[int, int]] = []
    staged = env.stager.upload(
        tmp_path / "src", list(files), env.tree, progress=lambda d, t: seen.append((d, t))
    )
    assert [(s.path, s.size_bytes, s.sha256) for s in staged] == [
        (rel, len(data), _sha(data)) for rel, data in files.items()
    ]
    for rel, data in files.items():
        assert (env.remote_dir / rel).read_bytes() == data
    assert seen and seen[-1][0] == seen[-1][1] == sum(map(len, files.values()))

    back = env.stager.download(env.tree, list(files), tmp_path / "back")
    assert [(s.path, s.sha256) for s in back] == [(rel, _sha(data)) for rel, data in files.items()]
    for rel, data in files.items():
        assert (tmp_path / "back" / rel).read_bytes() == data


def test_hostile_names_arrive_verbatim_and_run_nothing(env: StagerEnv, tmp_path: Path) -> None:
    files = {name: name.encode() * 3 for name in HOSTILE_NAMES}
    _write(tmp_path / "src", files)
    staged = env.stager.upload(tmp_path / "src", list(files), env.tree)
    assert {s.path for s in staged} == set(files)
    for rel, data in files.items():
        assert (env.remote_dir / rel).read_bytes() == data
    back = env.stager.download(env.tree, list(files), tmp_path / "back")
    assert {s.path: s.sha256 for s in back} == {rel: _sha(data) for rel, data in files.items()}
    assert not Path(CANARY).exists()
    assert not (env.remote_dir / "b.txt").exists() and not (env.remote_dir / "x").exists()


def test_unchanged_files_are_not_sent_again(env: StagerEnv, tmp_path: Path) -> None:
    files = {f"d{i}/f{i}.dat": os.urandom(1000 + i) for i in range(20)}
    _write(tmp_path / "src", files)
    first = env.stager.upload(tmp_path / "src", list(files), env.tree)
    mtimes = {rel: (env.remote_dir / rel).stat().st_mtime_ns for rel in files}
    inodes = {rel: (env.remote_dir / rel).stat().st_ino for rel in files}
    again = env.stager.upload(tmp_path / "src", list(files), env.tree)
    assert again == first
    if env.name == "openssh":
        assert env.files_sent() == 0
    assert {rel: (env.remote_dir / rel).stat().st_ino for rel in files} == inodes
    assert {rel: (env.remote_dir / rel).stat().st_mtime_ns for rel in files} == mtimes

    # One changed source file is sent, and only that one.
    (tmp_path / "src" / "d3/f3.dat").write_bytes(b"changed")
    third = env.stager.upload(tmp_path / "src", list(files), env.tree)
    assert (env.remote_dir / "d3/f3.dat").read_bytes() == b"changed"
    assert {s.path: s.sha256 for s in third}["d3/f3.dat"] == _sha(b"changed")
    if env.name == "openssh":
        assert env.files_sent() == 1


def test_a_destination_file_changed_behind_the_stagers_back_is_replaced(
    env: StagerEnv, tmp_path: Path
) -> None:
    _write(tmp_path / "src", {"data.csv": b"1,2,3\n"})
    env.stager.upload(tmp_path / "src", ["data.csv"], env.tree)
    (env.remote_dir / "data.csv").write_bytes(b"9,9,9\n")  # same size, other bytes
    staged = env.stager.upload(tmp_path / "src", ["data.csv"], env.tree)
    assert (env.remote_dir / "data.csv").read_bytes() == b"1,2,3\n"
    assert staged[0].sha256 == _sha(b"1,2,3\n")


def test_a_corrupted_temporary_file_never_becomes_the_final_file(env: StagerEnv, tmp_path: Path) -> None:
    _write(tmp_path / "src", {"out/model.h5": os.urandom(50_000)})
    env.corrupt_next("out/model.h5")
    with pytest.raises(ChecksumMismatch, match=r"model\.h5"):
        env.stager.upload(tmp_path / "src", ["out/model.h5"], env.tree)
    assert not (env.remote_dir / "out/model.h5").exists()
    # Called again (nothing corrupts it this time), the file arrives intact.
    staged = env.stager.upload(tmp_path / "src", ["out/model.h5"], env.tree)
    assert (env.remote_dir / "out/model.h5").read_bytes() == (tmp_path / "src/out/model.h5").read_bytes()
    assert staged[0].sha256 == _sha((tmp_path / "src/out/model.h5").read_bytes())


@pytest.mark.parametrize(
    "bad", ["../escape.txt", "/etc/passwd", "a/../../b", "~root/x", "line\nbreak", "-rf"]
)
def test_paths_leaving_the_root_are_refused_before_anything_moves(
    env: StagerEnv, tmp_path: Path, bad: str
) -> None:
    _write(tmp_path / "src", {"ok.txt": b"x"})
    with pytest.raises(UnsafeValue):
        env.stager.upload(tmp_path / "src", ["ok.txt", bad], env.tree)
    with pytest.raises(UnsafeValue):
        env.stager.download(env.tree, [bad], tmp_path / "back")
    assert not (env.remote_dir / "ok.txt").exists()


def test_a_local_symlink_leading_outside_is_refused(env: StagerEnv, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not send")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "link.txt").symlink_to(secret)
    with pytest.raises(UnsafeValue):
        env.stager.upload(tmp_path / "src", ["link.txt"], env.tree)
    assert not (env.remote_dir / "link.txt").exists()


def test_scan_lists_matching_regular_files_with_their_sha256(env: StagerEnv, tmp_path: Path) -> None:
    files = {
        "results/a.h5": b"a",
        "results/sub/b.h5": b"bb",
        "results/c.txt": b"ccc",
        "top.h5": b"dddd",
        "results/it's $(x).h5": b"eeeee",
    }
    _write(tmp_path / "src", files)
    env.stager.upload(tmp_path / "src", list(files), env.tree)
    (env.remote_dir / "results" / "link.h5").symlink_to(env.remote_dir / "top.h5")

    one_level = env.stager.scan(env.tree, ["results/*.h5"])
    assert [(f.path, f.size_bytes, f.sha256) for f in one_level] == [
        ("results/a.h5", 1, _sha(b"a")),
        ("results/it's $(x).h5", 5, _sha(b"eeeee")),
    ]
    deep = env.stager.scan(env.tree, ["results/**/*.h5", "top.h5", "results/a.h5"])
    assert [f.path for f in deep] == ["results/a.h5", "results/it's $(x).h5", "results/sub/b.h5", "top.h5"]
    assert env.stager.scan(env.tree, ["nothing/*"]) == []
