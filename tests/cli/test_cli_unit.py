"""The researcher CLI against the real API in-process (``create_app`` over a fake Slurm).

Commands run through Typer's CliRunner with ``obj=CliDeps(http=TestClient(app), sleep=…)``:
the HTTP client is the app's own, and ``sleep`` is where time passes, so the tests move the
fake cluster and run the tracking tick there, as a worker would while the CLI waits.
"""

from __future__ import annotations

import json
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from myriagate.cli.client import GatewayClient, error_from_response
from myriagate.cli.config import load_config, save_config
from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.cli.watch import TailFollower
from myriagate.db.models.users import User
from myriagate.errors import BackendError, JobNotCancellable, SchedulerUnavailable
from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import PASSWORD

URL = "http://testserver"
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hello\n"


# --- harness ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    """The API runs in this process: keep its log lines out of the CLI's captured stdout."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "MYRIAGATE_URL": None,
        "MYRIAGATE_TOKEN": None,
        "NO_COLOR": "1",
        "COLUMNS": "250",
    }


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "myriagate" / "config.toml"


class Worker:
    """Stands in for time passing while the CLI sleeps: a test step, then a tracking tick."""

    def __init__(
        self, session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock
    ) -> None:
        self.session_factory, self.backends, self.clock = session_factory, backends, clock
        self.steps: list[Callable[[], None]] = []
        self.naps = 0

    def __call__(self, seconds: float) -> None:
        self.naps += 1
        assert self.naps < 50, "the CLI kept waiting"
        self.clock.advance(seconds)
        if self.steps:
            self.steps.pop(0)()
        with self.session_factory() as session:
            tracking.tick(
                session,
                cluster=CLUSTER,
                backends=self.backends,
                clock=self.clock,
                ledger=worker_ledger(self.clock),
            )


@pytest.fixture
def worker(
    web_session_factory: sessionmaker[Session], backends: FakeSlurmBackendFactory, clock: FakeClock
) -> Worker:
    return Worker(web_session_factory, backends, clock)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


Run = Callable[..., Result]


@pytest.fixture
def run(env: dict[str, str | None], http: TestClient, worker: Worker) -> Run:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli_app, list(args), input=input, env=env, obj=CliDeps(http=http, sleep=worker))

    return invoke


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def logged_in(alice: User, token_for: Callable[[User], str], config_file: Path) -> str:
    token = token_for(alice)
    save_config(config_file, url=URL, token=token)
    return token


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "job.sh"
    path.write_text(SCRIPT)
    return path


def last_slurm_id(cluster: FakeCluster) -> str:
    return list(cluster.jobs)[-1]


def submit_json(run: Run, *args: str) -> dict[str, Any]:
    result = run("submit", *args, "--json")
    assert result.exit_code == 0, result.stderr
    created: dict[str, Any] = json.loads(result.stdout)
    return created


# --- config file -----------------------------------------------------------------------------
def test_login_with_a_pasted_token_stores_it_readable_by_the_owner_only(
    run: Run, alice: User, token_for: Callable[[User], str], config_file: Path
) -> None:
    token = token_for(alice)
    result = run("login", "--url", URL + "/api/v1/", "--token", token)
    assert result.exit_code == 0, result.stderr
    assert "alice@unicaen.fr" in result.stdout
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    config = load_config({"XDG_CONFIG_HOME": str(config_file.parents[1])})
    assert (config.url, config.token) == (URL, token)
    assert config.token_id is not None  # found by prefix, so logout can revoke it


