# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Cluster file write operations (issue #17) through the real API (uvicorn on a free port) on
the dev cluster's sshd, as alice's own login: directories made with hostile names, renames
and copies, removals that count what went, links planted to escape her area never followed,
bob's files refused by the cluster itself, disk usage partial where she cannot read, and a
wildcard matched on the cluster."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes.hostile import CANARY, HOSTILE_STRINGS
from tests.integration import test_api_real_cluster as api_real
from tests.integration.test_files_real import workdir  # noqa: F401 - fixture by name

gateway, server, alice = api_real.gateway, api_real.server, api_real.alice

pytestmark = pytest.mark.slurm
BASE = "/clusters/devcluster/files"
HOSTILE = [
    s.replace("/", "_") for s in HOSTILE_STRINGS if "\x00" not in s and "\n" not in s and "\x1f" not in s
]
Workdir = tuple[str, Callable[..., None]]


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["code"] == code, body
    return body


def _bobs(here: Path) -> Path:
    """bob's 0700 directory inside alice's: his file in it, never hers to read or change."""
    private = here / "bobs-dir"
    private.mkdir(mode=0o700)
    (private / "inner.txt").write_text("bob's\n")
    for path in (private / "inner.txt", private):
        shutil.chown(path, "bob", "bob")
    return private


def test_directories_made_renamed_copied_and_removed_as_alice_with_hostile_names(
    alice: httpx.Client, workdir: Workdir
) -> None:
    name, make = workdir
    make([(b"src/a.txt", 10), (b"src/sub/b.txt", 5)])
    uid = pwd.getpwnam("alice").pw_uid
    for i, odd in enumerate(HOSTILE):
        made = alice.post(f"{BASE}/home/mkdir", json={"path": f"{name}/{odd}"})
        if any(ord(c) < 32 for c in odd):  # a newline, tab, NUL…: refused as a path, nothing made
            _problem(made, 422, "unsafe_value")
            continue
        assert made.status_code == 201, (odd, made.text)
        path = Path(f"/home/alice/{name}/{odd}")
        assert path.is_dir() and path.stat().st_uid == uid  # made by alice's login, nobody else
        moved = alice.post(f"{BASE}/home/rename", json={"path": f"{name}/{odd}", "to": f"{name}/m{i}-{odd}"})
        assert moved.status_code == 200, moved.text
    assert not Path(CANARY).exists() and not Path("/home/alice/_tmp_myriagate-pwned").exists()
    made_names = set(os.listdir(f"/home/alice/{name}")) - {"src"}
    assert made_names == {f"m{i}-{odd}" for i, odd in enumerate(HOSTILE) if not any(ord(c) < 32 for c in odd)}
    copied = alice.post(
        f"{BASE}/home/copy", json={"path": f"{name}/src", "to": f"{name}/dst", "recursive": True}
    )
    assert copied.status_code == 201, copied.text
    assert (copied.json()["files"], copied.json()["size_bytes"]) == (2, 15)
    assert (
        Path(f"/home/alice/{name}/dst/sub/b.txt").read_bytes()
        == Path(f"/home/alice/{name}/src/sub/b.txt").read_bytes()
    )
    assert Path(f"/home/alice/{name}/dst/sub/b.txt").stat().st_uid == uid
    kept = alice.post(f"{BASE}/home/rename", json={"path": f"{name}/src/a.txt", "to": f"{name}/dst/a.txt"})
    _problem(kept, 409, "already_exists")
    _problem(alice.delete(f"{BASE}/home/entry", params={"path": f"{name}/dst"}), 409, "conflict")
    gone = alice.delete(f"{BASE}/home/entry", params={"path": f"{name}/dst", "recursive": True})
    assert gone.status_code == 200 and (gone.json()["files"], gone.json()["directories"]) == (2, 2)
    assert not Path(f"/home/alice/{name}/dst").exists() and Path(f"/home/alice/{name}/src/a.txt").exists()


