"""The researcher CLI end to end: a real server on a free port, the REAL dev cluster behind it.

uvicorn serves the app (``create_app`` built from the settings) and ``myriagate worker``
tracks the jobs, each in its own process, as deployed; the CLI talks to the server over TCP
with its own httpx client, exactly as on a laptop. Jobs run on Slurm as alice through SSH with
a short-lived certificate.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from myriagate.cli.main import app as cli_app
from myriagate.clock import SystemClock
from myriagate.db.migrate import upgrade
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

pytestmark = pytest.mark.slurm

ACCOUNT = "caen-climat"
RUN_TAG = f"mg-cli-{uuid.uuid4().hex[:8]}"  # every job of this module carries it, for cleanup


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('gw') / 'gateway.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def live(
    gateway_settings: Settings, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(gateway_settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "false",
        "MYRIAGATE_POLL_MIN_S": "1",
        "MYRIAGATE_POLL_MAX_S": "2",
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log") as gateway:
        yield gateway
    subprocess.run(["scancel", f"--name={RUN_TAG}"], check=False)


@pytest.fixture(scope="module")
def alice_token(database_url: str) -> Iterator[str]:
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        projects_repo.add_project(
            session,
            cluster=CLUSTER,
            slurm_account=ACCOUNT,
            institution="unicaen",
            created_at=SystemClock().now(),
        )
        user = users_repo.add(
            session, username="alice@unicaen.fr", cluster_login="alice", created_at=SystemClock().now()
        )
        user.institution = "unicaen"
        users_repo.add_membership(session, user, cluster=CLUSTER, slurm_account=ACCOUNT)
        session.commit()
        secret = auth_service.create_token(session, user, name="cli-real").secret
    engine.dispose()
    yield secret


@pytest.fixture(scope="module")
def cli(live: LiveGateway, alice_token: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {"XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("xdg")), "NO_COLOR": "1", "COLUMNS": "250"}
    env |= {"MYRIAGATE_URL": None, "MYRIAGATE_TOKEN": None}  # type: ignore[dict-item]
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli_app, list(args), env=env)

    login = run("login", "--url", live.url, "--token", alice_token)
    assert login.exit_code == 0, login.output
    yield run


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.sh"
    path.write_text(
        "#!/bin/bash\n"
        "#SBATCH --partition=debug\n"
        "#SBATCH --time=5\n"
        f"#SBATCH --account={ACCOUNT}\n"
        "#SBATCH --job-name=from-the-directive\n" + body
    )
    return path


def sacct_field(slurm_job_id: str, field: str) -> str:
    """A field of the job as Slurm stored it (sacct lags behind slurmctld, hence the retries)."""
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", slurm_job_id, "-o", field], capture_output=True, text=True
        ).stdout
        if out.strip() or time.monotonic() > deadline:
            return out.rstrip("\n")
        time.sleep(1)


def slurm_job_name(slurm_job_id: str) -> str:
    """The name slurmctld holds (right after sbatch, slurmdbd may not have it yet)."""
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-j", slurm_job_id, "-o", "%j"], capture_output=True, text=True
    ).stdout
    return out.removesuffix("\n") if out else sacct_field(slurm_job_id, "JobName")


def test_submit_wait_then_logs_and_list(cli: Any, tmp_path: Path) -> None:
    job_sh = script(tmp_path, 'echo "ran as $(whoami)"\n')
    result = cli("submit", str(job_sh), "-J", RUN_TAG, "--time", "00:02:00", "--wait", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["state"] == "completed"
    assert job["job_name"] == RUN_TAG  # the option overrode the #SBATCH line

    logs = cli("jobs", "logs", job["id"])
    assert logs.exit_code == 0, logs.output
    assert "ran as alice" in logs.stdout, cli("jobs", "show", job["id"], "--json").stdout

    listed = cli("jobs", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert job["id"] in {item["id"] for item in json.loads(listed.stdout)}

    assert sacct_field(job["slurm_job_id"], "Timelimit") == "00:02:00"  # the option beat --time=5


def test_a_failing_job_makes_submit_wait_exit_non_zero(cli: Any, tmp_path: Path) -> None:
    result = cli("submit", str(script(tmp_path, "exit 3\n")), "-J", RUN_TAG, "--wait", "--parsable")
    assert result.exit_code == 1, result.output
    job_id = result.stdout.strip()
    shown = json.loads(cli("jobs", "show", job_id, "--json").stdout)
    assert (shown["state"], shown["exit_code"]) == ("failed", 3)


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_job_names_reach_slurm_verbatim_or_are_refused(
    cli: Any, tmp_path: Path, hostile: str
) -> None:
    result = cli("submit", str(script(tmp_path, "true\n")), "-J", hostile, "--json")
    assert result.exit_code in (0, 5), result.output
    if result.exit_code == 0:
        job = json.loads(result.stdout)
        assert job["slurm_job_id"], job
        assert slurm_job_name(job["slurm_job_id"]) == hostile
        subprocess.run(["scancel", job["slurm_job_id"]], check=False)
    else:
        assert result.stderr.startswith("Error: ")
    assert not Path(CANARY).exists()
