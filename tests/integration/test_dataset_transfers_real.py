"""Issue #17, "save as dataset" and "copy dataset here", on the REAL dev cluster and storage sshd:
the API through uvicorn as alice, the worker's pass run here, the bytes moved over SSH as
alice's own login (the cluster) and the storage login (caen, 127.0.0.1:2223).

A directory of her scratch with hostile names is saved and every file checksummed against the
bytes on the cluster; a link planted in the path is refused and audited; a store in Paris is
refused and audited; the dataset is copied back into her scratch and compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from myriagate.clock import SystemClock
from myriagate.db.models import AuditEvent, User
from myriagate.services.dataset_transfers import runner
from myriagate.wiring import Gateway
from tests.conftest import CLUSTER
from tests.fakes.hostile import CANARY
from tests.integration import test_api_real_cluster as api_real

gateway, server, alice = api_real.gateway, api_real.server, api_real.alice

pytestmark = pytest.mark.slurm

SCRATCH = Path("/scratch/alice")
CAEN = Path("/srv/myriagate-storage/caen")
PARIS = Path("/srv/myriagate-storage/paris")
BASE = f"/clusters/{CLUSTER}/files/scratch"
HOSTILE = [
    "$(touch _tmp_myriagate-pwned).txt",
    "a 'quoted' \"name\" `x`.dat",
    "caf\u00e9 ; rm -rf ~",
    "sub/dir/deep.bin",
]


def _as_alice(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "alice", "--", *argv], check=True, capture_output=True)


@pytest.fixture
def run_dir() -> Iterator[str]:
    """A fresh directory of alice's scratch, made by alice, with hostile names, a '-rf' file
    and a link out of the area."""
    name = f"mg-save-{uuid.uuid4().hex[:8]}"
    script = (
        "import json, os, sys\n"
        "base, names = json.load(sys.stdin)\n"
        "for i, n in enumerate(names):\n"
        "    p = os.path.join(base, n); os.makedirs(os.path.dirname(p), exist_ok=True)\n"
        "    open(p, 'wb').write(os.urandom(1000 * (i + 1)))\n"
        "open(os.path.join(base, '-rf'), 'wb').write(b'dash')\n"
        "os.symlink('/etc/passwd', os.path.join(base, 'passwd-link'))\n"
    )
    subprocess.run(["runuser", "-u", "alice", "--", "/usr/bin/python3", "-c", script],
                   input=json.dumps([str(SCRATCH / name), HOSTILE]).encode(), check=True)  # fmt: skip
    yield name
    shutil.rmtree(SCRATCH / name, ignore_errors=True)


def _worker_pass(gw: Gateway) -> int:
    return runner.run_pending(gw.staging_context(CLUSTER, SystemClock(), "test-dataset-transfers"))


def _account(users: dict[str, User]) -> str | None:
    accounts = users["alice"].accounts_on(CLUSTER)
    return accounts[0] if accounts else None


def _events(gw: Gateway, action: str) -> list[AuditEvent]:
    with gw.session_factory() as session:
        return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_a_directory_with_hostile_names_is_saved_checksummed_then_copied_back_byte_for_byte(
    gateway: Gateway, alice: httpx.Client, users: dict[str, User], run_dir: str
) -> None:
    asked = alice.post(
        f"{BASE}/datasets",
        json={"path": run_dir, "name": "hostile run", "store": "caen", "account": _account(users)},
    )
    assert asked.status_code == 202, asked.text
    assert _worker_pass(gateway) == 1
    done = alice.get(asked.headers["Location"].removeprefix("/api/v1")).json()
    assert done["state"] == "completed", done
    assert {(s["path"], s["kind"]) for s in done["skipped"]} == {("-rf", "name"), ("passwd-link", "link")}
    dataset = alice.get(f"/datasets/{done['dataset_id']}").json()
    assert dataset["saved_from"] == f"scratch:/{run_dir}" and dataset["location"]["region"] == "FR-NOR"
    files = {f["path"]: f for f in dataset["files"]}
    assert sorted(files) == sorted(HOSTILE)
    for path in HOSTILE:
        data = (SCRATCH / run_dir / path).read_bytes()
        assert files[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert (Path(dataset["root"]) / path).read_bytes() == data  # on the storage endpoint
    assert str(dataset["root"]).startswith(str(CAEN) + "/")
    assert not Path(CANARY).exists() and not (SCRATCH / "_tmp_myriagate-pwned").exists()

    target = f"{run_dir}-copy"
    copy = alice.post(f"/datasets/{dataset['id']}/copies", json={"area": "scratch", "path": target})
    assert copy.status_code == 202, copy.text
    try:
        assert _worker_pass(gateway) == 1
        copied = alice.get(f"/dataset-transfers/{copy.json()['id']}").json()
        assert copied["state"] == "completed" and copied["file_count"] == len(HOSTILE), copied
        for path in HOSTILE:
            assert (SCRATCH / target / path).read_bytes() == (SCRATCH / run_dir / path).read_bytes()
            assert (SCRATCH / target / path).stat().st_uid == (SCRATCH / run_dir).stat().st_uid  # alice's
        again = alice.post(f"/datasets/{dataset['id']}/copies", json={"area": "scratch", "path": target})
        assert again.status_code == 409 and again.json()["code"] == "already_exists"
    finally:
        shutil.rmtree(SCRATCH / target, ignore_errors=True)
    assert len(_events(gateway, "dataset.saved")) == 1 and len(_events(gateway, "dataset.copied")) == 1


def test_a_link_planted_in_the_path_is_refused_and_audited(
    gateway: Gateway, alice: httpx.Client, users: dict[str, User], run_dir: str
) -> None:
    link = f"{run_dir}-escape"
    _as_alice("ln", "-s", "/home/bob", str(SCRATCH / link))
    try:
        for path in (link, f"{link}/x", f"{run_dir}/passwd-link"):
            got = alice.post(f"{BASE}/datasets", json={"path": path, "name": "x", "store": "caen",
                                                       "account": _account(users)})  # fmt: skip
            assert got.status_code == 422 and got.json()["code"] == "unsafe_value", got.text
    finally:
        (SCRATCH / link).unlink()
    refused = [e for e in _events(gateway, "staging.refused") if e.detail["reason"] == "unsafe_path"]
    assert len(refused) == 3 and all(e.detail["what"] == "save as dataset" for e in refused)
    assert alice.get("/dataset-transfers").json() == []


def test_a_store_in_paris_is_refused_audited_and_nothing_written_there(
    gateway: Gateway, alice: httpx.Client, users: dict[str, User], run_dir: str
) -> None:
    before = sorted(p.name for p in PARIS.iterdir())
    got = alice.post(f"{BASE}/datasets", json={"path": run_dir, "name": "x", "store": "paris",
                                               "account": _account(users)})  # fmt: skip
    assert got.status_code == 403 and got.json()["code"] == "residency_violation", got.text
    (event,) = [e for e in _events(gateway, "staging.refused") if e.detail["reason"] == "other_region"]
    assert event.detail["region"] == "FR-IDF" and event.detail["what"] == "save as dataset"
    assert sorted(p.name for p in PARIS.iterdir()) == before
    assert _worker_pass(gateway) == 0
