"""``myriagate jobs resubmit ID``: a copy of one of your jobs through ``POST /jobs`` (every
check applies), sbatch's options changing it, ``--dry-run``, the new id printed; the
gateway's notices in the terminal's language, the CLI's own words in English."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.jobs import Job
from myriagate.domain.states import JobState
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    Run,
    quiet_server_logs,
    submit_json,
)
from tests.fakes.fake_slurm import FakeCluster


@pytest.fixture
def db(web_session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    return web_session_factory


def timed_out(run: Run, script: Path, db: sessionmaker[Session]) -> str:
    job_id = str(submit_json(run, str(script), "-p", "debug", "-t", "10", "--mem", "1G")["id"])
    with db() as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        job.state = JobState.TIMEOUT
        session.commit()
    return job_id


def test_resubmit_submits_a_copy_with_twice_the_time_and_prints_the_new_id(
    run: Run, logged_in: str, script: Path, db: sessionmaker[Session], fake_cluster: FakeCluster
) -> None:
    first = timed_out(run, script, db)
    result = run("jobs", "resubmit", first[:8], "--parsable")
    assert result.exit_code == 0, result.stderr
    new_id = result.stdout.strip()
    assert uuid.UUID(new_id) and new_id != first
    assert "copy asks for twice as long, 00:20:00" in result.stderr
    args = fake_cluster.job(list(fake_cluster.jobs)[-1]).sbatch_args
    assert "--time=00:20:00" in args and "--mem=1024M" in args
    assert run("jobs", "show", new_id, "--json").exit_code == 0  # the id works in the next command


def test_options_change_the_copy_a_family_as_a_whole_and_dry_run_sends_nothing(
    run: Run, logged_in: str, script: Path, db: sessionmaker[Session], fake_cluster: FakeCluster
) -> None:
    first = timed_out(run, script, db)
    sent = len(fake_cluster.jobs)
    result = run("jobs", "resubmit", first, "-t", "0:25:00", "--mem-per-cpu", "2G", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert len(fake_cluster.jobs) == sent
    assert "# dry run on devcluster: nothing submitted" in result.stdout
    assert "--time=00:25:00" in result.stdout and "--mem-per-cpu=2048M" in result.stdout
    assert "--mem=" not in result.stdout and "twice as long" not in result.stderr


def test_a_refused_change_is_the_same_clear_error_as_submit_s(
    run: Run, logged_in: str, script: Path, db: sessionmaker[Session], fake_cluster: FakeCluster
) -> None:
    first = timed_out(run, script, db)
    sent = len(fake_cluster.jobs)
    result = run("jobs", "resubmit", first, "-t", "99:00:00", "--json")
    assert result.exit_code == 5 and result.stdout == ""
    assert "exceeds the maximum of partition 'debug'" in result.stderr
    assert len(fake_cluster.jobs) == sent


def test_someone_elses_or_a_missing_job_is_not_found(run: Run, logged_in: str) -> None:
    result = run("jobs", "resubmit", str(uuid.uuid4()))
    assert result.exit_code == 3 and re.search(r"no job [0-9a-f-]{36}", result.stderr)


def test_the_notices_come_in_french_in_a_french_terminal(
    run: Run, logged_in: str, script: Path, db: sessionmaker[Session], monkeypatch: object
) -> None:
    first = timed_out(run, script, db)
    import os

    os.environ["LANG"] = "fr_FR.UTF-8"
    try:
        result = run("jobs", "resubmit", first, "--json")
    finally:
        del os.environ["LANG"]
    assert result.exit_code == 0, result.stderr
    assert "la copie demande le double, 00:20:00" in result.stderr
    assert json.loads(result.stdout)["state"]
