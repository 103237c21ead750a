"""Issue #17, "save as dataset" and "copy dataset here", through the API in process.

The cluster's files as the request sees them are the fake file browser's; the bytes the worker
moves are the FakeStager's local directories (``<base>/127.0.0.1_<port>/<root>``), so the
request's checks, the worker's run (stage-out's and stage-in's copiers), the dataset and its
provenance, the audit trail and every refusal's problem are checked end to end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent, DatasetTransfer
from myriagate.db.models.users import User
from myriagate.services.dataset_transfers import runner
from myriagate.services.staging.context import StagingContext
from myriagate.web.api.files import get_file_browser
from myriagate.wiring import Gateway
from myriagate.wiring_files import file_browser
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_cluster_files import FakeClusterFilesFactory
from tests.fakes.fake_slurm import FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.web.conftest import MakeUser, assert_problem

AuthClient = Callable[[User], TestClient]
SAVE = f"/api/v1/clusters/{CLUSTER}/files/scratch/datasets"
ODD = "caf\u00e9 $(id) 'q' `x`.txt"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"spool_dir": tmp_path / "spool"}


@pytest.fixture
def stager(tmp_path: Path, gateway: Gateway) -> FakeStager:
    fake = FakeStager(tmp_path / "hosts")
    gateway._stager = fake
    return fake


@pytest.fixture(autouse=True)
def fake_time(app: FastAPI, clock: FakeClock) -> None:
    app.state.clock = clock


@pytest.fixture
def files(app: FastAPI, gateway: Gateway) -> FakeClusterFilesFactory:
    fake = FakeClusterFilesFactory()
    browser = file_browser(gateway, lambda _profile, _settings, _backends: fake)
    app.dependency_overrides[get_file_browser] = lambda: browser
    return fake


@pytest.fixture
def ctx(
    gateway: Gateway, backends: FakeSlurmBackendFactory, stager: FakeStager, clock: FakeClock
) -> StagingContext:
    return StagingContext(
        session_factory=gateway.session_factory, profile=gateway.profile(CLUSTER), backends=backends,
        stager=stager, clock=clock, allowed_regions=["FR-NOR"], spool_dir=gateway.settings.spool_dir,
        holder="test-worker",
    )  # fmt: skip


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def run1(files: FakeClusterFilesFactory, stager: FakeStager) -> Path:
    """scratch:run1 for alice: as the browser sees it, and on the fake cluster's disk."""
    tree = files.tree("alice")
    tree.dirs.update({b"run1", b"data"})
    tree.links[b"escape"] = b"/etc"
    disk = stager.base / "127.0.0.1_2222" / "scratch" / "alice" / "run1"
    (disk / "sub").mkdir(parents=True)
    (disk / "out.txt").write_bytes(b"result\n")
    (disk / ODD).write_bytes(b"odd name")
    (disk / "sub" / "deep.bin").write_bytes(bytes(range(256)) * 10)
    (disk / "-rf").write_bytes(b"a name read as an option")
    (disk / "link").symlink_to("/etc/passwd")
    return disk


def _events(db: Session, action: str) -> list[AuditEvent]:
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def _save(client: TestClient, **body: Any) -> Any:
    return client.post(SAVE, json={"path": "run1", "name": "run 1", "store": "caen"} | body)


