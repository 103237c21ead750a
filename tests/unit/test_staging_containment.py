"""The far-side helper keeps every write under the operator's root, link by link.

Run in-process on local directories (the same code runs over SSH on the storage host and the
cluster; tests/integration/test_containment_real.py plants the same traps there as a
researcher's own login). The anchor (``<account>/<dataset dir>``, ``myriagate-jobs/<job>``)
is walked from the operator's root without following links; every level must be a real
directory of the login writing; files that are other names of something else are never
written into; and the helper says where it really worked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from myriagate.errors import UnsafeValue
from myriagate.ports import RemoteTree
from myriagate.staging.far_side import check_landing
from myriagate.staging.remote_helper import (
    RESERVED,
    HelperError,
    Tree,
    main,
    op_commit,
    op_recv,
    op_scan,
    partial_key,
)

BATCH = "fedcba9876543210" * 2
NOBODY = 65534


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (links as their target): compared before and after an attack."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = path.read_bytes()
        else:
            out[rel] = "dir"
    return out


def _write(tree: Tree, files: dict[str, bytes]) -> dict[str, Any]:
    header = {"batch": BATCH, "files": [[partial_key(rel), 0, len(d), 0] for rel, d in files.items()]}
    op_recv(tree, io.BytesIO(json.dumps(header).encode() + b"\n" + b"".join(files.values())))
    items = [{"key": partial_key(rel), "path": rel, "sha256": _sha(d), "size": len(d), "mtime_ns": 0}
             for rel, d in files.items()]  # fmt: skip
    return op_commit(tree, {"batch": BATCH, "files": items})


@pytest.fixture
def area(tmp_path: Path) -> dict[str, Path]:
    """An operator root with a neighbour project, another region and somewhere outside."""
    paths = {
        "root": tmp_path / "caen",
        "neighbour": tmp_path / "caen" / "rouen-chimie",
        "other_region": tmp_path / "paris" / "caen-climat",
        "outside": tmp_path / "elsewhere",
    }
    for path in paths.values():
        path.mkdir(parents=True, exist_ok=True)
    (paths["neighbour"] / "keep.txt").write_bytes(b"neighbour's data")
    return paths


def test_the_anchor_is_created_0700_and_the_helper_says_where_it_wrote(area: dict[str, Path]) -> None:
    tree = Tree(str(area["root"]), "caen-climat/d41d8", create=True)
    assert _write(tree, {"r/x.h5": b"x"})["files"][0]["status"] == "ok"
    assert (area["root"] / "caen-climat/d41d8/r/x.h5").read_bytes() == b"x"
    for level in ("caen-climat", "caen-climat/d41d8"):
        assert (area["root"] / level).stat().st_mode & 0o777 == 0o700
    assert tree.real == str(area["root"].resolve() / "caen-climat/d41d8")


def test_an_operator_root_reached_through_a_link_is_fine(area: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "configured").symlink_to(area["root"])  # the operator's own choice
    tree = Tree(str(tmp_path / "configured"), "caen-climat/d1", create=True)
    _write(tree, {"a": b"a"})
    assert (area["root"] / "caen-climat/d1/a").read_bytes() == b"a"


@pytest.mark.parametrize("level", ["account", "dataset"])
@pytest.mark.parametrize("target", ["same_area", "neighbour", "other_region", "outside"])
def test_a_link_at_any_level_of_the_anchor_is_refused_and_nothing_is_written(
    area: dict[str, Path], tmp_path: Path, level: str, target: str
) -> None:
    destinations = {
        "same_area": area["root"] / "caen-climat-old",
        "neighbour": area["neighbour"],
        "other_region": area["other_region"],
        "outside": area["outside"],
    }
    destinations["same_area"].mkdir(exist_ok=True)
    if level == "account":
        (area["root"] / "caen-climat").symlink_to(destinations[target])
    else:
        (area["root"] / "caen-climat").mkdir(mode=0o700)
        (area["root"] / "caen-climat" / "d1").symlink_to(destinations[target])
    before = _snapshot(tmp_path)
    with pytest.raises(HelperError) as refused:
        _write(Tree(str(area["root"]), "caen-climat/d1", create=True), {"r/x.h5": b"stolen"})
    assert refused.value.kind == "unsafe"
    assert refused.value.path == ("caen-climat" if level == "account" else "caen-climat/d1")
    assert _snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another uid needs root")
@pytest.mark.parametrize("level", ["caen-climat", "caen-climat/d1"])
def test_a_level_owned_by_somebody_else_is_refused(area: dict[str, Path], level: str) -> None:
    (area["root"] / "caen-climat" / "d1").mkdir(parents=True)
    os.chown(area["root"] / level, NOBODY, NOBODY)
    with pytest.raises(HelperError) as refused:
        Tree(str(area["root"]), "caen-climat/d1", create=True)
    assert refused.value.kind == "unsafe" and refused.value.path == level
    assert "belongs to uid 65534" in refused.value.detail


def test_links_below_the_anchor_directories_and_files_are_not_followed(area: dict[str, Path]) -> None:
    tree = Tree(str(area["root"]), "caen-climat/d1", create=True)
    ds = area["root"] / "caen-climat/d1"
    (ds / "r").symlink_to(area["neighbour"])
    with pytest.raises(HelperError) as refused:
        _write(Tree(str(area["root"]), "caen-climat/d1"), {"r/x.h5": b"x"})
    assert refused.value.kind == "unsafe"
    # A link at the file's own name is replaced by the file, never written through.
    (ds / "f.h5").symlink_to(area["neighbour"] / "keep.txt")
    _write(tree, {"f.h5": b"results"})
    assert (ds / "f.h5").read_bytes() == b"results" and not (ds / "f.h5").is_symlink()
    assert (area["neighbour"] / "keep.txt").read_bytes() == b"neighbour's data"


def test_the_stagers_own_directory_as_a_link_is_never_followed(area: dict[str, Path]) -> None:
    ds = area["root"] / "caen-climat/d1"
    ds.mkdir(parents=True)
    (ds / RESERVED).symlink_to(area["neighbour"])
    with pytest.raises(HelperError) as refused:
        _write(Tree(str(area["root"]), "caen-climat/d1"), {"x": b"x"})
    assert refused.value.kind == "unsafe"
    assert sorted(p.name for p in area["neighbour"].iterdir()) == ["keep.txt"]


def test_a_hard_linked_partial_file_is_not_written_into(area: dict[str, Path]) -> None:
    tree = Tree(str(area["root"]), "caen-climat/d1", create=True)
    key = partial_key("big")
    shard = area["root"] / "caen-climat/d1" / RESERVED / "partial" / key[:2]
    shard.mkdir(parents=True)
    victim = area["neighbour"] / "keep.txt"
    os.link(victim, shard / key)  # resume would append to it
    header = {"batch": BATCH, "files": [[key, 3, 5, 0]]}
    with pytest.raises(HelperError) as refused:
        op_recv(tree, io.BytesIO(json.dumps(header).encode() + b"\n" + b"xxxxx"))
    assert refused.value.kind == "unsafe"
    assert victim.read_bytes() == b"neighbour's data"


def test_a_hard_link_planted_as_the_manifests_temporary_file_is_untouched(area: dict[str, Path]) -> None:
    tree = Tree(str(area["root"]), "caen-climat/d1", create=True)
    meta = area["root"] / "caen-climat/d1" / RESERVED
    meta.mkdir()
    victim = area["neighbour"] / "keep.txt"
    os.link(victim, meta / "manifest.json.tmp")  # the old fixed name, opened with O_TRUNC
    _write(tree, {"a": b"a"})
    assert victim.read_bytes() == b"neighbour's data"
    assert json.loads((meta / "manifest.json").read_text())["a"][4] == _sha(b"a")


def test_a_hard_link_at_the_destination_name_is_replaced_not_written_through(area: dict[str, Path]) -> None:
    ds = area["root"] / "caen-climat/d1"
    ds.mkdir(parents=True)
    victim = area["neighbour"] / "keep.txt"
    os.link(victim, ds / "out.txt")
    _write(Tree(str(area["root"]), "caen-climat/d1"), {"out.txt": b"new results"})
    assert (ds / "out.txt").read_bytes() == b"new results"
    assert victim.read_bytes() == b"neighbour's data"


def test_scan_with_a_start_time_keeps_only_newer_files(tmp_path: Path) -> None:
    (tmp_path / "old.out").write_bytes(b"an earlier run")
    (tmp_path / "new.out").write_bytes(b"this job")
    os.utime(tmp_path / "old.out", ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    os.utime(tmp_path / "new.out", ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    found = op_scan(Tree(str(tmp_path)), {"patterns": ["*.out"], "newer_than_ns": 1_500_000_000_000_000_000})
    assert [f["path"] for f in found["files"]] == ["new.out"]


def test_the_helper_reports_its_real_directory_and_the_gateway_checks_it(
    area: dict[str, Path], capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"files": [], "create_root": true}')))
    assert main(["list", str(area["root"]), "caen-climat/d9"]) == 0
    answer = json.loads(capsysbinary.readouterr().out)
    assert answer["real"] == str(area["root"].resolve() / "caen-climat/d9")
    tree = RemoteTree("storage", 22, "myriagate", Path("/dev/null"), str(area["root"]), "caen-climat/d9")
    answer["base_real"] = str(area["root"].resolve())
    check_landing(tree, answer)  # where it was asked to work
    for elsewhere in (str(area["other_region"]), str(area["root"] / "caen-climat"), "/tmp"):
        with pytest.raises(UnsafeValue, match="instead of"):
            check_landing(tree, {**answer, "real": elsewhere})
