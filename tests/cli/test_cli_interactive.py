# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate interactive start|list|show|stop` (issue #18) over the in-process API and the fake
cluster: start waits through queued and starting with a progress line, then prints the URL;
an app that never answers before its job ends exits 7 naming the job and its output command;
bad input exits 5 before anything is submitted; stop cancels the job. Sessions are named by
their short ids as jobs are (an ambiguous one lists the matching sessions and exits 6), and
`list` fits 80 columns."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.interactive import InteractiveSession
from tests.cli.test_cli_unit import (  # noqa: F401 - fixtures by name
    Run,
    Worker,
    alice,
    config_file,
    env,
    http,
    logged_in,
    quiet_server_logs,
    run,
    worker,
)
from tests.fakes.app_tls import connection_file
from tests.fakes.fake_slurm import FakeCluster

TOKEN = "e" * 48


def _session_path(cluster: FakeCluster) -> str:
    (slurm_id,) = cluster.jobs
    script = cluster.jobs[slurm_id].script
    session_id = script.split("--ServerApp.base_url=/interactive/")[1].split("/")[0]
    return f"/home/alice/.myriagate/interactive/{session_id}/connection.json"


def test_start_waits_until_the_app_answers_and_prints_its_url(
    run: Run, logged_in: str, fake_cluster: FakeCluster, worker: Worker
) -> None:
    def pending() -> None:
        fake_cluster.set_state(next(iter(fake_cluster.jobs)), "PENDING", reason="Resources")

    def running() -> None:
        fake_cluster.set_state(next(iter(fake_cluster.jobs)), "RUNNING")

    def announced() -> None:
        fake_cluster.files[_session_path(fake_cluster)] = connection_file("10.0.0.7", 41000, TOKEN)

    worker.steps += [pending, running, announced]
    done = run("interactive", "start", "jupyter", "-p", "debug", "-t", "30")
    assert done.exit_code == 0, done.output
    (url,) = done.stdout.split()
    assert url.startswith("http://testserver/interactive/") and url.endswith("/")
    assert "queued: waiting for resources (Resources)" in done.stderr
    assert "starting" in done.stderr
    assert TOKEN not in done.output
    job = next(iter(fake_cluster.jobs.values()))
    assert "--partition=debug" in job.sbatch_args and "--time=00:30:00" in job.sbatch_args

    session_id = url.rstrip("/").rsplit("/", 1)[1]
    listed = run("interactive", "list")
    assert listed.exit_code == 0 and "running" in listed.stdout
    assert session_id[:8] in listed.stdout.split()  # the short id; the URL with --wide and show
    assert url in run("interactive", "list", "--wide").stdout
    assert f"url: {url}" in run("interactive", "show", session_id[:8]).stdout
    stopped = run("interactive", "stop", session_id)
    assert stopped.exit_code == 0, stopped.output
    assert job.state == "CANCELLED"


def test_a_session_that_ends_before_its_app_answers_exits_7(
    run: Run, logged_in: str, fake_cluster: FakeCluster, worker: Worker
) -> None:
    worker.steps += [lambda: fake_cluster.finish(next(iter(fake_cluster.jobs)), "FAILED", exit_code=1)]
    done = run("interactive", "start", "jupyter", "-p", "debug", "-t", "30")
    assert done.exit_code == 7, done.output
    assert "ended before its app answered" in done.stderr
    assert "(exit code 1): its output says why" in done.stderr
    (session,) = json.loads(run("interactive", "list", "--json").stdout)
    assert f"see `myriagate jobs logs {session['job_short_id']}`" in done.stderr
    shown = run("interactive", "show", session["short_id"])
    assert shown.exit_code == 0, shown.output
    assert "state: ended (failed)" in shown.stdout
    assert "problem: the job ended before the app announced itself (exit code 1)" in shown.stdout
    assert f"output: myriagate jobs logs {session['job_short_id']}" in shown.stdout