def test_a_directory_is_saved_checksummed_with_its_provenance(
    auth_client: AuthClient, alice: User, run1: Path, ctx: StagingContext, db: Session
) -> None:
    client = auth_client(alice)
    asked = _save(client)
    assert asked.status_code == 202, asked.text
    transfer = asked.json()
    assert asked.headers["Location"] == f"/api/v1/dataset-transfers/{transfer['id']}"
    assert (transfer["state"], transfer["kind"], transfer["place"]) == ("queued", "save", "scratch:/run1")
    assert runner.run_pending(ctx) == 1
    done = client.get(f"/api/v1/dataset-transfers/{transfer['id']}").json()
    assert done["state"] == "completed", done
    assert done["file_count"] == 3
    assert {(s["path"], s["kind"]) for s in done["skipped"]} == {("-rf", "name"), ("link", "link")}
    dataset = client.get(f"/api/v1/datasets/{done['dataset_id']}").json()
    assert dataset["saved_from"] == "scratch:/run1" and dataset["owner"] == "alice@unicaen.fr"
    assert dataset["selection"] == "directory" and dataset["producer_job_id"] is None
    assert dataset["location"]["display"] == "Caen, FR-NOR" and dataset["account"] == "caen-climat"
    recorded = {f["path"]: f["sha256"] for f in dataset["files"]}
    for path in ("out.txt", ODD, "sub/deep.bin"):
        assert recorded[path] == hashlib.sha256((run1 / path).read_bytes()).hexdigest()
    stored = client.get(f"/api/v1/datasets/{dataset['id']}/files/sub/deep.bin")
    assert stored.content == (run1 / "sub" / "deep.bin").read_bytes()
    (saved,) = _events(db, "dataset.saved")
    assert saved.detail["from"] == "scratch:/run1" and saved.detail["login"] == "alice"
    assert len(_events(db, "dataset.save_requested")) == 1


def test_a_store_outside_normandy_is_refused_audited_and_nothing_recorded(
    auth_client: AuthClient, alice: User, run1: Path, db: Session
) -> None:
    problem = assert_problem(_save(auth_client(alice), store="paris"), 403, "residency_violation")
    assert "FR-IDF" in problem["detail"]
    (event,) = _events(db, "staging.refused")
    assert event.detail["reason"] == "other_region" and event.detail["what"] == "save as dataset"
    assert db.scalar(sa.select(sa.func.count()).select_from(DatasetTransfer)) == 0


@pytest.mark.parametrize(
    ("store", "reason"),
    [
        ("10.0.0.5", "ip_literal"),
        ("sftp://evil.example/x", "host_not_configured"),
        ("lyon", "unknown_endpoint"),
    ],
)
def test_a_store_that_is_not_an_endpoint_name_is_refused_and_audited(
    auth_client: AuthClient, alice: User, run1: Path, db: Session, store: str, reason: str
) -> None:
    problem = assert_problem(_save(auth_client(alice), store=store), 422, "invalid_request")
    assert "store" in problem["detail"] or problem["title"]
    (event,) = _events(db, "staging.refused")
    assert event.detail["reason"] == reason


@pytest.mark.parametrize("path", ["escape", "escape/x", "../alice", "/etc", "-rf", "run1\nx", ".myriagate"])
def test_a_path_that_leaves_the_area_or_goes_through_a_link_is_refused_and_audited(
    auth_client: AuthClient, alice: User, run1: Path, db: Session, path: str
) -> None:
    assert_problem(_save(auth_client(alice), path=path), 422, "unsafe_value")
    (event,) = _events(db, "staging.refused")
    assert event.detail["reason"] == "unsafe_path"
    assert db.scalar(sa.select(sa.func.count()).select_from(DatasetTransfer)) == 0


def test_a_file_or_a_missing_directory_cannot_be_saved(
    auth_client: AuthClient, alice: User, files: FakeClusterFilesFactory, run1: Path
) -> None:
    files.tree("alice").files[b"run1/out.txt"] = b"result\n"
    client = auth_client(alice)
    assert_problem(_save(client, path="run1/out.txt"), 422, "invalid_request")
    assert_problem(_save(client, path="nowhere"), 404, "not_found")
    assert_problem(_save(client, name=""), 422)
    assert_problem(_save(client, name="a\nb"), 422)


def _saved_dataset(client: TestClient, ctx: StagingContext) -> str:
    transfer = _save(client).json()
    runner.run_pending(ctx)
    return str(client.get(f"/api/v1/dataset-transfers/{transfer['id']}").json()["dataset_id"])


def test_a_dataset_is_copied_into_scratch_verified_byte_for_byte(
    auth_client: AuthClient, alice: User, run1: Path, ctx: StagingContext, stager: FakeStager, db: Session
) -> None:
    client = auth_client(alice)
    dataset_id = _saved_dataset(client, ctx)
    asked = client.post(
        f"/api/v1/datasets/{dataset_id}/copies", json={"area": "scratch", "path": "copies/run1"}
    )
    assert asked.status_code == 202, asked.text
    assert runner.run_pending(ctx) == 1
    done = client.get(asked.headers["Location"]).json()
    assert done["state"] == "completed" and done["file_count"] == 3, done
    target = stager.base / "127.0.0.1_2222" / "scratch" / "alice" / "copies" / "run1"
    for path in ("out.txt", ODD, "sub/deep.bin"):
        assert (target / path).read_bytes() == (run1 / path).read_bytes()
    assert not (target / "-rf").exists() and not (target / "link").exists()
    (copied,) = _events(db, "dataset.copied")
    assert copied.detail["to"] == "scratch:/copies/run1"


