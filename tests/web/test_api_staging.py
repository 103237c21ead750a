"""Data staging through the API, in-process: uploads streamed to the spool, submissions with
inputs/outputs, residency refusals, the worker's staging step, datasets and verified downloads.

The cluster is the fake Slurm; the cluster's and the storage endpoints' disks are the
FakeStager's local directories (``<base>/127.0.0.1_<port>/<root>``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent, Dataset, Job, Upload
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from myriagate.wiring import Gateway, worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem

AuthClient = Callable[[User], TestClient]
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=climate\n#SBATCH --time=00:10:00\ncat data/input.csv\n"


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"spool_dir": tmp_path / "spool", "upload_max_bytes": 1 << 20}


@pytest.fixture
def stager(tmp_path: Path, gateway: Gateway) -> FakeStager:
    fake = FakeStager(tmp_path / "hosts")
    gateway._stager = fake  # what gateway.stager() hands out (wiring builds OpenSSH otherwise)
    return fake


@pytest.fixture
def spool(gateway: Gateway) -> Path:
    return gateway.settings.spool_dir


@pytest.fixture(autouse=True)
def fake_time(app: FastAPI, clock: FakeClock, stager: FakeStager) -> None:
    app.state.clock = clock


@pytest.fixture
def ctx(
    gateway: Gateway, backends: FakeSlurmBackendFactory, stager: FakeStager, clock: FakeClock
) -> StagingContext:
    return StagingContext(
        session_factory=gateway.session_factory,
        profile=gateway.profile(CLUSTER),
        backends=backends,
        stager=stager,
        clock=clock,
        allowed_regions=["FR-NOR"],
        spool_dir=gateway.settings.spool_dir,
        holder="test-worker",
    )


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def new_upload(client: TestClient) -> str:
    response = client.post("/api/v1/uploads")
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def put(client: TestClient, upload_id: str, path: str, data: bytes, checksum: str | None = None) -> Any:
    headers = {"X-Content-SHA256": checksum} if checksum else {}
    # A generator body goes out chunked, as the CLI streams it.
    return client.put(f"/api/v1/uploads/{upload_id}/files/{path}", content=chunks(data), headers=headers)


def spool_files(spool: Path) -> list[str]:
    return (
        sorted(p.relative_to(spool).as_posix() for p in spool.rglob("*") if p.is_file())
        if spool.exists()
        else []
    )


def submit(client: TestClient, staging: dict[str, Any], **body: Any) -> Any:
    return client.post("/api/v1/jobs", json={"script": SCRIPT, "staging": staging, **body})


def host_dir(stager: FakeStager, port: int, root: str) -> Path:
    return stager.base / f"127.0.0.1_{port}" / root.lstrip("/")


# --- uploads -------------------------------------------------------------------------
def test_files_stream_into_the_spool_with_their_checksums(
    alice: User, auth_client: AuthClient, spool: Path
) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    data = bytes(range(256)) * 2000  # 512 KB in 1 KB chunks
    response = put(client, upload_id, "data/input.bin", data, sha(data))
    assert response.status_code == 201, response.text
    assert response.json() == {"path": "data/input.bin", "size_bytes": len(data), "sha256": sha(data)}
    assert (spool / "uploads" / upload_id / "files" / "data/input.bin").read_bytes() == data

    # Without the header the server's own checksum is recorded; a path sent again is replaced.
    assert put(client, upload_id, "params.toml", b"steps = 1\n").status_code == 201
    assert put(client, upload_id, "params.toml", b"steps = 2\n").status_code == 201
    shown = client.get(f"/api/v1/uploads/{upload_id}").json()
    assert shown["job_id"] is None
    assert {f["path"]: f["sha256"] for f in shown["files"]} == {
        "data/input.bin": sha(data),
        "params.toml": sha(b"steps = 2\n"),
    }


def test_a_checksum_mismatch_keeps_nothing(alice: User, auth_client: AuthClient, spool: Path) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    response = put(client, upload_id, "input.csv", b"what arrived", sha(b"what was sent"))
    body = assert_problem(response, 502, "checksum_mismatch")
    assert sha(b"what arrived") in body["detail"]
    assert spool_files(spool) == []
    assert client.get(f"/api/v1/uploads/{upload_id}").json()["files"] == []
    # A malformed announced checksum is bad input, not a mismatch.
    assert_problem(put(client, upload_id, "input.csv", b"x", "not-hex"), 422)


def test_a_file_over_the_size_limit_is_refused_and_removed(
    alice: User, auth_client: AuthClient, spool: Path
) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    assert_problem(put(client, upload_id, "big.bin", b"x" * ((1 << 20) + 1)), 422, "invalid_request")
    assert spool_files(spool) == []


@pytest.mark.parametrize(
    "raw",
    [
        "%2E%2E/escape",
        "a/%2E%2E/%2E%2E/escape",
        "%2Fetc/passwd",
        "nul%00byte",
        "new%0Aline",
        "~root/x",
        "-rf",
    ],
)
def test_hostile_paths_are_refused_and_nothing_is_written(
    raw: str, alice: User, auth_client: AuthClient, spool: Path, tmp_path: Path
) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    response = client.put(f"/api/v1/uploads/{upload_id}/files/{raw}", content=b"payload")
    # A newline never matches the route's `{path:path}` (Starlette's `.*`): refused as 404 there.
    assert_problem(response, 404 if "%0A" in raw else 422)
    assert spool_files(spool) == []
    assert not (tmp_path / "escape").exists()
    assert client.get(f"/api/v1/uploads/{upload_id}").json()["files"] == []


def test_hostile_strings_as_paths_are_refused_or_kept_inside_the_upload(
    alice: User, auth_client: AuthClient, spool: Path
) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    root = (spool / "uploads" / upload_id / "files").resolve()
    for hostile in HOSTILE_STRINGS:
        response = client.put(f"/api/v1/uploads/{upload_id}/files/{quote(hostile, safe='')}", content=b"x")
        if response.status_code == 201:
            written = root / response.json()["path"]
            assert written.resolve().is_relative_to(root) and written.read_bytes() == b"x"
        else:
            assert_problem(response, 404 if "\n" in hostile else 422)  # newline: see above
    for path in spool.rglob("*"):
        if path.is_file():
            assert path.resolve().is_relative_to(root), path


def test_someone_elses_upload_is_not_found(
    alice: User, bob: User, auth_client: AuthClient, spool: Path
) -> None:
    upload_id = new_upload(auth_client(alice))
    intruder = auth_client(bob)
    assert_problem(intruder.get(f"/api/v1/uploads/{upload_id}"), 404)
    assert_problem(put(intruder, upload_id, "x.txt", b"bob's"), 404)
    assert_problem(intruder.delete(f"/api/v1/uploads/{upload_id}"), 404)
    assert_problem(submit(intruder, {"upload_id": upload_id}), 404)
    assert spool_files(spool) == []
    assert auth_client(alice).get(f"/api/v1/uploads/{upload_id}").status_code == 200


def test_delete_removes_the_upload_and_its_files(alice: User, auth_client: AuthClient, spool: Path) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    put(client, upload_id, "a.txt", b"a")
    assert client.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    assert spool_files(spool) == []
    assert_problem(client.get(f"/api/v1/uploads/{upload_id}"), 404)


# --- submission --------------------------------------------------------------------
def test_outputs_to_paris_are_refused_audited_and_no_job_is_made(
    alice: User, auth_client: AuthClient, db: Session, fake_cluster: FakeCluster, stager: FakeStager
) -> None:
    response = submit(auth_client(alice), {"output_patterns": ["results/*.h5"], "store": "paris"})
    body = assert_problem(response, 403, "residency_violation")
    assert "FR-IDF" in body["detail"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    event = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")).one()
    assert event.actor == str(alice.id) and event.source == "api"
    assert event.detail["endpoint"] == "paris" and event.detail["region"] == "FR-IDF"
    assert fake_cluster.calls.get("submit", 0) == 0
    assert not stager.base.exists()  # not a byte moved anywhere


def test_a_dry_run_reports_the_residency_refusal_too(
    alice: User, auth_client: AuthClient, db: Session
) -> None:
    response = submit(auth_client(alice), {"output_patterns": ["out/*"], "store": "paris"}, dry_run=True)
    assert_problem(response, 403, "residency_violation")
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_an_unsafe_output_pattern_names_the_field(alice: User, auth_client: AuthClient, db: Session) -> None:
    response = submit(auth_client(alice), {"output_patterns": ["ok/*", "../../etc/*"], "store": "caen"})
    body = assert_problem(response, 422)
    assert ["staging", "output_patterns", 1] in [e["loc"] for e in body["errors"]]
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_inputs_are_staged_by_the_worker_before_slurm_sees_the_job(
    alice: User,
    auth_client: AuthClient,
    ctx: StagingContext,
    stager: FakeStager,
    fake_cluster: FakeCluster,
    spool: Path,
) -> None:
    client = auth_client(alice)
    upload_id = new_upload(client)
    inputs = {"data/input.csv": b"t,x\n0,1\n" * 500, "params.toml": b"steps = 3\n"}
    for path, content in inputs.items():
        assert put(client, upload_id, path, content, sha(content)).status_code == 201

    response = submit(client, {"upload_id": upload_id})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "staging_in" and job["slurm_job_id"] is None
    assert fake_cluster.calls.get("submit", 0) == 0
    plan = client.get(f"/api/v1/jobs/{job['id']}/staging").json()
    assert plan["state"] == "staging_in" and plan["upload_id"] == upload_id and plan["staged_inputs"] == []
    # The upload now belongs to the job: it can neither take more files nor be deleted.
    assert client.get(f"/api/v1/uploads/{upload_id}").json()["job_id"] == job["id"]
    assert_problem(put(client, upload_id, "late.txt", b"late"), 409)
    assert_problem(client.delete(f"/api/v1/uploads/{upload_id}"), 409)

    assert run_pending(ctx) == 1
    shown = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert shown["state"] == "pending" and shown["slurm_job_id"] is not None
    assert fake_cluster.job(shown["slurm_job_id"]).login == "alice"
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job['id']}")
    assert (job_dir / "data/input.csv").read_bytes() == inputs["data/input.csv"]
    plan = client.get(f"/api/v1/jobs/{job['id']}/staging").json()
    assert {f["path"]: f["sha256"] for f in plan["staged_inputs"]} == {p: sha(c) for p, c in inputs.items()}
    assert plan["job_dir"] == f"/home/alice/myriagate-jobs/{job['id']}" and plan["attempts"] == 0
    assert [h["to_state"] for h in shown["history"]][:3] == ["staging_in", "submitting", "pending"]
    assert spool_files(spool) == []  # the spool is freed once the inputs are verified


# --- datasets ----------------------------------------------------------------------
RESULTS = {"results/a.h5": b"\x89HDF" + b"1" * 5000, "results/sub dir/b.h5": b"\x89HDF2"}


@pytest.fixture
def produced(
    alice: User,
    auth_client: AuthClient,
    ctx: StagingContext,
    stager: FakeStager,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    gateway: Gateway,
    clock: FakeClock,
) -> dict[str, Any]:
    """A job of alice's whose results went to Caen as a dataset, through the real flow."""
    client = auth_client(alice)
    response = submit(client, {"output_patterns": ["results/**/*.h5"], "store": "caen"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "staging_in"  # results only: its own directory is made first
    assert run_pending(ctx) == 1
    job = client.get(f"/api/v1/jobs/{job['id']}").json()
    work = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job['id']}")
    for path, content in RESULTS.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    fake_cluster.finish(job["slurm_job_id"], "COMPLETED")
    with gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "staging_out"
    assert run_pending(ctx) == 1
    plan = client.get(f"/api/v1/jobs/{job['id']}/staging").json()
    assert plan["state"] == "completed" and plan["output_dataset_id"]
    return {"job": job, "dataset_id": plan["output_dataset_id"], "plan": plan}


def test_a_produced_dataset_is_listed_shown_and_downloaded_verified(
    alice: User, auth_client: AuthClient, produced: dict[str, Any], spool: Path
) -> None:
    client = auth_client(alice)
    dataset_id = produced["dataset_id"]
    page = client.get("/api/v1/datasets").json()
    assert [d["id"] for d in page["items"]] == [dataset_id] and page["next_cursor"] is None
    listed = page["items"][0]
    assert listed["location"]["display"] == "Caen, FR-NOR"
    assert listed["location"]["operator"].startswith("Université de Caen Normandie")
    assert listed["owner"] == "alice@unicaen.fr" and listed["account"] == "caen-climat"
    assert listed["producer_job_id"] == produced["job"]["id"]
    assert client.get("/api/v1/datasets", params={"job": produced["job"]["id"]}).json()["items"] == [listed]
    assert client.get("/api/v1/datasets", params={"account": "caen-bio"}).json()["items"] == []
    assert [d["dataset"]["id"] for d in produced["plan"]["datasets"]] == [dataset_id]

    shown = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert {f["path"]: (f["size_bytes"], f["sha256"]) for f in shown["files"]} == {
        p: (len(c), sha(c)) for p, c in RESULTS.items()
    }
    assert shown["uses"][0]["role"] == "output" and shown["consumed_by"] == []

    for path, content in RESULTS.items():
        response = client.get(f"/api/v1/datasets/{dataset_id}/files/{quote(path)}")
        assert response.status_code == 200, response.text
        assert response.content == content
        assert response.headers["x-content-sha256"] == sha(content)
    assert spool_files(spool) == []  # the temporary copies are gone once sent


def test_a_corrupted_stored_file_is_never_sent(
    alice: User,
    auth_client: AuthClient,
    produced: dict[str, Any],
    db: Session,
    stager: FakeStager,
    spool: Path,
) -> None:
    dataset = db.get(Dataset, uuid.UUID(produced["dataset_id"]))
    assert dataset is not None
    stored = host_dir(stager, 2223, dataset.root) / "results/a.h5"
    stored.write_bytes(b"\x89HDF" + b"2" * 5000)  # same size, one changed byte run
    response = auth_client(alice).get(f"/api/v1/datasets/{dataset.id}/files/results/a.h5")
    assert_problem(response, 502, "checksum_mismatch")
    assert spool_files(spool) == []


def test_download_paths_must_be_files_of_the_dataset(
    alice: User, auth_client: AuthClient, produced: dict[str, Any]
) -> None:
    client = auth_client(alice)
    base = f"/api/v1/datasets/{produced['dataset_id']}/files"
    assert_problem(client.get(f"{base}/results/missing.h5"), 404)
    assert_problem(client.get(f"{base}/%2E%2E/%2E%2E/etc/passwd"), 422)
    assert_problem(client.get(f"{base}/results%00/a.h5"), 422)


def test_a_non_member_sees_no_dataset_and_no_staging(
    bob: User, make_user: MakeUser, auth_client: AuthClient, produced: dict[str, Any]
) -> None:
    intruder = auth_client(bob)
    dataset_id = produced["dataset_id"]
    assert intruder.get("/api/v1/datasets").json()["items"] == []
    assert_problem(intruder.get(f"/api/v1/datasets/{dataset_id}"), 404)
    assert_problem(intruder.get(f"/api/v1/datasets/{dataset_id}/files/results/a.h5"), 404)
    assert_problem(intruder.get(f"/api/v1/jobs/{produced['job']['id']}/staging"), 404)
    # A dataset id in a submission is checked the same way.
    assert_problem(submit(intruder, {"input_datasets": [dataset_id]}), 404)
    # Another member of the project sees it; so does a platform admin.
    colleague = make_user(username="carol@unicaen.fr", login="carol", accounts=["caen-climat"])
    admin = make_user("platform_admin")
    for who in (colleague, admin):
        assert [d["id"] for d in auth_client(who).get("/api/v1/datasets").json()["items"]] == [dataset_id]


def test_a_dataset_as_input_of_a_new_job_is_staged_and_recorded(
    alice: User, auth_client: AuthClient, produced: dict[str, Any], ctx: StagingContext, stager: FakeStager
) -> None:
    client = auth_client(alice)
    dataset_id = produced["dataset_id"]
    response = submit(client, {"input_datasets": [dataset_id]})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "staging_in"
    assert run_pending(ctx) == 1
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job['id']}")
    assert (job_dir / "results/a.h5").read_bytes() == RESULTS["results/a.h5"]
    shown = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert [u["job_id"] for u in shown["consumed_by"]] == [job["id"]]
    plan = client.get(f"/api/v1/jobs/{job['id']}/staging").json()
    assert plan["input_datasets"] == [dataset_id] and [d["role"] for d in plan["datasets"]] == ["input"]


def test_datasets_page_with_a_cursor(
    alice: User, auth_client: AuthClient, produced: dict[str, Any], db: Session
) -> None:
    client = auth_client(alice)
    first = client.get("/api/v1/datasets", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"] is None
    assert_problem(client.get("/api/v1/datasets", params={"cursor": "garbage"}), 422)
    assert db.scalar(sa.select(sa.func.count()).select_from(Upload)) == 0


def test_storage_endpoints_say_which_are_allowed(alice: User, auth_client: AuthClient) -> None:
    endpoints = auth_client(alice).get(f"/api/v1/clusters/{CLUSTER}/storage").json()
    assert {e["name"]: (e["site"], e["region"], e["allowed"]) for e in endpoints} == {
        "caen": ("Caen", "FR-NOR", True),
        "paris": ("Paris", "FR-IDF", False),
    }
    assert_problem(auth_client(alice).get("/api/v1/clusters/nowhere/storage"), 404)
