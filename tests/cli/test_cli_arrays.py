"""`myriagate jobs show` and `jobs logs --task` on an array job (issue #15, "Array jobs on the
web": the CLI shows the same range, summary and tasks as the page and the API)."""

from __future__ import annotations

import json
from pathlib import Path

from myriagate.cli import job_arrays
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    Run,
    Worker,
    quiet_server_logs,
    submit_json,
)
from tests.fakes.fake_slurm import FakeCluster

ARRAY_SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\n#SBATCH --array=0-19%4\necho t\n"


def _twenty(tmp_path: Path, run: Run, fake_cluster: FakeCluster, worker: Worker) -> dict[str, object]:
    path = tmp_path / "array.sh"
    path.write_text(ARRAY_SCRIPT)
    job = submit_json(run, str(path))
    parent = str(job["slurm_job_id"])
    for i in range(14):
        fake_cluster.set_state(f"{parent}_{i}", "RUNNING")
        end = {12: ("FAILED", 3), 13: ("TIMEOUT", 0)}.get(i, ("COMPLETED", 0))
        fake_cluster.finish(f"{parent}_{i}", end[0], exit_code=end[1])
    fake_cluster.write_file(f"/home/alice/slurm-{parent}_12.out", b"task 12 says hi\n")
    worker(1.0)
    return job


def test_jobs_show_prints_the_range_summary_and_tasks(
    run: Run, logged_in: str, tmp_path: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job = _twenty(tmp_path, run, fake_cluster, worker)
    result = run("jobs", "show", str(job["id"]))
    assert result.exit_code == 0, result.output
    assert "array: 0-19%4 (20 tasks): 12 done, 2 failed, 6 waiting" in result.stdout
    task_12 = next(line for line in result.stdout.splitlines() if f"{job['slurm_job_id']}_12" in line)
    assert "failed" in task_12 and " 3 " in task_12
    shown = json.loads(run("jobs", "show", str(job["id"]), "--json").stdout)
    assert shown["array"]["summary"]["text"] == "12 done, 2 failed, 6 waiting"
    assert len(shown["array"]["tasks"]) == 20


def test_jobs_logs_reads_one_tasks_output_and_refuses_a_task_the_array_lacks(
    run: Run, logged_in: str, tmp_path: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job = _twenty(tmp_path, run, fake_cluster, worker)
    assert run("jobs", "logs", str(job["id"]), "--task", "12").stdout == "task 12 says hi\n"
    refused = run("jobs", "logs", str(job["id"]), "--task", "20")
    assert refused.exit_code == 5
    assert "no array task 20" in refused.stderr


def test_a_large_array_lists_the_tasks_worth_a_look(
    run: Run, logged_in: str, tmp_path: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    path = tmp_path / "big.sh"
    path.write_text(ARRAY_SCRIPT.replace("0-19%4", "0-149"))
    job = submit_json(run, str(path))
    parent = str(job["slurm_job_id"])
    fake_cluster.set_state(parent, "RUNNING")
    fake_cluster.finish(parent, "COMPLETED")
    fake_cluster.set_state(f"{parent}_77", "RUNNING")
    fake_cluster.finish(f"{parent}_77", "FAILED", exit_code=2)
    worker(1.0)
    out = run("jobs", "show", str(job["id"])).stdout
    assert "149 done, 1 failed" in out
    assert f"{parent}_77" in out and f"{parent}_76" not in out
    assert "--json lists all 150" in out
    assert job_arrays.MAX_ROWS == 100
