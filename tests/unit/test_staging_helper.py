"""The far-side helper of the OpenSSH stager, run in-process on local directories.

The same code runs on the storage host (``python3 -c``); here its rules are checked without
SSH: glob semantics, the manifest rule for "unchanged", verification before rename, resume
offsets, and symlinks never followed below the root.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from myriagate.staging.remote_helper import (
    HelperError,
    Tree,
    glob_regex,
    op_commit,
    op_list,
    op_recv,
    op_scan,
    op_send,
    partial_key,
)

BATCH = "0123456789abcdef" * 2
MTIME = 1_600_000_000_000_000_000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("results/*.h5", ["results/a.h5", "results/.h5"], ["results/sub/a.h5", "a.h5", "results/a.h5x"]),
        ("out/**/*.csv", ["out/a.csv", "out/x/y/z.csv"], ["out.csv", "other/out/a.csv"]),
        ("**", ["a", "a/b/c"], []),
        ("data/f?.txt", ["data/f1.txt"], ["data/f10.txt", "data/f/.txt"]),
        ("run[0-9]/log", ["run3/log"], ["runx/log", "run10/log"]),
        ("run[!0-9]/log", ["runx/log"], ["run3/log"]),
        ("it's $(x)/*", ["it's $(x)/a"], ["its/a"]),
        ("a.b", ["a.b"], ["axb"]),
    ],
)
def test_glob_star_stays_in_a_directory_and_double_star_crosses(
    pattern: str, matches: list[str], misses: list[str]
) -> None:
    regex = glob_regex(pattern)
    assert all(regex.match(m) for m in matches)
    assert not any(regex.match(m) for m in misses)


def test_partial_key_is_stable_and_safe() -> None:
    assert partial_key("results/it's $(x).h5") == partial_key("results/it's $(x).h5")
    assert partial_key("a") != partial_key("b")
    assert all(c in "0123456789abcdef" for c in partial_key("é/-x; rm"))


def _upload(root: Path, files: dict[str, bytes], shas: dict[str, str] | None = None) -> dict[str, Any]:
    """recv then commit through the helper, as the stager does over SSH."""
    tree = Tree(str(root), create=True)
    header = {
        "batch": BATCH,
        "files": [[partial_key(rel), 0, len(data), MTIME] for rel, data in files.items()],
    }
    stream = io.BytesIO(json.dumps(header).encode() + b"\n" + b"".join(files.values()))
    op_recv(tree, stream)
    return op_commit(tree, {"batch": BATCH, "files": [
        {"key": partial_key(rel), "path": rel, "sha256": (shas or {}).get(rel, _sha(data)), "size": len(data),
         "mtime_ns": MTIME} for rel, data in files.items()]})  # fmt: skip


def test_commit_verifies_from_disk_then_renames_and_records_the_manifest(tmp_path: Path) -> None:
    result = _upload(tmp_path, {"a/b.txt": b"hello", "c": b""})
    assert [f["status"] for f in result["files"]] == ["ok", "ok"]
    assert (tmp_path / "a/b.txt").read_bytes() == b"hello"
    assert (tmp_path / "a/b.txt").stat().st_mtime_ns == 1_600_000_000_000_000_000  # source mtime kept
    listing = op_list(Tree(str(tmp_path)), {"hash": "known", "files": [["a/b.txt", 5]]})
    assert listing["files"][0] == ["file", 5, _sha(b"hello"), 0]  # known without reading the file


def test_a_mismatch_leaves_no_final_file_and_drops_the_partial(tmp_path: Path) -> None:
    result = _upload(tmp_path, {"x.bin": b"actual bytes"}, shas={"x.bin": _sha(b"other bytes")})
    assert result["files"][0]["status"] == "mismatch"
    assert not (tmp_path / "x.bin").exists()
    assert op_list(Tree(str(tmp_path)), {"files": [["x.bin", 12]]})["files"][0] == ["absent", -1, None, 0]


def test_the_manifest_is_ignored_once_the_file_changes(tmp_path: Path) -> None:
    _upload(tmp_path, {"d.csv": b"1,2,3"})
    (tmp_path / "d.csv").write_bytes(b"9,9,9")  # same size, other bytes; ctime moves
    tree = Tree(str(tmp_path))
    known = op_list(tree, {"hash": "known", "files": [["d.csv", 5]]})["files"][0]
    assert known[2] is None  # the recorded sha256 no longer applies
    fresh = op_list(tree, {"hash": "ifsize", "files": [["d.csv", 5]]})["files"][0]
    assert fresh[2] == _sha(b"9,9,9")
    assert op_list(tree, {"hash": "ifsize", "files": [["d.csv", 6]]})["files"][0][2] is None  # size differs


def test_a_short_stream_keeps_the_partial_data_for_resume(tmp_path: Path) -> None:
    tree = Tree(str(tmp_path), create=True)
    key = partial_key("big")
    stream = io.BytesIO(
        json.dumps({"batch": BATCH, "files": [[key, 0, 100, 0]]}).encode() + b"\n" + b"x" * 40
    )
    with pytest.raises(HelperError) as cut:
        op_recv(tree, stream)
    assert cut.value.kind == "truncated"
    assert op_list(tree, {"files": [["big", 100]]})["files"][0] == ["absent", -1, None, 40]
    # The next attempt appends from byte 40.
    op_recv(
        tree,
        io.BytesIO(json.dumps({"batch": BATCH, "files": [[key, 40, 60, 0]]}).encode() + b"\n" + b"y" * 60),
    )
    whole = _sha(b"x" * 40 + b"y" * 60)
    item = {"key": key, "path": "big", "sha256": whole, "size": 100, "mtime_ns": 0}
    result = op_commit(tree, {"batch": BATCH, "files": [item]})
    assert result["files"][0]["status"] == "ok"
    assert (tmp_path / "big").read_bytes() == b"x" * 40 + b"y" * 60


def test_send_frames_each_file_and_hashes_all_of_it_even_when_resuming(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    out = io.BytesIO()
    op_send(Tree(str(tmp_path)), {"files": [{"path": "f", "offset": 4}]}, out)
    header, rest = out.getvalue().split(b"\n", 1)
    size, offset, _mtime = header.split()[1:]
    assert (int(size), int(offset)) == (10, 4)
    assert rest == b"456789" + b"H " + _sha(b"0123456789").encode() + b"\n"


def test_symlinks_below_the_root_are_never_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    (root / "dir-link").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "secret")
    (root / "inner").mkdir()
    (root / "inner-link").symlink_to(root / "inner")
    tree = Tree(str(root))
    for rel in ("dir-link/secret", "inner-link/x"):
        with pytest.raises(HelperError) as err:
            op_list(tree, {"files": [[rel, 1]]})
        assert err.value.kind == "unsafe"
    assert op_list(tree, {"files": [["file-link", 1]]})["files"][0][0] == "symlink"
    with pytest.raises(HelperError):
        op_send(tree, {"files": [{"path": "file-link", "offset": 0}]}, io.BytesIO())
    with pytest.raises(HelperError):  # commit refuses to create a file under a symlinked directory
        _upload(root, {"dir-link/planted": b"p"})
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert op_scan(tree, {"patterns": ["**"]})["files"] == []


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../b", ".myriagate/manifest.json", "a//b", "./a"])
def test_the_helper_refuses_paths_leaving_the_root_on_its_own(tmp_path: Path, rel: str) -> None:
    with pytest.raises(HelperError) as err:
        op_list(Tree(str(tmp_path)), {"files": [[rel, 1]]})
    assert err.value.kind == "unsafe"


def test_scan_skips_the_stagers_directory_and_uses_the_manifest(tmp_path: Path) -> None:
    _upload(tmp_path, {"r/a.h5": b"a"})
    (tmp_path / "r" / "b.h5").write_bytes(b"b")  # written by a job: no manifest entry
    found = op_scan(Tree(str(tmp_path)), {"patterns": ["**"]})["files"]
    assert [(f["path"], f["sha256"]) for f in found] == [("r/a.h5", _sha(b"a")), ("r/b.h5", _sha(b"b"))]


def test_an_upload_root_is_created_when_missing(tmp_path: Path) -> None:
    _upload(tmp_path / "jobs" / "new", {"in.txt": b"i"})
    assert (tmp_path / "jobs/new/in.txt").read_bytes() == b"i"
    with pytest.raises(HelperError) as err:
        Tree(str(tmp_path / "absent"))
    assert err.value.kind == "missing"
    assert os.path.isdir(tmp_path / "jobs/new/.myriagate")


def test_the_hash_taken_while_writing_is_trusted_only_while_the_file_is_untouched(tmp_path: Path) -> None:
    tree = Tree(str(tmp_path), create=True)
    key = partial_key("f")
    op_recv(
        tree, io.BytesIO(json.dumps({"batch": BATCH, "files": [[key, 0, 5, 0]]}).encode() + b"\n" + b"hello")
    )
    part = tmp_path / ".myriagate" / "partial" / key[:2] / key
    os.utime(part, ns=(1, 1))  # touched after writing (as a corrupting writer would)
    item = {"key": key, "path": "f", "sha256": _sha(b"hello"), "size": 5, "mtime_ns": 0}
    assert op_commit(Tree(str(tmp_path)), {"batch": BATCH, "files": [item]})["files"][0]["status"] == "ok"
    # Same identity check, but now the bytes differ: hashed again from disk, refused.
    op_recv(
        tree, io.BytesIO(json.dumps({"batch": BATCH, "files": [[key, 0, 5, 0]]}).encode() + b"\n" + b"hello")
    )
    part.write_bytes(b"jello")
    result = op_commit(Tree(str(tmp_path)), {"batch": BATCH, "files": [item]})["files"][0]
    assert (result["status"], result["sha256"]) == ("mismatch", _sha(b"jello"))
    assert not (tmp_path / ".myriagate" / "partial" / f"batch-{BATCH}.json").exists()
