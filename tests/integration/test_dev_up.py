"""Issue #15, "The first command can be run again": deploy/dev-up.sh run three times over one
dev database, as a developer would, on a stack of its own (database, spool, PID and log
folders in a temporary directory, a free port) beside anyone's running dev stack.

Between the runs, earlier use is played: caen-bio's hours spent, a user added by hand, the
worker killed (its PID file left stale) while the web server keeps running. The second run
must still bring the stack up and run the demo, saying in one line that it kept the database
and topped caen-bio up; ``--reset`` then starts from a fresh database and keeps the old one.
Measured on the dev machine: about 45 s a run.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from myriagate.clock import SystemClock
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from tests.conftest import CLUSTER

pytestmark = [pytest.mark.slurm, pytest.mark.long_wait, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a dev stack of the test's own; stopped by dev-down.sh at the end."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MYRIAGATE_")}
    env |= {
        "MYRIAGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "MYRIAGATE_SPOOL_DIR": str(tmp_path / "spool"),
        "MYRIAGATE_DEV_RUN_DIR": str(tmp_path / "run"),
        "MYRIAGATE_DEV_LOG_DIR": str(tmp_path / "log"),
        "MYRIAGATE_PORT": str(_free_port()),
        "DEMO_TIMEOUT": "240",
        "COLUMNS": "100",
    }
    yield env
    subprocess.run(["bash", str(ROOT / "deploy" / "dev-down.sh")], env=env, check=False, timeout=120)


def _dev_up(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "dev-up.sh"), *args],
        env=env, capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"dev-up.sh {args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _demo_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("Demo data: ")]
    return line


def _db(env: dict[str, str]) -> Path:
    return Path(env["MYRIAGATE_DATABASE_URL"].removeprefix("sqlite:///"))


def _use_the_database(env: dict[str, str]) -> None:
    """Spend all of caen-bio (as an admin's SQL would) and add a user by hand."""
    with sqlite3.connect(_db(env)) as db:
        spent = db.execute(
            "UPDATE allocations SET charged_core_seconds = granted_core_seconds - held_core_seconds "
            "WHERE project_id = (SELECT id FROM projects WHERE slurm_account = 'caen-bio')"
        )
        assert spent.rowcount == 1
    engine = make_engine(env["MYRIAGATE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        eve = users_repo.add(session, username="eve", cluster_login="alice", created_at=SystemClock().now())
        users_repo.add_membership(session, eve, cluster=CLUSTER, slurm_account="caen-bio")
        session.commit()
    engine.dispose()


def _demo_jobs_states(env: dict[str, str]) -> list[str]:
    with sqlite3.connect(_db(env)) as db:
        return [row[0] for row in db.execute("SELECT state FROM jobs WHERE job_name LIKE 'demo-%'")]


def test_dev_up_runs_again_over_a_used_database_and_resets_on_demand(stack: dict[str, str]) -> None:
    first = _dev_up(stack)
    assert _demo_line(first).startswith("Demo data: new database: created the demo users")
    assert len(_demo_jobs_states(stack)) == 5

    _use_the_database(stack)
    worker_pid = Path(stack["MYRIAGATE_DEV_RUN_DIR"], "worker.pid")
    os.kill(int(worker_pid.read_text()), signal.SIGKILL)  # its PID file stays behind

    api_pid = Path(stack["MYRIAGATE_DEV_RUN_DIR"], "api.pid")
    old_api = int(api_pid.read_text())
    second = _dev_up(stack)
    assert "worker: removing a stale pid file" in second
    # Run again, the server serves the current code: the old process is replaced.
    assert "api stopped, to start again with the current code" in second
    assert int(api_pid.read_text()) != old_api
    assert not Path(f"/proc/{old_api}").exists()
    line = _demo_line(second)
    assert line.startswith(
        "Demo data: existing database kept: topped up caen-bio (+2,000 h CPU, back to 2,000 h left)"
    ), line
    states = _demo_jobs_states(stack)
    assert len(states) == 10 and states.count("completed") >= 8, states  # each run: 4 completed, 1 failed
    with sqlite3.connect(_db(stack)) as db:
        assert db.execute("SELECT cluster_login FROM users WHERE username = 'eve'").fetchall() == [("alice",)]

    third = _dev_up(stack, "--reset")
    assert "Fresh database (--reset): the old one is kept as " in third
    assert _demo_line(third).startswith("Demo data: new database:")
    assert len(_demo_jobs_states(stack)) == 5
    assert list(_db(stack).parent.glob("dev.db.*.bak")), "the old database is kept beside the new one"
