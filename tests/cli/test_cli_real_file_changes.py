# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files mkdir|mv|cp|rm|du` end to end on the REAL dev cluster (issue #17): a live
gateway (uvicorn in its own process), the CLI logged in as alice, her files changed as her own
login, a wildcard matched on the cluster, rm -r refused without --yes off a terminal."""

from __future__ import annotations

import json
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_real import alice_token, cli, database_url, live  # noqa: F401 - fixtures
from tests.fakes.hostile import CANARY

pytestmark = pytest.mark.slurm


@pytest.fixture
def scratch_dir() -> Iterator[str]:
    name = f"mg-cli-changes-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(f"/scratch/alice/{name}", ignore_errors=True)


def test_alice_changes_her_scratch_with_the_cli(cli: Any, scratch_dir: str) -> None:
    name = scratch_dir
    here = Path("/scratch/alice") / name
    made = cli("files", "mkdir", "-p", f"scratch:{name}/run1/out")
    assert made.exit_code == 0, made.output
    assert here.joinpath("run1", "out").stat().st_uid == pwd.getpwnam("alice").pw_uid
    for log in ("a.log", "b.log", "$(touch _tmp_myriagate-pwned).log"):
        cp = cli("files", "mkdir", f"scratch:{name}/run1/out/{log}")  # directories named like logs
        assert cp.exit_code == 0, cp.output
    moved = cli("files", "mv", f"scratch:{name}/run1/out/*.log", f"scratch:{name}/run1")
    assert moved.exit_code == 0, moved.output
    assert sorted(p.name for p in (here / "run1").iterdir()) == sorted(
        ["out", "a.log", "b.log", "$(touch _tmp_myriagate-pwned).log"]
    )
    assert not Path(CANARY).exists() and not (here / "_tmp_myriagate-pwned").exists()
    copied = cli("files", "cp", "-r", f"scratch:{name}/run1", f"scratch:{name}/run2")
    assert copied.exit_code == 0 and "5 directories" in copied.stdout, copied.output
    unasked = cli("files", "rm", "-r", f"scratch:{name}/run2")
    assert unasked.exit_code == 5 and "--yes" in unasked.stderr and (here / "run2").is_dir()
    removed = cli("files", "rm", "-r", "--yes", f"scratch:{name}/run2")
    assert removed.exit_code == 0 and not (here / "run2").exists(), removed.output
    [usage] = json.loads(cli("files", "du", "--json", f"scratch:{name}").stdout)
    assert (usage["directories"], usage["partial"]) == (6, False)
    listed = cli("files", "du")
    assert listed.exit_code == 0 and "home:" in listed.stdout and "scratch:" in listed.stdout


def test_bobs_directory_inside_alices_is_named_and_her_tree_said_partly_removed(
    cli: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue #17 trial: with bob's 0700 directory inside hers, `rm -r` printed "removed home:…"
    though the cluster kept her directory (and his), and `cp -r` blamed the cluster for not
    letting her login "change" what it only could not read."""
    name = f"mg-cli-bobs-{uuid.uuid4().hex[:8]}"
    here = Path("/home/alice") / name
    made = cli("files", "mkdir", "-p", f"home:{name}/mixed")
    assert made.exit_code == 0, made.output
    (here / "mixed").chmod(0o1777)  # a shared drop box of hers: bob may make his directory in it
    (here / "mixed" / "mine.txt").write_text("mine")
    shutil.chown(here / "mixed" / "mine.txt", "alice", "alice")
    private = here / "mixed" / "bobs-dir"
    private.mkdir(mode=0o700)
    (private / "inner.txt").write_text("bob's\n")
    for path in (private / "inner.txt", private):
        shutil.chown(path, "bob", "bob")
    try:
        copied = cli("files", "cp", "-r", f"home:{name}/mixed", f"home:{name}/copy")
        assert copied.exit_code == 4, copied.output
        assert f"home:{name}/mixed/bobs-dir: permission" in copied.stderr
        assert "did not let your login copy 1 entry" in copied.stderr
        gone = cli("files", "rm", "-r", "--yes", f"home:{name}/mixed")
        assert gone.exit_code == 4, gone.output
        assert gone.stdout.startswith(
            f"partly removed (the warnings name what was kept) home:{name}/mixed (1 file,"
        )
        assert "did not let your login remove 1 entry" in gone.stderr
        assert (private / "inner.txt").read_text() == "bob's\n" and not (here / "mixed" / "mine.txt").exists()
    finally:
        shutil.rmtree(here)
