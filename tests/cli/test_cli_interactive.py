# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate interactive start|list|stop` (issue #18) over the in-process API and the fake
cluster: start waits through queued and starting with a progress line, then prints the URL;
an app that never answers before its job ends exits 7 naming the job; bad input exits 5 before
anything is submitted; stop cancels the job."""

from __future__ import annotations

import json

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
        payload = {"host": "10.0.0.7", "port": 41000, "token": TOKEN}
        fake_cluster.files[_session_path(fake_cluster)] = json.dumps(payload).encode()

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

    listed = run("interactive", "list")
    assert listed.exit_code == 0 and url in listed.stdout and "running" in listed.stdout
    session_id = url.rstrip("/").rsplit("/", 1)[1]
    stopped = run("interactive", "stop", session_id)
    assert stopped.exit_code == 0, stopped.output
    assert job.state == "CANCELLED"


def test_a_session_that_ends_before_its_app_answers_exits_7(
    run: Run, logged_in: str, fake_cluster: FakeCluster, worker: Worker
) -> None:
    worker.steps += [lambda: fake_cluster.finish(next(iter(fake_cluster.jobs)), "FAILED", exit_code=1)]
    done = run("interactive", "start", "jupyter", "-p", "debug", "-t", "30")
    assert done.exit_code == 7, done.output
    assert "ended before its app answered" in done.stderr and "jobs logs" in done.stderr


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
