"""The far side of the file write operations under attack (issue #17 trial): what a researcher
with a shell on the cluster can do to their own tree between and during the gateway's requests.
Run on this machine through a LocalRunner (as over SSH), or in process where a race has to be
made deterministic (the same functions the far side runs). Found by trying them on the dev
cluster: a tree deeper than Python's recursion limit could be neither copied nor removed (the
far side crashed with "RecursionError"), a copied directory took its source's mode without
the login's umask (a copy of a 1777 directory was world-writable without its sticky bit), a
copy whose target was moved into its source copied itself without end, and a fifo put at a
name after the look held the open (and the request) until somebody wrote to it."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from myriagate.runners.local import LocalRunner
from myriagate.runners.streaming import LocalStreams
from myriagate.staging.cluster_file_changes import ClusterFilesWithChanges
from myriagate.staging.remote_helper import change, change_walks
from myriagate.staging.remote_helper.basics import HelperError
from myriagate.staging.remote_helper.browse import open_area

DEPTH = 1_200  # past Python's default recursion limit (1,000)


@pytest.fixture
def files() -> ClusterFilesWithChanges:
    runner = LocalRunner()
    return ClusterFilesWithChanges(runner, LocalStreams(runner), timeout_s=60)


@pytest.fixture
def area(tmp_path: Path) -> Path:
    (tmp_path / "area").mkdir()
    return tmp_path / "area"


@pytest.fixture
def deep_area(area: Path) -> Iterator[Path]:
    """The area, emptied by rm(1) afterwards even when the test fails: pytest's own clean-up of
    its temporary directories recurses and would stop at a tree this deep."""
    yield area
    subprocess.run(["rm", "-rf", "--", str(area)], check=True)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def _deep_tree(top: Path, depth: int) -> None:
    """``top/d/d/…/d/leaf.txt``, ``depth`` levels, made through descriptors (paths that long
    are over PATH_MAX)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, b"bottom")
    os.close(leaf)
    os.close(fd)


def _depth_of(top: Path) -> tuple[int, bytes]:
    """How many ``d`` levels lie under ``top``, and the bytes of the leaf at the bottom."""
    fd, depth = os.open(top, os.O_RDONLY | os.O_DIRECTORY), 0
    while "d" in os.listdir(fd):
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd, depth = child, depth + 1
    leaf = os.open("leaf.txt", os.O_RDONLY, dir_fd=fd)
    data = os.read(leaf, 100)
    os.close(leaf)
    os.close(fd)
    return depth, data


def test_a_tree_deeper_than_the_recursion_limit_is_copied_counted_and_removed(
    files: ClusterFilesWithChanges, deep_area: Path
) -> None:
    area = deep_area
    _deep_tree(area / "deep", DEPTH)
    done = files.copy(str(area), b"deep", b"copy", recursive=True)
    assert not done.failed and (done.files, done.directories) == (1, DEPTH + 1)
    assert _depth_of(area / "copy") == (DEPTH, b"bottom")
    would = files.remove(str(area), b"copy", recursive=True, dry_run=True)
    assert (would.files, would.directories, would.failed) == (1, DEPTH + 1, ())
    gone = files.remove(str(area), b"copy", recursive=True)
    assert gone == would
    assert sorted(os.listdir(area)) == ["deep"]
    assert _depth_of(area / "deep") == (DEPTH, b"bottom")  # the source untouched


def test_a_copied_directory_is_never_more_open_than_the_login_umask(
    files: ClusterFilesWithChanges, area: Path
) -> None:
    shared = area / "shared"
    (shared / "inner").mkdir(parents=True)
    (shared / "f.txt").write_text("x")
    (shared / "f.txt").chmod(0o666)
    (shared / "inner").chmod(0o2777)
    shared.chmod(0o1777)
    with umask(0o027):  # the far side's process inherits it, as a login's shell gives it
        done = files.copy(str(area), b"shared", b"copy", recursive=True)
    assert not done.failed
    # As cp -r: the source's permission bits less the umask; no sticky or setgid bit carried.
    assert stat.S_IMODE((area / "copy").stat().st_mode) == 0o750
    assert stat.S_IMODE((area / "copy" / "inner").stat().st_mode) == 0o750
    assert stat.S_IMODE((area / "copy" / "f.txt").stat().st_mode) == 0o640


