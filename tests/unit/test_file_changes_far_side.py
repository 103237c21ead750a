"""The far side of the file write operations (issue #17), run for real on this machine through
a LocalRunner (the program and the request on stdin, as over SSH): mkdir, rename, copy,
remove, disk usage and wildcards, with hostile names, links planted to escape the area, and a
directory swapped for a link in the middle of a recursive removal. The cluster's own
permissions are tested on the dev cluster (tests/integration/test_file_changes_real.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from myriagate.domain.file_changes import UsageStop
from myriagate.errors import AlreadyExists, Conflict, InvalidRequest, NotFound, UnsafeValue
from myriagate.runners.local import LocalRunner
from myriagate.runners.streaming import LocalStreams
from myriagate.staging.cluster_file_changes import ClusterFilesWithChanges, program
from myriagate.staging.remote_helper import change_walks
from myriagate.staging.remote_helper.browse import open_area
from myriagate.staging.ssh_command import BOOTSTRAP
from tests.fakes.hostile import CANARY, HOSTILE_BYTES, HOSTILE_STRINGS

HOSTILE_NAMES = [s.encode() for s in HOSTILE_STRINGS if "\x00" not in s and "/" not in s] + HOSTILE_BYTES


@pytest.fixture
def files() -> ClusterFilesWithChanges:
    runner = LocalRunner()
    return ClusterFilesWithChanges(runner, LocalStreams(runner), timeout_s=30)


@pytest.fixture
def area(tmp_path: Path) -> Path:
    (tmp_path / "area").mkdir()
    return tmp_path / "area"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the area, with a file the area's links point at."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("not yours to change")
    return tmp_path / "outside"


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with what it is (file contents, link targets, 'dir')."""
    found: dict[str, str] = {}
    for here, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(here) / name
            rel = str(path.relative_to(root))
            found[rel] = (
                "-> " + os.readlink(path)
                if path.is_symlink()
                else "dir"
                if path.is_dir()
                else path.read_text()
            )
    return found


def test_the_program_sent_runs_only_the_change_operations() -> None:
    source = program().split(b"\n", 1)[1].decode()
    assert source.count('if __name__ == "__main__":') == 1
    assert "def op_rm(" in source and "def op_ls(" in source


def test_mkdir_makes_hostile_names_byte_for_byte_and_nothing_runs(
    files: ClusterFilesWithChanges, area: Path
) -> None:
    for name in HOSTILE_NAMES:
        assert files.make_directory(str(area), name) == (name,)
    assert sorted(os.listdir(bytes(area))) == sorted(HOSTILE_NAMES)
    assert not Path(CANARY).exists()
    with pytest.raises(AlreadyExists):
        files.make_directory(str(area), b"-J evil")
    assert files.make_directory(str(area), b"a/b/c", parents=True) == (b"a", b"a/b", b"a/b/c")
    assert files.make_directory(str(area), b"a/b/c", parents=True) == ()  # there already: fine
    with pytest.raises(NotFound):
        files.make_directory(str(area), b"x/y")


