"""OpenSSH command lines, error messages and the upload stream of the stager, without SSH.

What reaches a remote shell is one ``shlex.join``-ed string whose only variable parts are the
operation and the root: hostile roots must come back verbatim from the shell's own parsing,
and nothing unsafe may reach an ``ssh -o`` value.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shlex
import threading
from pathlib import Path

import pytest

from myriagate.errors import ConfigError, StagingError, UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.staging import openssh_session, ssh_command
from myriagate.staging.checksums import HashCache, resolve_sources
from myriagate.staging.remote_helper import Tree, op_recv, partial_key
from myriagate.staging.ssh_command import check_tree, connection_error, remote_command, ssh_options
from myriagate.staging.streams import Outgoing, send_files
from tests.fakes.hostile import HOSTILE_STRINGS

KNOWN = Path("/var/lib/myriagate-devcluster/known_hosts")


def _tree(**changes: object) -> RemoteTree:
    base: dict[str, object] = {"host": "127.0.0.1", "port": 2223, "login": "myriagate", "known_hosts": KNOWN,
                               "root": "/srv/data"}  # fmt: skip
    base.update(changes)
    return RemoteTree(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("root", ["/srv/" + s.replace("\x00", "") for s in HOSTILE_STRINGS if "\n" not in s])
def test_the_remote_command_gives_the_root_back_verbatim(root: str) -> None:
    argv = shlex.split(remote_command("/usr/bin/python3", "list", root))
    assert argv[:8] == [
        "/usr/bin/env",
        "-i",
        "PATH=/usr/bin:/bin",
        "LANG=C.UTF-8",
        "/usr/bin/python3",
        "-I",
        "-S",
        "-c",
    ]
    assert argv[8] == ssh_command.BOOTSTRAP
    assert argv[9:] == ["list", root]


def test_the_remote_command_is_one_line_any_login_shell_reads_alike() -> None:
    """The helper travels on stdin, not in the command line, which is one
    line of words sh, bash, zsh and tcsh all pass through unchanged (no newline, no '!')."""
    command = remote_command("/usr/bin/python3", "list", "/srv/data")
    assert "\n" not in command and "!" not in command and "$" not in command
    assert len(command) < 400
    preamble = ssh_command.helper_preamble()
    length, _, source = preamble.partition(b"\n")
    assert int(length) == len(source) and source.decode() == ssh_command.helper_source()


@pytest.mark.parametrize(
    "python", ["python3", "python3; rm -rf /", "$(evil)", "/usr/bin/py thon", "-c", "/a/../b"]
)
def test_a_remote_python_that_is_not_an_absolute_plain_path_is_refused(python: str) -> None:
    with pytest.raises(ConfigError):
        remote_command(python, "list", "/srv")


@pytest.mark.parametrize(
    "changes",
    [
        {"host": "-oProxyCommand=touch /tmp/x"},
        {"host": "a b"},
        {"login": "-l root"},
        {"login": "Alice"},
        {"port": 0},
        {"root": "relative/dir"},
        {"root": "/srv/../etc"},
        {"root": "/srv/a\nb"},
    ],
)
def test_unsafe_endpoints_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(UnsafeValue):
        check_tree(_tree(**changes))


@pytest.mark.parametrize("path", ["/tmp/a b/known_hosts", "/tmp/%h", '/tmp/"q"'])
def test_a_known_hosts_path_ssh_would_split_or_expand_is_refused(path: str) -> None:
    with pytest.raises(ConfigError):
        check_tree(_tree(known_hosts=Path(path)))


def test_host_keys_are_pinned_and_user_config_ignored() -> None:
    opts = ssh_options(_tree(), 10)
    pairs = {opts[i + 1] for i, o in enumerate(opts) if o == "-o"}
    assert {"StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null", f"UserKnownHostsFile={KNOWN}",
            "BatchMode=yes", "IdentitiesOnly=yes", "KexAlgorithms=curve25519-sha256"} <= pairs  # fmt: skip
    assert opts[:2] == ["-F", "/dev/null"]
    assert opts[opts.index("-l") : opts.index("-l") + 2] == ["-l", "myriagate"]


@pytest.mark.parametrize(
    ("stderr", "kind", "transient"),
    [
        ("Host key verification failed.", ConfigError, False),
        ("myriagate@127.0.0.1: Permission denied (publickey).", StagingError, False),
        ("ssh: connect to host 127.0.0.1 port 2299: Connection refused", StagingError, True),
        ("", StagingError, True),
    ],
)
def test_connection_failures_say_what_happened(stderr: str, kind: type[Exception], transient: bool) -> None:
    err = connection_error(_tree(), stderr)
    assert type(err) is kind
    assert "myriagate@127.0.0.1:2223" in str(err)
    assert getattr(err, "transient", False) is transient


def test_the_upload_stream_is_what_the_far_side_reads(tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {"small.txt": b"s" * 100, "big.bin": os.urandom(3 << 20), "d/it's $(x)": b"q"}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    sources = resolve_sources(src, list(files))
    read_fd, write_fd = os.pipe()
    seen: list[tuple[int, int]] = []
    items = [Outgoing(s, 1000 if s.path == "big.bin" else 0) for s in sources]
    captured = io.BytesIO()

    def drain() -> None:
        with os.fdopen(read_fd, "rb") as r:
            captured.write(r.read())

    reader = threading.Thread(target=drain)
    reader.start()
    sent, shas = send_files(write_fd, items, HashCache(), lambda d, t: seen.append((d, t)), "ab" * 16)
    os.close(write_fd)
    reader.join()

    total = sum(len(d) for d in files.values()) - 1000
    assert sent == total and seen[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert shas == {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    # The far side, given that stream, writes exactly the bytes from each offset.
    dest = tmp_path / "dest"
    tree = Tree(str(dest), create=True)
    big_key = partial_key("big.bin")
    _, fd = tree.open_partial(big_key)
    os.write(fd, files["big.bin"][:1000])
    os.close(fd)
    captured.seek(0)
    assert op_recv(tree, captured) == {"bytes": total}
    part = dest / ".myriagate" / "partial" / big_key[:2] / big_key
    assert part.read_bytes() == files["big.bin"]


def test_the_hash_cache_does_not_hash_an_unchanged_file_twice(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10_000)
    cache = HashCache()
    [src] = resolve_sources(tmp_path, ["f"])
    assert cache.sha(src) == hashlib.sha256(b"x" * 10_000).hexdigest()
    cache.sha(src)
    assert cache.hashed_bytes == 10_000
    (tmp_path / "f").write_bytes(b"y" * 10_000)  # same size, new ctime: a new identity
    [changed] = resolve_sources(tmp_path, ["f"])
    assert cache.sha(changed) == hashlib.sha256(b"y" * 10_000).hexdigest()
    assert cache.hashed_bytes == 20_000


def test_local_sources_outside_the_root_or_not_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "root" / "dir").mkdir(parents=True)
    (tmp_path / "outside").write_bytes(b"o")
    (tmp_path / "root" / "out-link").symlink_to(tmp_path / "outside")
    (tmp_path / "root" / "in").write_bytes(b"i")
    (tmp_path / "root" / "in-link").symlink_to(tmp_path / "root" / "in")
    with pytest.raises(UnsafeValue):
        resolve_sources(tmp_path / "root", ["out-link"])
    with pytest.raises(StagingError, match="not a regular file"):
        resolve_sources(tmp_path / "root", ["dir"])
    with pytest.raises(StagingError, match="does not exist"):
        resolve_sources(tmp_path / "root", ["missing"])
    assert resolve_sources(tmp_path / "root", ["in-link"])[0].size == 1  # inside the root: fine


def test_the_cipher_list_reaches_ssh_only_when_it_is_plain_names() -> None:
    opts = ssh_options(_tree(), 10, ssh_command.FAST_CIPHERS)
    assert opts[:2] == ["-o", f"Ciphers={ssh_command.FAST_CIPHERS}"]
    assert ssh_command.FAST_CIPHERS.endswith("chacha20-poly1305@openssh.com")  # ssh's default stays
    with pytest.raises(ConfigError):
        openssh_session.SshSessions(object(), ciphers="aes128-ctr -oProxyCommand=x")  # type: ignore[arg-type]
