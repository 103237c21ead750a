# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate files` end to end on the REAL dev cluster (issue #17): a live gateway (uvicorn in
its own process, as tests/cli/test_cli_real.py starts it), the CLI logged in as alice over
TCP, files made by alice in her home over SSH, listed and fetched back by the CLI, as her own
login."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.client import Client
from myriagate.errors import StagingError
from myriagate.runners import SshRunner
from tests.cli.live_gateway import LiveGateway
from tests.cli.test_cli_files import Recording
from tests.cli.test_cli_real import alice_token, cli, database_url, live  # noqa: F401 - fixtures
from tests.fakes.hostile import CANARY
from tests.integration.conftest import ca, ssh_pool, ssh_runner_for  # noqa: F401 - fixtures

pytestmark = pytest.mark.slurm

# Run as alice: the names arrive as hex on stdin, so none is on a command line.
MAKE_FILES = """
import json, os, sys
req = json.load(sys.stdin)
for name, size in req["files"]:
    path = bytes.fromhex(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"0123456789"[:size] if path.endswith(b".txt") else os.urandom(size))
"""
PAYLOAD = "$(touch _tmp_myriagate-pwned).h5"


@pytest.fixture
def home_dir(ssh_runner_for: Callable[[str], SshRunner]) -> Iterator[tuple[str, Path]]:
    name = f"mg-cli-files-{uuid.uuid4().hex[:8]}"
    here = Path("/home/alice") / name
    files = [("results/a.h5", 3 << 20), ("results/b.h5", 1000), ("results/notes.txt", 10),
             (f"results/{PAYLOAD}", 7), ("results/new\nline.h5", 5)]  # fmt: skip
    request = {"files": [[str(here / rel).encode().hex(), size] for rel, size in files]}
    ssh_runner_for("alice").run(["/usr/bin/python3", "-c", MAKE_FILES], stdin=json.dumps(request).encode())
    yield name, here
    shutil.rmtree(here, ignore_errors=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_alice_lists_and_fetches_her_files_with_a_wildcard(
    cli: Any, home_dir: tuple[str, Path], tmp_path: Path
) -> None:
    name, here = home_dir
    listed = cli("files", "ls", "-l", f"home:{name}/results")
    assert listed.exit_code == 0, listed.output
    for shown in ("a.h5", "b.h5", "notes.txt", PAYLOAD, "new\\nline.h5", "-rw-"):
        assert shown in listed.stdout, (shown, listed.stdout)
    entries = json.loads(cli("files", "ls", "--json", f"{name}/results").stdout)
    assert {e["name"]: e["size_bytes"] for e in entries}["a.h5"] == 3 << 20
    assert os.stat(here / "results" / "a.h5").st_uid == pwd.getpwnam("alice").pw_uid  # made as alice herself

    out = tmp_path / "out"
    got = cli("files", "get", f"home:{name}/results/*.h5", f"{out}/")
    assert got.exit_code == 0, got.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.h5", "b.h5", PAYLOAD])
    for fetched in out.iterdir():
        assert _sha(fetched) == _sha(here / "results" / fetched.name)
    assert "skipped home:" in got.stderr and "not plain text" in got.stderr  # the newline name
    assert not Path(CANARY).exists() and not (here / "results" / "_tmp_myriagate-pwned").exists()

    again = cli("files", "get", f"home:{name}/results/b.h5", str(out))
    assert again.exit_code == 6 and "already exist" in again.stderr
    shown = cli("files", "cat", "--tail", "-c", "4", f"home:{name}/results/notes.txt")
    assert (shown.exit_code, shown.stdout) == (0, "6789"), shown.output
    refused = cli("files", "ls", "home:../bob")
    assert refused.exit_code == 5 and refused.stderr.startswith("Error: ")


def test_an_interrupted_download_resumes_with_a_range_on_the_real_gateway(
    live: LiveGateway, alice_token: str, home_dir: tuple[str, Path], tmp_path: Path
) -> None:
    """The client's resume against the real server's ETag and byte ranges: the first transfer
    is cut after 1 MiB (a read error, as a dropped connection), the second asks for the rest."""
    name, here = home_dir
    cut = Recording(httpx.HTTPTransport(), cut_after=1 << 20)
    with Client(live.url, alice_token, http=httpx.Client(transport=cut, timeout=60)) as client:
        with pytest.raises(StagingError, match="stopped after 1048576 bytes"):
            client.download_file("home", f"{name}/results/a.h5", tmp_path)
        assert (tmp_path / ".a.h5.part").stat().st_size == 1 << 20
        written = client.download_file("home", f"{name}/results/a.h5", tmp_path)
    assert _sha(written) == _sha(here / "results" / "a.h5")
    first, second = cut.downloads()
    assert "range" not in first.headers
    assert second.headers["range"] == "bytes=1048576-" and second.headers["if-range"].startswith('"')
    assert cut.statuses[-1] == 206
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]
