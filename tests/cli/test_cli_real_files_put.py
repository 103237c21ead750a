# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files put` end to end on the REAL dev cluster (issue #17): a live gateway (uvicorn
in its own process), the CLI logged in as alice over TCP, local files uploaded into her home as
her own login, byte for byte, an existing file kept without --force, and the full tmpfs of
deploy/devcluster/up.sh refusing a file that does not fit, leaving nothing behind."""

from __future__ import annotations

import json
import os
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
PAYLOAD = "$(touch _tmp_myriagate-pwned) -rf.h5"


@pytest.fixture
def target() -> Iterator[tuple[str, Path]]:
    name = f"mg-cli-put-{uuid.uuid4().hex[:8]}"
    here = Path("/home/alice") / name
    here.mkdir(mode=0o755)
    shutil.chown(here, "alice", "alice")
    yield name, here
    shutil.rmtree(here, ignore_errors=True)


def test_alice_uploads_several_files_into_her_home(
    cli: Any, target: tuple[str, Path], tmp_path: Path
) -> None:
    name, here = target
    local = tmp_path / "local"
    local.mkdir()
    sizes = {"a.h5": 3 << 20, "b.h5": 1000, PAYLOAD: 7, "notes.txt": 10}
    for file, size in sizes.items():
        (local / file).write_bytes(os.urandom(size))
    done = cli("files", "put", str(local / "*.h5"), str(local / "notes.txt"), f"home:{name}", "--json")
    assert done.exit_code == 0, done.output
    placed = {item["path"]: item for item in json.loads(done.stdout)}
    assert set(placed) == {f"{name}/{f}" for f in sizes}
    alice = pwd.getpwnam("alice").pw_uid
    for file in sizes:
        assert (here / file).read_bytes() == (local / file).read_bytes()
        assert (here / file).stat().st_uid == alice  # written as alice herself
    assert [n for n in os.listdir(here) if n.startswith(".")] == []  # no partial file left
    assert not Path(CANARY).exists() and not (here / "_tmp_myriagate-pwned").exists()

    again = cli("files", "put", str(local / "b.h5"), f"home:{name}/")
    assert again.exit_code == 6 and "already exists" in again.stderr
    (local / "b.h5").write_bytes(b"changed")
    assert cli("files", "put", "-f", str(local / "b.h5"), f"home:{name}/b.h5").exit_code == 0
    assert (here / "b.h5").read_bytes() == b"changed"


def test_a_file_that_does_not_fit_is_refused_and_leaves_nothing(cli: Any, tmp_path: Path) -> None:
    small = Path("/scratch/alice/small-disk")
    assert os.path.ismount(small), "deploy/devcluster/up.sh mounts an 8 MiB tmpfs here"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (9 << 20))
    done = cli("files", "put", str(big), "scratch:small-disk/")
    assert done.exit_code == 7 and "no room" in done.stderr, done.output
    assert "big.bin" not in os.listdir(small) and not [n for n in os.listdir(small) if n.startswith(".")]