def test_an_existing_target_is_refused_unless_replace_is_asked(
    auth_client: AuthClient, alice: User, run1: Path, ctx: StagingContext
) -> None:
    client = auth_client(alice)
    dataset_id = _saved_dataset(client, ctx)
    url = f"/api/v1/datasets/{dataset_id}/copies"
    assert_problem(client.post(url, json={"area": "scratch", "path": "data"}), 409, "already_exists")
    assert client.post(url, json={"area": "scratch", "path": "data", "replace": True}).status_code == 202
    assert_problem(client.post(url, json={"area": "scratch", "path": "escape"}), 422, "unsafe_value")


def test_a_read_only_area_is_refused_for_copy_here(
    auth_client: AuthClient, alice: User, run1: Path, ctx: StagingContext, gateway: Gateway
) -> None:
    client = auth_client(alice)
    dataset_id = _saved_dataset(client, ctx)
    profile = gateway.profile(CLUSTER)
    archive = profile.files.areas[1].model_copy(update={"name": "archive", "writable": False})
    files = profile.files.model_copy(update={"areas": (*profile.files.areas, archive)})
    gateway.profiles[CLUSTER] = profile.model_copy(update={"files": files})
    try:
        problem = assert_problem(
            client.post(f"/api/v1/datasets/{dataset_id}/copies", json={"area": "archive", "path": "x"}),
            403,
            "permission_denied",
        )
    finally:
        gateway.profiles[CLUSTER] = profile
    assert "read-only" in problem["detail"]


def test_somebody_elses_transfer_and_dataset_are_not_found(
    auth_client: AuthClient, alice: User, make_user: MakeUser, run1: Path, ctx: StagingContext
) -> None:
    client = auth_client(alice)
    transfer = _save(client).json()
    runner.run_pending(ctx)
    dataset_id = client.get(f"/api/v1/dataset-transfers/{transfer['id']}").json()["dataset_id"]
    bob = auth_client(make_user(username="bob@unicaen.fr", login="bob", accounts=["other-proj"]))
    assert_problem(bob.get(f"/api/v1/dataset-transfers/{transfer['id']}"), 404)
    assert_problem(
        bob.post(f"/api/v1/datasets/{dataset_id}/copies", json={"area": "scratch", "path": "x"}), 404
    )
    assert [t["id"] for t in client.get("/api/v1/dataset-transfers").json()] == [transfer["id"]]


def test_the_workers_note_is_said_in_the_callers_language(
    auth_client: AuthClient, alice: User, run1: Path, ctx: StagingContext
) -> None:
    """Issue #17 trial: `files save-dataset --wait` and `datasets copy-to --wait` printed the
    worker's note in English to a French researcher ("3 file(s) stored in Caen (FR-NOR)…"): the
    note is stored in English, and only the transfer's page said it in French."""
    client = auth_client(alice)
    transfer = _save(client).json()
    runner.run_pending(ctx)
    url = f"/api/v1/dataset-transfers/{transfer['id']}"
    french = client.get(url, headers={"Accept-Language": "fr-FR,fr;q=0.9"}).json()
    assert french["note"].startswith("3 file(s) stored in Caen (FR-NOR); 2 skipped")  # as recorded
    assert french["note_said"].startswith("3 fichier(s) stocké(s) à Caen (FR-NOR) ; 2 laissé(s) de côté")
    english = client.get(url).json()
    assert english["note_said"] == english["note"] == french["note"]
    (listed,) = client.get("/api/v1/dataset-transfers", headers={"Accept-Language": "fr"}).json()
    assert listed["note_said"] == french["note_said"]
    assert _save(client).json()["note_said"] is None  # queued: no note yet
