"""Issue #15, "Ids you can use", for datasets on the REAL dev cluster and storage sshd: a
directory of alice's scratch saved as a dataset (the worker's pass run here, over SSH as
alice and the storage login), then named by the short id the list gives it in every dataset
route: shown, a file downloaded (verified against the storage endpoint's bytes) and copied
back into her scratch; bob is told "not found" by the same short id."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import User
from myriagate.wiring import Gateway
from tests.conftest import CLUSTER
from tests.integration import test_api_real_cluster as api_real
from tests.integration.test_dataset_transfers_real import SCRATCH, _account, _worker_pass

gateway, server, alice = api_real.gateway, api_real.server, api_real.alice

pytestmark = pytest.mark.slurm
CONTENT = b"mean temperature: 12.38\n"


@pytest.fixture
def run_dir() -> Iterator[str]:
    name = f"mg-ids-{uuid.uuid4().hex[:8]}"
    subprocess.run(["runuser", "-u", "alice", "--", "mkdir", str(SCRATCH / name)], check=True)
    subprocess.run(["runuser", "-u", "alice", "--", "tee", str(SCRATCH / name / "summary.txt")],
                   input=CONTENT, check=True, capture_output=True)  # fmt: skip
    yield name
    for leftover in (name, f"{name}-copy"):
        shutil.rmtree(SCRATCH / leftover, ignore_errors=True)


def test_a_saved_datasets_short_id_names_it_in_every_route(
    gateway: Gateway, alice: httpx.Client, server: str, db: sessionmaker[Session],
    users: dict[str, User], run_dir: str,
) -> None:  # fmt: skip
    asked = alice.post(
        f"/clusters/{CLUSTER}/files/scratch/datasets",
        json={"path": run_dir, "name": "ids run", "store": "caen", "account": _account(users)},
    )
    assert asked.status_code == 202, asked.text
    assert _worker_pass(gateway) == 1
    dataset_id = alice.get(asked.headers["Location"].removeprefix("/api/v1")).json()["dataset_id"]
    listed = {d["id"]: d for d in alice.get("/datasets").json()["items"]}
    short = listed[dataset_id]["short_id"]
    assert len(short) >= 8 and dataset_id.replace("-", "").startswith(short)

    shown = alice.get(f"/datasets/{short}")
    assert shown.status_code == 200 and shown.json()["id"] == dataset_id
    got = alice.get(f"/datasets/{short}/files/summary.txt")
    assert got.status_code == 200 and got.content == CONTENT  # fetched from Caen, sha256 checked
    copy = alice.post(f"/datasets/{short}/copies", json={"area": "scratch", "path": f"{run_dir}-copy"})
    assert copy.status_code == 202, copy.text
    assert _worker_pass(gateway) == 1
    assert (SCRATCH / f"{run_dir}-copy" / "summary.txt").read_bytes() == CONTENT

    with api_real._client(server, db, users["bob"]) as bob:
        theirs, missing = bob.get(f"/datasets/{short}"), bob.get(f"/datasets/{uuid.uuid4()}")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["title"] == missing.json()["title"]
    assert Path(SCRATCH / run_dir / "summary.txt").read_bytes() == CONTENT
