# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate submit --input/--result/--store` and `myriagate datasets …` against the in-process
API. The cluster is the fake Slurm, disks are the FakeStager's directories."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models import AuditEvent, Dataset, Job, Upload, UploadFile
from myriagate.db.models.users import User
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from myriagate.wiring import Gateway
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster
from tests.fakes.fake_stager import FakeStager
from tests.web.conftest import db  # noqa: F401 - fixture by name
from tests.web.test_api_staging import (  # noqa: F401 - fixtures by name
    RESULTS,
    alice,
    bob,
    ctx,
    fake_time,
    host_dir,
    produced,
    settings_overrides,
    stager,
)

URL = "http://testserver"
SCRIPT = "#!/bin/bash\n#SBATCH --time=5\ncat data/input.csv\n"
As = Callable[..., Result]


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def http(app: FastAPI, clock: FakeClock) -> Iterator[TestClient]:
    app.state.clock = clock
    with TestClient(app) as client:
        yield client


@pytest.fixture
def as_user(http: TestClient, tmp_path: Path, token_for: Callable[[User], str]) -> Callable[[User], As]:
    runner = CliRunner()

    def bind(user: User) -> As:
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": URL,
               "MYRIAGATE_TOKEN": token_for(user), "NO_COLOR": "1", "COLUMNS": "250"}  # fmt: skip

        def run(*args: str) -> Result:
            return runner.invoke(cli_app, list(args), env=env, obj=CliDeps(http=http))

        return run

    return bind


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A researcher's project directory, the current directory of the commands."""
    work = tmp_path / "project"
    (work / "data" / "deep").mkdir(parents=True)
    (work / "data" / "input.csv").write_bytes(b"t,x\n0,1\n" * 300)
    (work / "data" / "deep" / "more.bin").write_bytes(bytes(range(256)) * 40)
    (work / "params.toml").write_text("steps = 3\n")
    (work / "job.sh").write_text(SCRIPT)
    monkeypatch.chdir(work)
    return work


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_submit_uploads_inputs_keeping_their_layout_then_the_worker_stages_them(
    alice: User,
    as_user: Callable[[User], As],
    workdir: Path,
    ctx: StagingContext,
    stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:
    out = ok(as_user(alice)("submit", "job.sh", "--input", "data", "--input", "params.toml",
                            "--result", "results/*.h5", "--store", "caen", "--json"))  # fmt: skip
    job = json.loads(out)
    assert job["state"] == "staging_in" and fake_cluster.calls.get("submit", 0) == 0
    assert run_pending(ctx) == 1
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job['id']}")
    for rel in ("data/input.csv", "data/deep/more.bin", "params.toml"):
        assert (job_dir / rel).read_bytes() == (workdir / rel).read_bytes()
    shown = json.loads(ok(as_user(alice)("jobs", "show", job["id"], "--json")))
    assert shown["state"] == "pending" and shown["slurm_job_id"]


def test_a_symlink_leading_out_of_an_input_directory_is_refused_before_any_upload(
    alice: User, as_user: Callable[[User], As], workdir: Path, db: Session, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("do not share")
    (workdir / "data" / "key").symlink_to(secret)
    result = as_user(alice)("submit", "job.sh", "--input", "data")
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert "symlink" in result.stderr and "outside" in result.stderr
    assert db.scalar(sa.select(sa.func.count()).select_from(Upload)) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_a_symlink_inside_the_directory_is_followed(
    alice: User, as_user: Callable[[User], As], workdir: Path, ctx: StagingContext, stager: FakeStager
) -> None:
    (workdir / "data" / "alias.csv").symlink_to(workdir / "data" / "input.csv")
    job = json.loads(ok(as_user(alice)("submit", "job.sh", "--input", "data", "--json")))
    run_pending(ctx)
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job['id']}")
    assert (job_dir / "data/alias.csv").read_bytes() == (workdir / "data/input.csv").read_bytes()


def test_storing_results_in_paris_fails_with_the_residency_exit_code(
    alice: User, as_user: Callable[[User], As], workdir: Path, db: Session
) -> None:
    result = as_user(alice)("submit", "job.sh", "--result", "out/*", "--store", "paris")
    assert result.exit_code == 6, (result.stdout, result.stderr)
    assert "Data residency violation" in result.stderr and "FR-IDF" in result.stderr
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
    refused = db.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "staging.refused")
    )
    assert refused == 1


