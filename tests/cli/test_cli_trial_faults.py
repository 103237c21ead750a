"""Issue #15, faults a trial as a new researcher still met in the job output commands:
`jobs logs --raw` gives the job's bytes as they are (invalid UTF-8 and terminal escapes
included), also while following a running job; without --raw the same output is shown with
its control characters spelled out and invalid bytes replaced. And `jobs list` asks who lists
(``/me``) only when the answer can change the table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    Run,
    Worker,
    quiet_server_logs,
    submit_json,
)
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser

# Latin-1 bytes (not UTF-8), a UTF-8 "é" split across two reads, colours and a window title.
FIRST = b"caf\xe9 latin-1 \xff\xfe\n\x1b[31mred\x1b]0;OWNED\x07 caf\xc3"
REST = b"\xa9 done\n\xc3\x28 bad pair\nno newline at the end \x9b"


def _running_job_with_output(run: Run, script: Path, fake_cluster: FakeCluster, worker: Worker) -> str:
    job = submit_json(run, str(script))
    slurm_id = job["slurm_job_id"]
    fake_cluster.set_state(slurm_id, "RUNNING")
    worker(1.0)  # the worker learns the job's directory from Slurm
    path = f"{fake_cluster.job(slurm_id).work_dir}/slurm-{slurm_id}.out"
    fake_cluster.write_file(path, FIRST)
    # While the CLI follows: the job writes the rest, then ends.
    worker.steps = [
        lambda: fake_cluster.write_file(path, FIRST + REST),
        lambda: fake_cluster.finish(slurm_id, "COMPLETED"),
    ]
    return str(job["id"])


def test_raw_follow_writes_the_jobs_bytes_unchanged(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job_id = _running_job_with_output(run, script, fake_cluster, worker)
    followed = run("jobs", "logs", job_id, "--follow", "--raw")
    assert followed.exit_code == 0, followed.stderr
    assert followed.stdout_bytes == FIRST + REST
    again = run("jobs", "logs", job_id, "--raw")  # and once ended, without following
    assert again.exit_code == 0, again.stderr
    assert again.stdout_bytes == FIRST + REST


def test_follow_without_raw_spells_control_characters_and_replaces_invalid_bytes(
    run: Run, logged_in: str, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job_id = _running_job_with_output(run, script, fake_cluster, worker)
    followed = run("jobs", "logs", job_id, "--follow")
    assert followed.exit_code == 0, followed.stderr
    shown = followed.stdout_bytes.decode("utf-8")  # valid UTF-8, whatever the job wrote
    assert shown == (
        "caf\ufffd latin-1 \ufffd\ufffd\n^[[31mred^[]0;OWNED^G café done\n\ufffd( bad pair\n"
        "no newline at the end \ufffd"
    )
    assert "\x1b" not in shown and "\x07" not in shown


# --- jobs list asks who lists only when the answer can change the table ------------------------
def _me_requests(http: TestClient) -> list[str]:
    """The paths of the ``/me`` requests the CLI makes from now on."""
    asked: list[str] = []

    def note(request: httpx.Request) -> None:
        if request.url.path.endswith("/me"):
            asked.append(request.url.path)

    http.event_hooks["request"].append(note)
    return asked


@pytest.mark.parametrize(
    ("width", "args", "asks"),
    [
        (250, (), False),  # every column fits: the owner column shows either way
        (60, ("--wide",), False),  # every column, whoever lists
        (60, ("--json",), False),  # no table
        (60, (), True),  # too narrow for every column: is the one owner the caller?
    ],
)
def test_jobs_list_asks_who_lists_only_when_a_column_must_give_way(
    width: int, args: tuple[str, ...], asks: bool, run: Run, env: dict[str, str | None],
    logged_in: str, script: Path, http: TestClient,
) -> None:  # fmt: skip
    submit_json(run, str(script), "-J", "a-rather-long-job-name-for-a-narrow-terminal")
    env["COLUMNS"] = str(width)
    asked = _me_requests(http)
    listed = run("jobs", "list", *args)
    assert listed.exit_code == 0, listed.stderr
    assert asked == (["/api/v1/me"] if asks else [])
    if not args:  # her own jobs only: the owner column is the first to give way
        assert ("owner" in listed.stdout.splitlines()[0].split()) is (width == 250)


def test_jobs_list_at_80_columns_keeps_the_account_when_it_fits(
    run: Run, env: dict[str, str | None], logged_in: str, script: Path
) -> None:
    """Found trying the CLI at 80 columns: the account gave way, then "cluster/partition" (17
    wide) did too, and the account stayed out though it fitted again."""
    submit_json(run, str(script), "-J", "demo-staging")
    env["COLUMNS"] = "80"
    listed = run("jobs", "list")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "id",
        "slurm",
        "name",
        "account",
        "state",
        "exit",
        "submitted",
    ]
    assert "caen-climat" in listed.stdout.split()


def test_a_list_of_several_owners_keeps_the_owner_column_without_asking_who_lists(
    run: Run, env: dict[str, str | None], logged_in: str, script: Path, http: TestClient,
    make_user: MakeUser, token_for: Callable[[User], str],
) -> None:  # fmt: skip
    submit_json(run, str(script), "-J", "alices-run")
    lead = make_user("project_lead", username="lead@unicaen.fr", login="lead")
    env["MYRIAGATE_URL"], env["MYRIAGATE_TOKEN"] = "http://testserver", token_for(lead)
    submit_json(run, str(script), "-J", "leads-run")
    env["COLUMNS"] = "60"
    asked = _me_requests(http)
    mixed = run("jobs", "list")
    assert mixed.exit_code == 0, mixed.stderr
    assert asked == []
    assert "owner" in mixed.stdout.split(), mixed.stdout