def test_a_target_moved_into_its_source_mid_copy_is_not_copied_into_itself(area: Path) -> None:
    """The race, made deterministic: once the copy has made ``dst``, the researcher moves it
    into the source's ``a``, which the copy has not read yet. Reading ``a`` then finds the copy
    itself; copying it would copy the copy again and again, one level deeper each time."""
    (area / "src" / "a").mkdir(parents=True)
    (area / "src" / "a" / "f.txt").write_text("f")
    moved: list[str] = []

    def move_target_in(dir_fd: int, name: str) -> None:
        if name == "a" and not moved:
            os.rename(area / "dst", area / "src" / "a" / "zz")
            moved.append(name)

    tree = open_area(str(area))
    answer = change.op_cp(tree, {"to": os.fsencode("dst").hex(), "recursive": True}, "src", move_target_in)
    assert moved == ["a"]
    assert [bytes.fromhex(p) for p, _kind, _detail in answer["failed"]] == [b"src/a/zz"]
    assert answer["failed"][0][1] == "into_itself"
    inside = area / "src" / "a" / "zz"  # the copy, where the racer put it: one level, no more
    assert sorted(os.listdir(inside)) == ["a"] and sorted(os.listdir(inside / "a")) == ["f.txt"]


def _within(seconds: float, call: Callable[[], object]) -> object:
    """``call()``'s result or exception, failing the test if it has not returned in time."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # the test looks at it
            out.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"still blocked after {seconds} s"
    return out[0]


def test_a_fifo_put_at_a_name_after_the_look_is_refused_at_once(area: Path) -> None:
    """Between the far side's lstat (a file) and its open, the researcher puts a fifo at the
    name. Opened as a file, a fifo waits for a writer: the download or the copy (and the
    gateway's request) would hang. Here the open itself meets the fifo."""
    os.mkfifo(area / "pipe")
    tree = open_area(str(area))
    opened = _within(5, lambda: tree.open_file("pipe"))
    assert isinstance(opened, int)
    os.close(opened)
    tally = change._Tally()
    refused = _within(
        5, lambda: change._copy_file(tree.root_fd, "pipe", tree.root_fd, "out", "pipe", False, tally)
    )
    assert isinstance(refused, HelperError) and refused.kind == "not_file"
    assert sorted(os.listdir(area)) == ["pipe"]  # nothing written


def test_two_recursive_removals_at_once_both_end_well(area: Path) -> None:
    """Two ``rm -r`` of one tree at once (two terminals, or a double click): on the dev cluster
    the second answered 404 "no such file" after removing half the tree, or listed every
    directory the first had taken meanwhile as failed. Made deterministic: once the removal
    has taken ``a.txt``, the other one takes the whole tree before ``sub`` is entered."""
    (area / "run" / "sub").mkdir(parents=True)
    (area / "run" / "sub2").mkdir()
    (area / "run" / "a.txt").write_text("a")
    (area / "run" / "sub" / "x").write_text("x")
    (area / "run" / "sub2" / "y").write_text("y")

    def the_other_removal(_dir_fd: int, name: str) -> None:
        if name == "sub" and (area / "run").exists():
            subprocess.run(["rm", "-rf", "--", str(area / "run")], check=True)

    answer = change_walks.op_rm(open_area(str(area)), {"recursive": True}, "run", the_other_removal)
    assert answer["failed"] == [] and answer["files"] == 1  # a.txt, removed by this one
    assert os.listdir(area) == []
    with pytest.raises(HelperError) as gone:  # asked again: nothing there, nothing done
        change_walks.op_rm(open_area(str(area)), {"recursive": True}, "run")
    assert gone.value.kind == "missing"
