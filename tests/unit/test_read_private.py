"""An interactive app's connection file is read only if nobody but its login can have written it.

Issue #18, attacked: where homes (or the gateway's directory in them) are group-writable, another
member of the group can replace the connection file, or a directory above it, and have the
proxy send the owner's requests and the app's secret to a host and port of their choosing. As
OpenSSH does for the files it trusts, ``read_private`` reads the file only if it and every
directory down to it from the home belong to the login, are writable by nobody else and are no
links. Run here for real (the CLI backend's ``find`` and ``tail`` through ``LocalRunner``, the
pyslurm backend's own checks), as the gateway's own login.
"""

from __future__ import annotations

import os
import pwd
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from myriagate.errors import PermissionDenied, UnsafeValue
from myriagate.runners.local import LocalRunner
from myriagate.slurm import commands
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from tests.fakes import fake_pyslurm
from tests.fakes.fake_slurm import FakeCluster

SESSION = "0b9c8f1e-4a5d-4e2b-9c1a-2f3e4d5c6b7a"
CONTENT = b'{"host": "10.0.0.5", "port": 40000}\n'
Reader = Callable[[str, str, int], bytes]


def _cli(path: str, home: str, max_bytes: int) -> bytes:
    return SlurmCliBackend(LocalRunner(), timeout_s=5.0).read_private(path, home, max_bytes)


def _pyslurm(path: str, home: str, max_bytes: int) -> bytes:
    fake_pyslurm.connect(FakeCluster(), "alice")
    return PyslurmBackend("25.11", module=fake_pyslurm).read_private(path, home, max_bytes)


@pytest.fixture(params=[_cli, _pyslurm], ids=["cli", "pyslurm"])
def read(request: pytest.FixtureRequest) -> Reader:
    reader: Reader = request.param
    return reader


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "alice"
    session = home / ".myriagate" / "interactive" / SESSION
    session.mkdir(parents=True)
    for directory in (home, home / ".myriagate", home / ".myriagate" / "interactive", session):
        directory.chmod(0o700)
    (session / "connection.json").write_bytes(CONTENT)
    (session / "connection.json").chmod(0o600)
    return home, session / "connection.json"


def test_a_file_only_its_login_can_write_is_read(read: Reader, tmp_path: Path) -> None:
    home, file = _tree(tmp_path)
    assert read(str(file), str(home), 4097) == CONTENT
    home.chmod(0o755)  # readable by others is fine: written by nobody else
    assert read(str(file), str(home), 4097) == CONTENT


def test_a_home_reached_through_a_link_is_fine(read: Reader, tmp_path: Path) -> None:
    home, file = _tree(tmp_path)
    (tmp_path / "home-link").symlink_to(home)
    linked = tmp_path / "home-link" / file.relative_to(home)
    assert read(str(linked), str(tmp_path / "home-link"), 4097) == CONTENT


def test_a_file_not_written_yet_is_empty(read: Reader, tmp_path: Path) -> None:
    home, file = _tree(tmp_path)
    file.unlink()
    assert read(str(file), str(home), 4097) == b""
    shutil.rmtree(file.parent)
    assert read(str(file), str(home), 4097) == b""


@pytest.mark.parametrize(
    "level", ["home", ".myriagate", "interactive", "session directory", "connection file"]
)
def test_anything_on_the_way_writable_by_the_group_is_refused(
    read: Reader, tmp_path: Path, level: str
) -> None:
    home, file = _tree(tmp_path)
    way = {
        "home": home, ".myriagate": home / ".myriagate", "interactive": home / ".myriagate" / "interactive",
        "session directory": file.parent, "connection file": file,
    }[level]  # fmt: skip
    way.chmod(way.stat().st_mode | 0o020)
    with pytest.raises(PermissionDenied, match="not the login's alone"):
        read(str(file), str(home), 4097)
    way.chmod(way.stat().st_mode & ~0o020 | 0o002)  # or by anybody
    with pytest.raises(PermissionDenied, match="not the login's alone"):
        read(str(file), str(home), 4097)


@pytest.mark.parametrize("level", [".myriagate", "interactive", "session directory", "connection file"])
def test_a_link_on_the_way_is_refused_even_to_the_logins_own_files(
    read: Reader, tmp_path: Path, level: str
) -> None:
    home, file = _tree(tmp_path)
    way = {
        ".myriagate": home / ".myriagate", "interactive": home / ".myriagate" / "interactive",
        "session directory": file.parent, "connection file": file,
    }[level]  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    way.rename(elsewhere)  # another login's directory, say: the link is what is checked
    way.symlink_to(elsewhere)
    with pytest.raises(PermissionDenied, match="not the login's alone"):
        read(str(file), str(home), 4097)


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
@pytest.mark.parametrize("level", ["home", "interactive", "session directory", "connection file"])
def test_anything_on_the_way_owned_by_another_login_is_refused(
    read: Reader, tmp_path: Path, level: str
) -> None:
    home, file = _tree(tmp_path)
    way = {
        "home": home, "interactive": home / ".myriagate" / "interactive",
        "session directory": file.parent, "connection file": file,
    }[level]  # fmt: skip
    nobody = pwd.getpwnam("nobody")
    os.chown(way, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(PermissionDenied, match="not the login's alone"):
        read(str(file), str(home), 4097)


def test_a_fifo_at_the_files_name_is_refused_at_once(read: Reader, tmp_path: Path) -> None:
    home, file = _tree(tmp_path)
    file.unlink()
    os.mkfifo(file, 0o600)
    started = time.monotonic()
    with pytest.raises(PermissionDenied):
        read(str(file), str(home), 4097)
    assert time.monotonic() - started < 3


def test_a_path_outside_the_home_is_never_read(read: Reader, tmp_path: Path) -> None:
    home, _ = _tree(tmp_path)
    with pytest.raises((PermissionDenied, UnsafeValue)):
        read("/etc/passwd", str(home), 4097)


def test_the_read_is_counted_as_find_in_the_metrics() -> None:
    from myriagate.observability.metrics import command_label

    argv = commands.read_private(
        f"/home/alice/.myriagate/interactive/{SESSION}/c.json", "/home/alice", "alice", 9
    )
    assert argv[:3] == ("find", "-P", "--") and command_label(argv[0]) in ("find", "tail")