def test_login_with_password_creates_a_token_over_basic_auth(
    run: Run, alice: User, config_file: Path, http: TestClient
) -> None:
    result = run("login", "--url", URL, "--username", "alice@unicaen.fr", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout  # hidden prompt
    token = load_config({"XDG_CONFIG_HOME": str(config_file.parents[1])}).token
    assert token
    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "alice@unicaen.fr"


def test_login_with_a_wrong_password_exits_4_and_stores_nothing(
    run: Run, alice: User, config_file: Path
) -> None:
    result = run("login", "--url", URL, "--username", "alice@unicaen.fr", input="not the password\n")
    assert result.exit_code == 4
    assert "Error: Not authenticated: " in result.stderr
    assert not config_file.exists()


def test_logout_revokes_the_token_on_the_gateway(
    run: Run, logged_in: str, config_file: Path, http: TestClient
) -> None:
    result = run("logout")
    assert result.exit_code == 0, result.stderr
    assert "token" not in config_file.read_text().replace(
        "# myriagate CLI: gateway URL and personal token", ""
    )
    answer = http.get("/api/v1/me", headers={"Authorization": f"Bearer {logged_in}"})
    assert answer.status_code == 401
    assert run("whoami").exit_code == 4


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "myriagate" / "config.toml"
    save_config(path, url="https://file.example", token='mgt_"quoted"\\back é')
    config = load_config({"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.token == 'mgt_"quoted"\\back é'  # survives TOML quoting
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "MYRIAGATE_URL": "https://env.example/",
        "MYRIAGATE_TOKEN": "mgt_e",
    }
    config = load_config(env)
    assert (config.url, config.token, config.token_from_env) == ("https://env.example", "mgt_e", True)


def test_a_relative_xdg_config_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config({"XDG_CONFIG_HOME": "relative/dir"})
    assert config.path == tmp_path / ".config" / "myriagate" / "config.toml"


def test_not_configured_and_broken_config_exit_78_naming_the_file(run: Run, config_file: Path) -> None:
    result = run("jobs", "list")
    assert result.exit_code == 78
    assert "myriagate login --url" in result.stderr
    config_file.parent.mkdir(parents=True)
    config_file.write_text("url = [unclosed\n")
    result = run("whoami")
    assert result.exit_code == 78
    assert str(config_file) in result.stderr


def test_no_token_exits_4_with_the_login_hint(run: Run, config_file: Path) -> None:
    save_config(config_file, url=URL, token=None)
    result = run("jobs", "list")
    assert result.exit_code == 4
    assert "myriagate login" in result.stderr


def test_unreachable_gateway_exits_7(env: dict[str, str | None], config_file: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    save_config(config_file, url=f"http://127.0.0.1:{port}", token="mgt_x")
    result = CliRunner().invoke(cli_app, ["whoami"], env=env)
    assert result.exit_code == 7
    assert result.stderr.startswith("Error: Gateway unreachable: ")


# --- error mapping -----------------------------------------------------------------------------
def test_problem_details_become_our_error_classes() -> None:
    problem = {
        "title": "Job cannot be cancelled",
        "status": 409,
        "detail": "already gone",
        "code": "job_not_cancellable",
    }
    exc = error_from_response(httpx.Response(409, json=problem))
    assert isinstance(exc, JobNotCancellable) and exc.exit_code == 6
    assert str(exc) == "Job cannot be cancelled: already gone"
    # A proxy's HTML error page still maps by status.
    html = error_from_response(
        httpx.Response(502, text="<html>Bad Gateway</html>", request=httpx.Request("GET", URL))
    )
    assert isinstance(html, BackendError) and html.exit_code == 7
    assert isinstance(
        error_from_response(httpx.Response(503, json={"code": "from_the_future"})), SchedulerUnavailable
    )


# --- submit ----------------------------------------------------------------------------------
def test_submit_prints_the_job_id_and_sbatch_options_override_directives(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster
) -> None:
    result = run(
        "submit", str(script), "-p", "court", "-t", "00:20:00", "-c", "2", "-J", "renamed", "--parsable"
    )
    assert result.exit_code == 0, result.stderr
    job_id = uuid.UUID(result.stdout.strip())  # only the id, like sbatch --parsable
    fake = fake_cluster.job(last_slurm_id(fake_cluster))
    assert (fake.partition, fake.time_limit_s, fake.cpus, fake.name) == ("court", 1200, 2, "renamed")
    shown = json.loads(run("jobs", "show", str(job_id), "--json").stdout)
    assert "echo hello" in shown["script"]
    assert "--partition=court" in shown["sbatch_args"]


def test_dry_run_shows_the_sbatch_arguments_and_submits_nothing(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster
) -> None:
    plan = submit_json(run, str(script), "--dry-run", "--ntasks", "4", "--mem", "2G", "-A", "caen-climat")
    assert {"--ntasks=4", "--mem=2048M", "--account=caen-climat"} <= set(plan["sbatch_args"])
    assert fake_cluster.jobs == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.sh"], "no such script: missing.sh"),
        (["BINARY"], "is not UTF-8"),
        (["--template", "x", "SCRIPT"], "not both"),
        (["--param", "n=1", "SCRIPT"], "--param needs --template"),
        (["--template", "hello", "--param", "novalue"], "expected NAME=VALUE"),
        (["SCRIPT", "--nodes", "0"], "nodes"),
        (["SCRIPT", "--follow", "--json"], "--follow"),
    ],
)
def test_bad_submissions_exit_5_before_anything_is_sent(
    run: Run,
    logged_in: str,
    script: Path,
    tmp_path: Path,
    fake_cluster: FakeCluster,
    args: list[str],
    message: str,
) -> None:
    binary = tmp_path / "binary.sh"
    binary.write_bytes(b"#!/bin/bash\necho caf\xe9\n")
    args = [str(script) if a == "SCRIPT" else str(binary) if a == "BINARY" else a for a in args]
    result = run("submit", *args)
    assert result.exit_code == 5, result.output
    assert message in result.stderr
    assert fake_cluster.jobs == {}


def test_server_side_refusal_is_printed_with_its_field_and_exit_5(
    run: Run, logged_in: str, script: Path
) -> None:
    result = run("submit", str(script), "-p", "no-such-partition")
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: ")
    assert "options.partition" in result.stderr or "partition" in result.stderr


def test_submit_wait_exits_0_when_the_job_completes(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    worker.steps = [
        lambda: fake_cluster.set_state(last_slurm_id(fake_cluster), "RUNNING"),
        lambda: fake_cluster.finish(last_slurm_id(fake_cluster), "COMPLETED"),
    ]
    result = run("submit", str(script), "--wait", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "completed"


def test_submit_wait_exits_1_when_the_job_fails(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    worker.steps = [lambda: fake_cluster.finish(last_slurm_id(fake_cluster), "FAILED", exit_code=3)]
    result = run("submit", str(script), "--wait")
    assert result.exit_code == 1
    assert "failed: failed with exit code 3" in result.stderr


def test_submit_follow_streams_the_output_once_in_order(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    def write(data: bytes) -> Callable[[], None]:
        def step() -> None:
            job = fake_cluster.job(last_slurm_id(fake_cluster))
            path = f"{job.work_dir}/slurm-{job.slurm_job_id}.out"
            fake_cluster.write_file(path, fake_cluster.files.get(path, b"") + data)

        return step

    worker.steps = [
        lambda: fake_cluster.set_state(last_slurm_id(fake_cluster), "RUNNING"),
        write(b"line 1\n"),
        write(b"line 2 \xc3"),  # a character cut in two between reads
        write(b"\xa9\n"),
        lambda: fake_cluster.finish(last_slurm_id(fake_cluster), "COMPLETED"),
    ]
    result = run("submit", str(script), "--follow")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("line 1\nline 2 é\n")
    assert result.stdout.count("line 1") == 1


# --- jobs --------------------------------------------------------------------------------------
def test_jobs_list_json_filters_by_state_and_follows_cursors(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, http: TestClient
) -> None:
    ids = [submit_json(run, str(script))["id"] for _ in range(3)]
    listed = json.loads(run("jobs", "list", "--json").stdout)
    assert [job["id"] for job in listed] == ids[::-1]  # newest first
    assert json.loads(run("jobs", "list", "--json", "--state", "completed").stdout) == []
    assert len(json.loads(run("jobs", "list", "--json", "--limit", "2").stdout)) == 2
    client = GatewayClient(URL, logged_in, http=http)
    assert [str(j.id) for j in client.iter_jobs({}, limit=None, page_size=1)] == ids[::-1]


def test_jobs_list_table_shows_the_jobs(run: Run, logged_in: str, script: Path) -> None:
    job_id = submit_json(run, str(script), "-J", "table-me")["id"]
    result = run("jobs", "list")
    assert result.exit_code == 0, result.stderr
    # The short id (issue #15: 8+ hex digits, unique among my jobs) stands for the full one.
    assert job_id[:8] in result.stdout.split() and "table-me" in result.stdout


def test_cancel_and_logs(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job = submit_json(run, str(script))
    fake = fake_cluster.job(job["slurm_job_id"])
    worker(1.0)  # the worker learns the job's directory from Slurm
    fake_cluster.write_file(f"{fake.work_dir}/slurm-{fake.slurm_job_id}.out", b"hello from the job\n")
    assert run("jobs", "logs", job["id"]).stdout == "hello from the job\n"
    result = run("jobs", "cancel", job["id"])
    assert result.exit_code == 0, result.stderr
    assert fake_cluster.job(job["slurm_job_id"]).state == "CANCELLED"


def test_someone_elses_job_is_not_found_exit_3(
    run: Run, logged_in: str, make_user: Callable[..., User], auth_client: Callable[[User], TestClient]
) -> None:
    bob = make_user(
        username="bob@univ-rouen.fr", login="bob", accounts=["rouen-chimie"], institution="univ-rouen"
    )
    bobs = auth_client(bob).post("/api/v1/jobs", json={"script": SCRIPT}).json()
    for command in (["jobs", "show"], ["jobs", "cancel"], ["jobs", "logs"]):
        result = run(*command, bobs["id"])
        assert result.exit_code == 3, (command, result.output)
    assert run("jobs", "show", "not-a-uuid").exit_code == 5


# --- catalogues and whoami ---------------------------------------------------------------------
def test_whoami_templates_and_clusters_as_json(run: Run, logged_in: str) -> None:
    me = json.loads(run("whoami", "--json").stdout)
    assert me["cluster_login"] == "alice"
    assert {"cluster": CLUSTER, "slurm_account": "caen-climat", "role": "researcher"} in me["memberships"]
    templates = json.loads(run("templates", "list", "--json").stdout)
    assert templates, "the bundled templates are listed"
    detail = json.loads(run("templates", "show", templates[0]["name"], "--json").stdout)
    assert detail["name"] == templates[0]["name"]
    clusters = json.loads(run("clusters", "--json").stdout)
    assert CLUSTER in {c["name"] for c in clusters}
    one = json.loads(run("clusters", CLUSTER, "--json").stdout)
    assert one["health"]["reachable"] is True
    assert run("templates", "show", "no-such-template").exit_code == 3


# --- following a tail ---------------------------------------------------------------------------
def test_tail_follower_prints_whole_new_lines_even_past_the_window() -> None:
    follower = TailFollower(max_bytes=16)
    assert follower.feed(b"abc\n") == "abc\n"
    assert follower.feed(b"abc\nde") == ""  # a line still being written waits
    assert follower.feed(b"abc\ndef\n") == "def\n"
    whole = b"abc\ndef\n0123456789\n"  # 19 bytes: only the last 16 come back
    assert follower.feed(whole[-16:]) == "0123456789\n"
    assert follower.feed((whole + b"xy\n")[-16:]) == "xy\n"
    assert follower.feed((whole + b"xy\nz")[-16:], final=True) == "z"  # the end flushes the rest