def test_an_input_under_the_reserved_directory_is_refused_with_the_servers_message(
    alice: User, as_user: Callable[[User], As], workdir: Path, db: Session
) -> None:
    """Refused when the file is sent, not later at stage-in; nothing is stored."""
    (workdir / ".MyriaGate").mkdir()
    (workdir / ".MyriaGate" / "manifest.json").write_text("{}")
    result = as_user(alice)("submit", "job.sh", "--input", ".MyriaGate")
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert "Unsafe value" in result.stderr and ".myriagate/ is reserved" in result.stderr
    assert db.scalar(sa.select(sa.func.count()).select_from(UploadFile)) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_a_missing_input_is_a_clear_error(alice: User, as_user: Callable[[User], As], workdir: Path) -> None:
    result = as_user(alice)("submit", "job.sh", "--input", "nope/")
    assert result.exit_code == 5 and "no such file or directory" in result.stderr


def test_datasets_list_show_and_get_verified(
    alice: User, as_user: Callable[[User], As], produced: dict[str, Any], tmp_path: Path
) -> None:
    run = as_user(alice)
    dataset_id = produced["dataset_id"]
    listed = json.loads(ok(run("datasets", "list", "--json")))
    assert [d["id"] for d in listed] == [dataset_id]
    table = ok(run("datasets", "list"))
    short = listed[0]["short_id"]  # issue #15: the short id every dataset command takes
    assert "Caen, FR-NOR" in table and short in table.split() and dataset_id not in table
    shown = ok(run("datasets", "show", short))
    assert "Caen, FR-NOR" in shown and sha(RESULTS["results/a.h5"]) in shown

    dest = tmp_path / "copy"
    got = json.loads(ok(run("datasets", "get", short, "--dest", str(dest), "--json")))
    assert {f["path"] for f in got["files"]} == set(RESULTS)
    for path, content in RESULTS.items():
        assert (dest / path).read_bytes() == content
    one = tmp_path / "one"
    ok(run("datasets", "get", dataset_id, "--dest", str(one), "--path", "results/a.h5"))
    assert [p.name for p in one.rglob("*") if p.is_file()] == ["a.h5"]
    missing = run("datasets", "get", dataset_id, "--dest", str(one), "--path", "results/zzz.h5")
    assert missing.exit_code == 3


def test_a_corrupted_copy_is_not_written_and_exits_7(
    alice: User, as_user: Callable[[User], As], produced: dict[str, Any], db: Session, stager: FakeStager,
    tmp_path: Path,
) -> None:  # fmt: skip
    dataset = db.get(Dataset, uuid.UUID(produced["dataset_id"]))
    assert dataset is not None
    (host_dir(stager, 2223, dataset.root) / "results/a.h5").write_bytes(b"tampered")
    dest = tmp_path / "copy"
    result = as_user(alice)("datasets", "get", str(dataset.id), "--dest", str(dest), "--path", "results/a.h5")
    assert result.exit_code == 7, (result.stdout, result.stderr)
    assert "Checksum mismatch" in result.stderr
    assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]


def test_a_non_member_sees_no_dataset(
    bob: User, as_user: Callable[[User], As], produced: dict[str, Any], gateway: Gateway
) -> None:
    run = as_user(bob)
    assert json.loads(ok(run("datasets", "list", "--json"))) == []
    result = run("datasets", "show", produced["dataset_id"])
    assert result.exit_code == 3 and "Not found" in result.stderr
    assert run("datasets", "show", "not-a-uuid").exit_code == 5


def test_resubmit_of_a_job_with_uploaded_inputs_asks_for_them_again(
    alice: User,
    as_user: Callable[[User], As],
    workdir: Path,
    db: Session,
    ctx: StagingContext,
    stager: FakeStager,
    fake_cluster: FakeCluster,
) -> None:
    """`jobs resubmit` sent the copy without the files uploaded for the job, with a warning
    and no way to give them (found in a trial): the copy's script, reading them, failed on the
    node. It now refuses unless they are given again (--input) or left out on purpose."""
    run = as_user(alice)
    first = json.loads(ok(run("submit", "job.sh", "--input", "data", "--result", "out/*", "--store", "caen",
                              "--json")))  # fmt: skip
    jobs_before = db.scalar(sa.select(sa.func.count()).select_from(Job))
    refused = run("jobs", "resubmit", first["id"])
    assert refused.exit_code == 5 and "--input" in refused.stderr and "--without-inputs" in refused.stderr
    assert db.scalar(sa.select(sa.func.count()).select_from(Job)) == jobs_before  # nothing submitted

    again = json.loads(ok(run("jobs", "resubmit", first["id"], "--input", "data", "--json")))
    assert again["state"] == "staging_in"
    assert run_pending(ctx) == 2  # both jobs' inputs staged, the copy's from its own upload
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{again['id']}")
    assert (job_dir / "data/input.csv").read_bytes() == (workdir / "data/input.csv").read_bytes()
    without = json.loads(ok(run("jobs", "resubmit", first["id"], "--without-inputs", "--json")))
    assert without["id"] not in (first["id"], again["id"])
