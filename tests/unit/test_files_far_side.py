"""The file browser's far side (issue #17), run for real on this machine through a LocalRunner:
the program, the request on stdin, NUL-separated records and streamed reads, exactly as over
SSH but without a cluster. The cluster's own permissions are tested on the dev cluster
(tests/integration/test_files_real.py); here: names, paging, links, ranges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from myriagate.domain.files import ByteRange, Cursor, FileKind, RangeNotSatisfiable, SortKey, cursor_after
from myriagate.errors import InvalidRequest, NotFound, UnsafeValue
from myriagate.runners.local import LocalRunner
from myriagate.runners.streaming import LocalStreams
from myriagate.staging.cluster_files import HelperClusterFiles
from tests.fakes.hostile import HOSTILE_BYTES, HOSTILE_STRINGS

HOSTILE_NAMES = [s.encode() for s in HOSTILE_STRINGS if "\x00" not in s and "/" not in s] + HOSTILE_BYTES


@pytest.fixture
def files() -> HelperClusterFiles:
    runner = LocalRunner()
    return HelperClusterFiles(runner, LocalStreams(runner), timeout_s=30)


def _write(path: Path | bytes, data: bytes = b"") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_hostile_names_come_back_byte_for_byte_and_nothing_runs(
    files: HelperClusterFiles, tmp_path: Path
) -> None:
    for i, name in enumerate(HOSTILE_NAMES):
        _write(bytes(tmp_path) + b"/" + name, b"x" * i)
    page = files.list_dir(str(tmp_path), b"")
    assert sorted(e.name for e in page.entries) == sorted(HOSTILE_NAMES)
    assert page.total == len(HOSTILE_NAMES) and not page.more
    assert {e.name: e.size_bytes for e in page.entries} == {n: i for i, n in enumerate(HOSTILE_NAMES)}
    assert not Path("/tmp/myriagate-pwned").exists()
    for name in HOSTILE_NAMES:  # each one can be looked at by its exact bytes
        assert files.stat(str(tmp_path), name).name == name


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize("descending", [False, True])
def test_paging_through_a_directory_shows_every_entry_once_in_order(
    files: HelperClusterFiles, tmp_path: Path, sort: SortKey, descending: bool
) -> None:
    for i in range(300):
        _write(tmp_path / f"f{i:03d}", b"x" * (i % 7))  # sizes repeat: the name breaks ties
        os.utime(tmp_path / f"f{i:03d}", ns=(10**18 + (i % 5), 10**18 + (i % 5)))
    seen: list[bytes] = []
    after: Cursor | None = None
    while True:
        page = files.list_dir(str(tmp_path), b"", sort=sort, descending=descending, limit=37, after=after)
        assert page.total in (300, 301)  # 301 once the late file exists
        seen += [e.name for e in page.entries]
        if not page.more:
            break
        after = cursor_after(page.entries[-1], sort, descending)
        _write(tmp_path / "zzz-late", b"")  # a file created between pages moves nothing
    assert len(seen) == len(set(seen))
    names = {f"f{i:03d}".encode() for i in range(300)}
    assert names <= set(seen)

    def key(name: bytes) -> tuple[int, bytes]:
        i = int(name[1:]) if name in names else None
        if sort is SortKey.SIZE:
            return (i % 7 if i is not None else 0), name
        if sort is SortKey.MTIME:
            return (i % 5 if i is not None else 10**9), name
        return 0, name

    ordered = [n for n in seen if n in names]
    assert ordered == sorted(ordered, key=key, reverse=descending)


def test_links_are_shown_but_never_followed_out_of_or_inside_the_area(
    files: HelperClusterFiles, tmp_path: Path
) -> None:
    area = tmp_path / "area"
    (area / "inner").mkdir(parents=True)
    _write(area / "inner" / "data.txt", b"inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    _write(outside / "secret.txt", b"not yours")
    (area / "escape").symlink_to(outside)
    (area / "escape-file").symlink_to(outside / "secret.txt")
    (area / "shortcut").symlink_to("inner")  # pointing inside: still not followed
    root = str(area)
    shown = {e.name: e for e in files.list_dir(root, b"").entries}
    assert shown[b"escape"].kind is FileKind.SYMLINK and shown[b"escape"].link_target == bytes(outside)
    assert shown[b"shortcut"].link_target == b"inner"
    for path in (b"escape", b"shortcut"):
        with pytest.raises(UnsafeValue):
            files.list_dir(root, path)
    with pytest.raises(UnsafeValue, match="'escape' is a symbolic link"):  # the link named
        files.stat(root, b"escape/deeper/secret.txt")
    for path in (b"escape/secret.txt", b"escape-file", b"shortcut/data.txt"):
        with pytest.raises(UnsafeValue):
            files.read(root, path, ByteRange(0, 99))
        with pytest.raises(UnsafeValue):
            files.open_read(root, path, None)
    assert files.stat(root, b"escape").kind is FileKind.SYMLINK  # described, not followed
    assert files.read(root, b"inner/data.txt", ByteRange(0, 99))[2] == b"inside"


def test_an_area_root_reached_through_a_link_the_operator_set_is_used(
    files: HelperClusterFiles, tmp_path: Path
) -> None:
    (tmp_path / "real").mkdir()
    _write(tmp_path / "real" / "a", b"1")
    (tmp_path / "via").symlink_to(tmp_path / "real")
    assert [e.name for e in files.list_dir(str(tmp_path / "via"), b"").entries] == [b"a"]


def test_what_is_missing_or_of_the_wrong_kind_is_refused_clearly(
    files: HelperClusterFiles, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    _write(tmp_path / "f", b"text")
    root = str(tmp_path)
    with pytest.raises(NotFound, match="area's directory does not exist"):
        files.list_dir(str(tmp_path / "no-such-area"), b"")
    with pytest.raises(NotFound, match="'nothing'"):
        files.list_dir(root, b"nothing")
    with pytest.raises(InvalidRequest, match="not a directory"):
        files.list_dir(root, b"f")
    with pytest.raises(InvalidRequest, match="'f' is not a directory"):  # the component named
        files.stat(root, b"f/inner/x")
    with pytest.raises(InvalidRequest, match="is a directory"):
        files.read(root, b"d", ByteRange(0, 9))
    with pytest.raises(RangeNotSatisfiable) as caught:
        files.open_read(root, b"f", ByteRange(4, None))
    assert caught.value.size_bytes == 4


def test_a_download_streams_the_range_asked_and_honours_if_range(
    files: HelperClusterFiles, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    _write(tmp_path / "big.bin", data)
    whole = files.open_read(str(tmp_path), b"big.bin", None)
    chunks = list(whole.chunks())
    assert b"".join(chunks) == data and max(len(c) for c in chunks) <= 1 << 20
    assert not whole.ranged and whole.length == len(data)
    part = files.open_read(str(tmp_path), b"big.bin", ByteRange(1_000_000, 1_999_999), if_range=whole.etag)
    assert part.ranged and (part.offset, part.length) == (1_000_000, 1_000_000)
    assert b"".join(part.chunks()) == data[1_000_000:2_000_000]
    stale = files.open_read(str(tmp_path), b"big.bin", ByteRange(10, 19), if_range='"changed"')
    assert not stale.ranged and stale.length == len(data)  # changed since: all of it
    stale.close()  # closed early: the far side is stopped, nothing waits


def test_a_file_that_shrinks_while_sent_fails_the_download(files: HelperClusterFiles, tmp_path: Path) -> None:
    _write(tmp_path / "shrinking", b"x" * (4 << 20))
    download = files.open_read(str(tmp_path), b"shrinking", None)
    chunks = download.chunks()
    next(chunks)
    os.truncate(tmp_path / "shrinking", 10)
    with pytest.raises(Exception, match="shorter"):
        list(chunks)
