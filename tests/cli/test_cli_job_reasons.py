"""``myriagate jobs show`` says why a job waits or how it ended, as the API and the job page do,
in the terminal's language, and never prints sacct's exit code 0 for a cancelled job."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from myriagate.cli.config import save_config
from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.cli.watch import describe
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.web.api.schemas import JobOut
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory

URL = "http://testserver"
MiB = 2**20
Show = Callable[..., Result]


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def api(
    app: FastAPI, make_user: Callable[..., User], token_for: Callable[[User], str], tmp_path: Path
) -> TestClient:
    alice = make_user(username="alice", login="alice", accounts=["caen-climat"])
    token = token_for(alice)
    save_config(tmp_path / "xdg" / "myriagate" / "config.toml", url=URL, token=token)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def show(api: TestClient, tmp_path: Path) -> Show:
    def invoke(job_id: str, lang: str = "en_GB.UTF-8") -> Result:
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": None, "MYRIAGATE_TOKEN": None,
               "NO_COLOR": "1", "COLUMNS": "200", "LC_ALL": lang, "LANG": lang}  # fmt: skip
        return CliRunner().invoke(cli_app, ["jobs", "show", job_id], env=env, obj=CliDeps(http=api))

    return invoke


def tick(app: FastAPI, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def submit(api: TestClient) -> dict[str, str]:
    response = api.post("/api/v1/jobs", json={"script": "#!/bin/bash\n#SBATCH -t 10\ntrue\n"})
    assert response.status_code == 202, response.text
    job: dict[str, str] = response.json()
    return job


def test_jobs_show_says_how_a_job_ran_out_of_memory_in_english_and_french(
    app: FastAPI, api: TestClient, show: Show, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock, web_session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    job = submit(api)
    fake_cluster.finish(job["slurm_job_id"], "FAILED", exit_code=0, signal=9)
    tick(app, backends, clock)
    with web_session_factory() as db:
        db.execute(sa.update(Job).where(Job.id == uuid.UUID(job["id"]))
                   .values(max_rss_bytes=300 * MiB, mem_requested_bytes=100 * MiB))  # fmt: skip
        db.commit()

    result = show(job["id"])
    assert result.exit_code == 0, result.output
    lines = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(": ") for line in result.stdout.splitlines())
        if value and key.startswith(" ")
    )
    assert lines["why"] == "ran out of memory (used 300 MB of 100 MB) (0:9)"
    assert lines["what to do"] == "submit it again asking for more memory (--mem)"
    assert "exit code" not in lines, "sacct's 0 is not the job's exit code"
    french = show(job["id"], lang="fr_FR.UTF-8").stdout
    assert "mémoire épuisée (300 Mo utilisés sur 100 Mo) (0:9)" in french


def test_jobs_show_of_a_cancelled_job_names_who_cancelled_it(
    app: FastAPI, api: TestClient, show: Show, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> None:  # fmt: skip
    job = submit(api)
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    tick(app, backends, clock)

    out = show(job["id"]).stdout
    assert "why: cancelled by alice" in out.replace("  ", " ")
    assert "exit code" not in out


def test_jobs_show_of_a_waiting_job(
    app: FastAPI, api: TestClient, show: Show, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> None:  # fmt: skip
    job = submit(api)
    fake_cluster.set_state(job["slurm_job_id"], "PENDING", reason="Resources")
    tick(app, backends, clock)
    assert "waiting for resources (Resources)" in show(job["id"]).stdout
    assert "en attente de ressources (Resources)" in show(job["id"], lang="fr_FR.UTF-8").stdout


def test_the_end_of_submit_wait_and_the_jobs_list_give_no_exit_code_for_a_cancelled_job(
    app: FastAPI, api: TestClient, show: Show, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock, tmp_path: Path,
) -> None:  # fmt: skip
    cancelled, failed = submit(api), submit(api)
    assert api.post(f"/api/v1/jobs/{cancelled['id']}/cancel").status_code == 202
    fake_cluster.finish(failed["slurm_job_id"], "FAILED", exit_code=3)
    tick(app, backends, clock)
    jobs = {j["id"]: JobOut.model_validate(j) for j in api.get("/api/v1/jobs").json()["items"]}

    assert jobs[cancelled["id"]].exit_code == 0, "the API keeps sacct's value as data"
    cancelled_id, failed_id = jobs[cancelled["id"]].short_id, jobs[failed["id"]].short_id  # as typed next
    assert describe(jobs[cancelled["id"]]) == f"job {cancelled_id} cancelled: cancelled by alice"
    assert describe(jobs[failed["id"]]) == f"job {failed_id} failed: failed with exit code 3"  # said once
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": None, "MYRIAGATE_TOKEN": None,
           "NO_COLOR": "1", "COLUMNS": "250"}  # fmt: skip
    listed = CliRunner().invoke(cli_app, ["jobs", "list", "--wide"], env=env, obj=CliDeps(http=api)).stdout
    rows = {line.split()[0]: line.split() for line in listed.splitlines() if line.strip()[:1].isalnum()}
    assert "0" not in rows[cancelled["id"]][1:-2] and "3" in rows[failed["id"]]
