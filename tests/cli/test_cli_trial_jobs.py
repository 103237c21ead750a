"""Faults a fresh-eyes trial of the CLI found in the job commands (issues #15 and #17): a
project lead's narrow `jobs list` keeps whose job each is; job output reaches the terminal
with its control characters shown, not obeyed (--raw for the bytes); cancelling a job that
already ended exits 0 with a note, as the help promises; `jobs list -M nosuch` is refused
as `submit -M nosuch` is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    Run,
    Worker,
    quiet_server_logs,
    submit_json,
)
from tests.conftest import CLUSTER
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser

# What a job could print to take over its reader's terminal: colours, a window title, a
# carriage return hiding a line, a clear screen by the 8-bit CSI, a bell.
HOSTILE = b"\x1b[31mred\x1b[0m\x1b]0;OWNED\x07 seen\rhidden\nok\tthere\r\n\xc2\x9b2J\x07\x7fend\n"
SHOWN = "^[[31mred^[[0m^[]0;OWNED^G seen^Mhidden\nok\tthere\r\n<U+009B>2J^G^?end\n"


def _switch(env: dict[str, str | None], config_file: Path, token: str) -> None:
    """The next commands run as the owner of ``token`` (the config file is alice's)."""
    env["MYRIAGATE_URL"], env["MYRIAGATE_TOKEN"] = "http://testserver", token


def test_a_leads_list_keeps_the_owner_column_at_80_columns(
    run: Run,
    env: dict[str, str | None],
    config_file: Path,
    logged_in: str,
    script: Path,
    make_user: MakeUser,
    token_for: Callable[[User], str],
) -> None:
    submit_json(run, str(script), "-J", "alices-run")
    env["COLUMNS"] = "80"
    own = run("jobs", "list")
    assert own.exit_code == 0, own.stderr
    assert "owner" not in own.stdout.splitlines()[0].split()  # her own jobs only: room for the rest
    lead = make_user("project_lead", username="lead@unicaen.fr", login="lead")
    _switch(env, config_file, token_for(lead))
    mixed = run("jobs", "list")
    assert mixed.exit_code == 0, mixed.stderr
    assert "owner" in mixed.stdout.splitlines()[0].split(), mixed.stdout
    assert "alice@unicaen.fr" in mixed.stdout.split(), mixed.stdout  # whole, on one line
    assert all(len(line) <= 80 for line in mixed.stdout.splitlines())


def _finished_with_output(run: Run, script: Path, fake_cluster: FakeCluster, worker: Worker) -> str:
    job = submit_json(run, str(script))
    fake = fake_cluster.job(job["slurm_job_id"])
    worker(1.0)  # the worker learns the job's directory from Slurm
    fake_cluster.write_file(f"{fake.work_dir}/slurm-{fake.slurm_job_id}.out", HOSTILE)
    fake_cluster.finish(job["slurm_job_id"], "COMPLETED")
    worker(1.0)
    return str(job["id"])


def test_job_output_shows_control_characters_and_raw_gives_the_bytes(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job_id = _finished_with_output(run, script, fake_cluster, worker)
    shown = run("jobs", "logs", job_id)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout_bytes == SHOWN.encode()  # (.stdout is click's, \r\n made \n)
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    followed = run("jobs", "logs", job_id, "--follow")
    assert followed.exit_code == 0, followed.stderr
    assert followed.stdout_bytes == SHOWN.encode()
    raw = run("jobs", "logs", job_id, "--raw")
    assert raw.exit_code == 0, raw.stderr
    assert raw.stdout_bytes == HOSTILE


def test_cancelling_an_ended_job_exits_0_with_a_note_naming_its_short_id(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job_id = _finished_with_output(run, script, fake_cluster, worker)
    shown = json.loads(run("jobs", "show", job_id, "--json").stdout)
    done = run("jobs", "cancel", job_id)
    assert done.exit_code == 0, done.output
    assert done.stdout == f"Job {shown['short_id']} already ended (completed): nothing to cancel.\n"
    assert job_id not in done.output and done.stderr == ""
    assert fake_cluster.job(shown["slurm_job_id"]).state == "COMPLETED"
    as_json = run("jobs", "cancel", job_id, "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["state"] == "completed"


def test_jobs_list_refuses_an_unknown_cluster_as_submit_does(
    run: Run, logged_in: str, script: Path, http: TestClient
) -> None:
    submit_json(run, str(script))
    listed = run("jobs", "list", "-M", "nosuch")
    submitted = run("submit", str(script), "-M", "nosuch")
    assert submitted.exit_code == 5
    assert listed.exit_code == 5, listed.output
    assert "unknown cluster 'nosuch'" in listed.stderr and listed.stdout == ""
    known = run("jobs", "list", "-M", CLUSTER, "--json")
    assert known.exit_code == 0 and known.stdout.strip() != "[]"