def test_mkdir_through_a_planted_link_is_refused_and_writes_nothing_outside(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    (area / "out").symlink_to(outside)
    (area / "file").write_text("a file")
    for path in (b"out/new", b"out/a/b"):
        with pytest.raises(UnsafeValue):
            files.make_directory(str(area), path, parents=True)
    with pytest.raises(UnsafeValue):  # -p on an existing link: not taken for a directory
        files.make_directory(str(area), b"out", parents=True)
    with pytest.raises(InvalidRequest):
        files.make_directory(str(area), b"file/sub")
    assert sorted(os.listdir(outside)) == ["keep.txt"]


def test_rename_keeps_an_existing_target_unless_asked(files: ClusterFilesWithChanges, area: Path) -> None:
    (area / "a.txt").write_text("A")
    (area / "b.txt").write_text("B")
    with pytest.raises(AlreadyExists):
        files.rename(str(area), b"a.txt", b"b.txt")
    assert (area / "a.txt").read_text() == "A" and (area / "b.txt").read_text() == "B"
    files.rename(str(area), b"a.txt", b"b.txt", overwrite=True)
    assert _tree(area) == {"b.txt": "A"}
    (area / "d" / "e").mkdir(parents=True)
    with pytest.raises(InvalidRequest):
        files.rename(str(area), b"d", b"d/e/d")
    (area / "full").mkdir()
    (area / "full" / "x").write_text("x")
    with pytest.raises(Conflict):  # never over a directory that holds something
        files.rename(str(area), b"d", b"full", overwrite=True)
    files.rename(str(area), b"b.txt", b"--uid=0")  # a leading dash is a name, never an option
    assert (area / "--uid=0").read_text() == "A"


def test_rename_moves_a_link_itself_and_never_into_a_link(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    (area / "to-out").symlink_to(outside / "keep.txt")
    (area / "out").symlink_to(outside)
    (area / "mine.txt").write_text("mine")
    files.rename(str(area), b"to-out", b"moved")
    assert os.readlink(area / "moved") == str(outside / "keep.txt")
    with pytest.raises(UnsafeValue):
        files.rename(str(area), b"mine.txt", b"out/stolen.txt")
    with pytest.raises(UnsafeValue):
        files.rename(str(area), b"out/keep.txt", b"taken.txt")
    assert sorted(os.listdir(outside)) == ["keep.txt"] and (area / "mine.txt").exists()


def test_copy_copies_links_as_links_and_skips_fifos(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    src = area / "run1"
    (src / "sub").mkdir(parents=True)
    (src / "out.txt").write_text("12345")
    (src / "sub" / "$(id).txt").write_text("odd")
    (src / "escape").symlink_to(outside)
    os.mkfifo(src / "pipe")
    src.chmod(0o750)
    with pytest.raises(InvalidRequest):
        files.copy(str(area), b"run1", b"run2")
    done = files.copy(str(area), b"run1", b"run2", recursive=True)
    assert (done.files, done.directories, done.links, done.size_bytes) == (2, 2, 1, 8)
    assert done.skipped == (b"run1/pipe",) and not done.failed
    assert _tree(area / "run2") == {
        "sub": "dir",
        "sub/$(id).txt": "odd",
        "out.txt": "12345",
        "escape": f"-> {outside}",
    }
    assert (area / "run2").stat().st_mode & 0o777 == 0o750
    assert sorted(os.listdir(outside)) == ["keep.txt"]  # the link was copied, not followed
    with pytest.raises(AlreadyExists):  # no merging into an existing directory
        files.copy(str(area), b"run1", b"run2", recursive=True)
    with pytest.raises(InvalidRequest):
        files.copy(str(area), b"run1", b"run1/inside", recursive=True)
    with pytest.raises(UnsafeValue):
        files.copy(str(area), b"run1/escape/keep.txt", b"stolen.txt")


def test_copy_of_a_file_keeps_an_existing_target_unless_asked(
    files: ClusterFilesWithChanges, area: Path
) -> None:
    (area / "a").write_bytes(b"new" * 100_000)
    (area / "b").write_bytes(b"old")
    with pytest.raises(AlreadyExists):
        files.copy(str(area), b"a", b"b")
    assert (area / "b").read_bytes() == b"old"
    done = files.copy(str(area), b"a", b"b", overwrite=True)
    assert done.files == 1 and done.size_bytes == 300_000
    assert (area / "b").read_bytes() == b"new" * 100_000
    assert sorted(os.listdir(area)) == ["a", "b"]  # no temporary file left behind


def test_remove_needs_recursive_for_a_full_directory_and_says_what_went(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    tree = area / "run"
    (tree / "deep" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("1234")
    (tree / "deep" / "deeper" / "b.txt").write_text("56")
    (tree / "deep" / "escape").symlink_to(outside)
    (tree / "deep" / "passwd").symlink_to(outside / "keep.txt")
    with pytest.raises(Conflict) as refused:
        files.remove(str(area), b"run")
    assert "2 entries" in str(refused.value)
    would = files.remove(str(area), b"run", recursive=True, dry_run=True)
    assert (would.files, would.directories, would.links, would.size_bytes) == (2, 3, 2, 6)
    assert (tree / "a.txt").exists()
    done = files.remove(str(area), b"run", recursive=True)
    assert done == would and os.listdir(area) == []
    assert _tree(outside) == {"keep.txt": "not yours to change"}
    with pytest.raises(InvalidRequest):
        files.remove(str(area), b"")
    with pytest.raises(NotFound):
        files.remove(str(area), b"run")


def test_remove_of_a_link_removes_the_link_only(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    (area / "out").symlink_to(outside)
    with pytest.raises(UnsafeValue):
        files.remove(str(area), b"out/keep.txt")
    done = files.remove(str(area), b"out", recursive=True)
    assert done.links == 1 and done.files == 0
    assert not (area / "out").is_symlink() and (outside / "keep.txt").exists()


def test_a_directory_swapped_for_a_link_mid_removal_is_not_entered(area: Path, outside: Path) -> None:
    """The race, made deterministic: between listing ``run`` and entering ``run/sub``, ``sub``
    is replaced by a link to a directory outside the area. The removal must remove the link,
    not what is behind it. Run in process (the same functions the far side runs)."""
    (area / "run" / "sub").mkdir(parents=True)
    (area / "run" / "sub" / "x").write_text("x")
    (area / "run" / "y").write_text("y")
    swapped: list[str] = []

    def swap(dir_fd: int, name: str) -> None:
        if name == "sub" and not swapped:
            os.rename(area / "run" / "sub", area.parent / "moved-away")
            os.symlink(outside, name, dir_fd=dir_fd)
            swapped.append(name)

    tree = open_area(str(area))
    answer = change_walks.op_rm(tree, {"recursive": True}, "run", before_descend=swap)
    assert swapped == ["sub"]
    assert answer["links"] == 1 and answer["files"] == 1 and answer["failed"] == []
    assert _tree(outside) == {"keep.txt": "not yours to change"}
    assert not (area / "run").exists()
    assert (area.parent / "moved-away" / "x").read_text() == "x"  # moved out by the racer, untouched


def test_usage_counts_without_following_links_and_hard_links_once(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    (outside / "big").write_bytes(b"x" * 1_000_000)
    (area / "d").mkdir()
    (area / "d" / "f").write_bytes(b"y" * 10_000)
    os.link(area / "d" / "f", area / "d" / "hard")
    (area / "escape").symlink_to(outside)
    found = files.usage(str(area), b"", max_entries=1000, max_seconds=10)
    assert (found.files, found.directories, found.links) == (2, 2, 1)
    assert 10_000 <= found.bytes_on_disk < 100_000  # the 1 MB outside is not counted
    assert not found.partial and found.stopped is None
    assert files.usage(str(area), b"d/f", max_entries=1000, max_seconds=10).files == 1


def test_usage_stops_at_its_bounds_and_says_so(files: ClusterFilesWithChanges, area: Path) -> None:
    for i in range(600):
        (area / f"f{i}").write_bytes(b"")
    by_entries = files.usage(str(area), b"", max_entries=100, max_seconds=10)
    assert by_entries.partial and by_entries.stopped is UsageStop.ENTRIES and by_entries.files <= 101
    by_time = files.usage(str(area), b"", max_entries=10_000, max_seconds=1e-9)
    assert by_time.partial and by_time.stopped is UsageStop.TIME


def test_glob_matches_on_the_cluster_names_as_data(
    files: ClusterFilesWithChanges, area: Path, outside: Path
) -> None:
    for name in HOSTILE_NAMES:
        Path(os.fsdecode(bytes(area) + b"/" + name)).write_bytes(b"")
    (area / ".hidden.h5").write_bytes(b"")
    (area / "a.h5").write_bytes(b"")
    (area / "out").symlink_to(outside)
    everything = files.glob(str(area), b"", b"*", limit=1000)
    assert {e.name for e in everything.entries} == {*HOSTILE_NAMES, b"a.h5", b"out"}
    assert [e.name for e in files.glob(str(area), b"", b"*.h5", limit=10).entries] == [b"a.h5"]
    assert [e.name for e in files.glob(str(area), b"", b".*", limit=10).entries] == [b".hidden.h5"]
    assert [e.name for e in files.glob(str(area), b"", b"${*", limit=10).entries] == [b"${HOME}"]
    assert [e.name for e in files.glob(str(area), b"", b"[*]", limit=10).entries] == [b"*"]
    limited = files.glob(str(area), b"", b"*", limit=3)
    assert len(limited.entries) == 3 and limited.total == len(everything.entries)
    with pytest.raises(UnsafeValue):
        files.glob(str(area), b"out", b"*", limit=10)
    assert not Path(CANARY).exists()


def test_a_malformed_request_is_an_error_line_not_a_traceback(area: Path) -> None:
    runner = LocalRunner()
    argv = ["/usr/bin/python3", "-I", "-S", "-c", BOOTSTRAP, "rm"]
    result = runner.run(argv, stdin=program() + json.dumps({"root": "relative"}).encode(), check=False)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"] == "unsafe"