def test_bad_input_exits_5_and_submits_nothing(run: Run, logged_in: str, fake_cluster: FakeCluster) -> None:
    for argv in (
        ("interactive", "start", "rstudio"),
        ("interactive", "start", "jupyter", "-t", "5x"),
        ("interactive", "start", "jupyter", "--param", "session_id=x"),
        ("interactive", "start", "jupyter", "--param", "nonsense"),
    ):
        done = run(*argv)
        assert done.exit_code == 5, (argv, done.output)
    assert fake_cluster.jobs == {}


def test_stopping_somebody_elses_or_no_session_exits_3(run: Run, logged_in: str) -> None:
    assert run("interactive", "stop", "0b9c8f1e-4a5d-4e2b-9c1a-2f3e4d5c6b7a").exit_code == 3


def _two_sessions_sharing(prefix: str, run: Run, db: sessionmaker[Session]) -> list[str]:
    """Two of alice's sessions whose ids start with ``prefix`` (8 hex digits), a 9th apart."""
    for _ in range(2):
        assert run("interactive", "start", "jupyter", "-p", "debug", "-t", "30", "--no-wait").exit_code == 0
    ids = [s["id"] for s in json.loads(run("interactive", "list", "--json").stdout)]
    made = []
    with db() as session:
        for tail, old in zip("12", ids, strict=True):
            new = uuid.UUID(prefix + tail * 24)
            session.execute(
                sa.update(InteractiveSession).where(InteractiveSession.id == uuid.UUID(old)).values(id=new)
            )
            made.append(str(new))
        session.commit()
    return made


def test_every_session_command_takes_a_short_id_and_an_ambiguous_one_exits_6(
    run: Run, logged_in: str, fake_cluster: FakeCluster, web_session_factory: sessionmaker[Session]
) -> None:
    first, second = _two_sessions_sharing("cafe0123", run, web_session_factory)
    for argv in (("interactive", "show", "cafe0123"), ("interactive", "stop", "cafe0123")):
        ambiguous = run(*argv)
        assert ambiguous.exit_code == 6, ambiguous.output
        assert "Matching sessions" in ambiguous.stderr
        assert first in ambiguous.stderr and second in ambiguous.stderr
        assert "names 2 sessions: give more characters of the id" in ambiguous.stderr
    assert {j.state for j in fake_cluster.jobs.values()} == {"PENDING"}  # nothing stopped
    stopped = run("interactive", "stop", "cafe01232")
    assert stopped.exit_code == 0, stopped.output
    assert stopped.stdout.startswith("session cafe01232: stop sent")
    listed = run("interactive", "list").stdout.splitlines()
    assert any(line.startswith("cafe01232") and "stopping" in line for line in listed), listed
    assert sorted(j.state for j in fake_cluster.jobs.values()) == ["CANCELLED", "PENDING"]
    shown = run("interactive", "show", "CAFE0123-1111")  # upper case and a dash, as people copy it
    assert shown.exit_code == 0 and first in shown.stdout, shown.output
    for not_an_id in ("../etc", "-x", "a b", "$(id)"):
        refused = run("interactive", "stop", not_an_id)
        assert refused.exit_code in (2, 5), (not_an_id, refused.output)  # 2: an option Typer refused
    assert run("interactive", "stop", "zz").exit_code == 5  # the gateway: not hex, too short
    assert sorted(j.state for j in fake_cluster.jobs.values()) == ["CANCELLED", "PENDING"]


@pytest.mark.parametrize("width", [80, 200])
def test_list_shows_short_ids_and_fits_the_terminal(
    width: int, run: Run, env: dict[str, str | None], logged_in: str,
    web_session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    first, second = _two_sessions_sharing("beef4567", run, web_session_factory)
    env["COLUMNS"] = str(width)
    listed = run("interactive", "list")
    assert listed.exit_code == 0, listed.output
    assert all(len(line) <= width for line in listed.stdout.splitlines()), listed.stdout
    words = listed.stdout.split()
    assert "beef45671" in words and "beef45672" in words and first not in listed.stdout
    assert "30 min" in listed.stdout  # devcluster's idle timeout
    wide = run("interactive", "list", "--wide")
    assert first in wide.stdout and second in wide.stdout
