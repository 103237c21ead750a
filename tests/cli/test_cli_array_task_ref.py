"""`myriagate jobs logs 1234_5` reads task 5 of array 1234: the Slurm id of one task, as squeue
and sacct print it, answered 'this is an array job of 5 tasks: choose one with task=<index>'
(the API's query syntax, not the CLI's) on the dev cluster. A task id and a different --task
are refused as contradicting each other; a task the array lacks is refused as with --task."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli_arrays import _twenty
from tests.cli.test_cli_unit import Run, Worker, quiet_server_logs  # noqa: F401 - quiet_server_logs: autouse
from tests.fakes.fake_slurm import FakeCluster


def test_a_tasks_slurm_id_reads_that_tasks_output(
    run: Run, logged_in: str, tmp_path: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job = _twenty(tmp_path, run, fake_cluster, worker)
    parent = job["slurm_job_id"]

    shown = run("jobs", "logs", f"{parent}_12")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "task 12 says hi\n"
    assert run("jobs", "logs", f"{parent}_12", "--task", "12").stdout == "task 12 says hi\n"
    both = run("jobs", "logs", f"{parent}_12", "--task", "3")
    assert both.exit_code == 5 and "--task 3" in both.stderr and f"{parent}_12" in both.stderr
    missing = run("jobs", "logs", f"{parent}_20")
    assert missing.exit_code == 5 and "no array task 20" in missing.stderr