def test_links_planted_to_escape_are_never_followed(alice: httpx.Client, workdir: Workdir) -> None:
    name, make = workdir
    make([(b"tree/file.txt", 3)], links=[(b"tree/to-bob", "/home/bob"), (b"out", "/tmp")])
    _problem(alice.post(f"{BASE}/home/mkdir", json={"path": f"{name}/out/planted"}), 422, "unsafe_value")
    moved = alice.post(
        f"{BASE}/home/rename", json={"path": f"{name}/tree/file.txt", "to": f"{name}/out/file.txt"}
    )
    _problem(moved, 422, "unsafe_value")
    assert not Path("/tmp/planted").exists() and not Path("/tmp/file.txt").exists()
    copied = alice.post(
        f"{BASE}/home/copy", json={"path": f"{name}/tree", "to": f"{name}/copy", "recursive": True}
    )
    assert copied.status_code == 201 and copied.json()["links"] == 1
    assert os.readlink(f"/home/alice/{name}/copy/to-bob") == "/home/bob"  # the link itself, as a link
    before = os.listdir("/home/bob")
    gone = alice.delete(f"{BASE}/home/entry", params={"path": f"{name}/tree", "recursive": True}).json()
    assert gone["links"] == 1 and gone["complete"] is True
    # bob's jobs running beside this test may add slurm-*.out files: nothing of his may go
    assert set(before) <= set(os.listdir("/home/bob")) and Path("/tmp").is_dir()


def test_bobs_files_are_refused_by_the_cluster_and_the_rest_goes(
    alice: httpx.Client, workdir: Workdir
) -> None:
    name, make = workdir
    make([(b"mixed/mine.txt", 4)])
    private = _bobs(Path(f"/home/alice/{name}/mixed"))
    _problem(
        alice.post(f"{BASE}/home/mkdir", json={"path": f"{name}/mixed/bobs-dir/x"}), 403, "permission_denied"
    )
    copied = alice.post(
        f"{BASE}/home/copy", json={"path": f"{name}/mixed/bobs-dir/inner.txt", "to": f"{name}/x"}
    )
    _problem(copied, 403, "permission_denied")
    usage = alice.get(f"{BASE}/home/usage", params={"path": name}).json()
    assert usage["partial"] is True and usage["stopped"] == "unreadable" and usage["unreadable"] == 1
    gone = alice.delete(f"{BASE}/home/entry", params={"path": f"{name}/mixed", "recursive": True}).json()
    assert gone["complete"] is False and gone["files"] == 1
    assert [(f["path"], f["reason"]) for f in gone["failed"]] == [(f"{name}/mixed/bobs-dir", "permission")]
    assert (private / "inner.txt").read_text() == "bob's\n"  # still his, untouched


def test_usage_and_a_wildcard_in_alices_scratch(alice: httpx.Client) -> None:
    made = alice.post(f"{BASE}/scratch/mkdir", json={"path": "mg-changes/a/b", "parents": True})
    assert made.status_code == 201, made.text
    try:
        for name in ("one.log", "two.log", "keep.txt", ".hidden.log"):
            Path(f"/scratch/alice/mg-changes/{name}").write_bytes(b"x" * 5000)
        found = alice.get(f"{BASE}/scratch/glob", params={"pattern": "mg-changes/*.log"}).json()
        assert [e["name"] for e in found["entries"]] == ["one.log", "two.log"]
        usage = alice.get(f"{BASE}/scratch/usage", params={"path": "mg-changes"}).json()
        assert (usage["files"], usage["directories"], usage["partial"]) == (4, 3, False)
        assert usage["apparent_size_bytes"] >= 20_000 and usage["size_bytes_on_disk"] >= 16_384
        bounded = alice.get(f"{BASE}/scratch/usage", params={"path": "mg-changes", "max_entries": 2}).json()
        assert bounded["partial"] is True and bounded["stopped"] == "entries"
    finally:
        gone = alice.delete(f"{BASE}/scratch/entry", params={"path": "mg-changes", "recursive": True})
        assert gone.status_code == 200 and not Path("/scratch/alice/mg-changes").exists()
