"""``myriagate.client.Client`` against the real API in-process (``create_app`` over a fake Slurm).

The client's HTTP client is the app's ``TestClient``; ``sleep`` is where time passes (the
``Worker`` of test_cli_unit moves the fake cluster and runs a tracking tick), as for the CLI.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from myriagate.cli.config import save_config
from myriagate.client import (
    Client,
    ConfigError,
    DryRunOut,
    InvalidRequest,
    JobState,
    JobSubmitted,
    NotAuthenticated,
    NotFound,
)
from tests.cli.test_cli_unit import (  # noqa: F401 - quiet_server_logs: autouse
    SCRIPT,
    URL,
    Run,
    Worker,
    last_slurm_id,
    quiet_server_logs,
)
from tests.fakes.fake_slurm import FakeCluster


@pytest.fixture
def mg(logged_in: str, http: TestClient) -> Client:
    return Client(URL, logged_in, http=http)


def write_output(fake_cluster: FakeCluster, slurm_job_id: str, data: bytes) -> None:
    job = fake_cluster.job(slurm_job_id)
    fake_cluster.write_file(f"{job.work_dir}/slurm-{job.slurm_job_id}.out", data)


def test_submit_a_script_file_with_sbatch_options_wait_and_read_its_output(
    mg: Client, script: Path, fake_cluster: FakeCluster, worker: Worker
) -> None:
    job = mg.submit(script, partition="debug", time="10", job_name="from-python", cpus_per_task=2)
    assert isinstance(job, JobSubmitted) and job.state is JobState.PENDING
    detail = mg.job(job)
    assert {"--job-name=from-python", "--time=00:10:00", "--cpus-per-task=2"} <= set(detail.sbatch_args)
    assert detail.script.endswith("echo hello\n")
    worker.steps = [
        lambda: fake_cluster.set_state(job.slurm_job_id or "", "RUNNING"),
        lambda: write_output(fake_cluster, job.slurm_job_id or "", b"hello\n"),
        lambda: fake_cluster.finish(job.slurm_job_id or "", "COMPLETED"),
    ]
    short = detail.short_id
    assert short and str(job.id).replace("-", "").startswith(short)
    assert mg.job(job.slurm_job_id or "").id == job.id  # the Slurm id names it too
    seen: list[JobState] = []
    final = mg.wait(short, sleep=worker, on_update=lambda j: seen.append(j.state))  # a short id
    assert final.state is JobState.COMPLETED and final.state.is_success
    assert seen[-1] is JobState.COMPLETED and JobState.RUNNING in seen
    assert mg.logs(str(job.id)) == "hello\n"


def test_script_text_dry_run_submits_nothing(mg: Client) -> None:
    plan = mg.dry_run(SCRIPT, time="20")
    assert isinstance(plan, DryRunOut)
    assert "--time=00:20:00" in plan.sbatch_args and "--partition=debug" in plan.sbatch_args
    assert mg.jobs() == []


def test_wait_all_returns_every_job_in_order_once_all_ended(
    mg: Client, fake_cluster: FakeCluster, worker: Worker
) -> None:
    first, second = mg.submit(SCRIPT), mg.submit(SCRIPT, job_name="second")
    worker.steps = [
        lambda: fake_cluster.finish(second.slurm_job_id or "", "FAILED", exit_code=3),
        lambda: fake_cluster.finish(first.slurm_job_id or "", "COMPLETED"),
    ]
    rounds: list[list[str]] = []
    finals = mg.wait_all(
        [first, second.id], sleep=worker, on_update=lambda js: rounds.append([j.state for j in js])
    )
    assert [(f.id, f.state) for f in finals] == [(first.id, JobState.COMPLETED), (second.id, JobState.FAILED)]
    assert finals[1].exit_code == 3
    assert rounds[0] == [JobState.PENDING, JobState.PENDING] and rounds[-1] == [
        JobState.COMPLETED,
        JobState.FAILED,
    ]


def test_jobs_filters_cancel_and_a_job_of_someone_else(
    mg: Client, fake_cluster: FakeCluster, worker: Worker
) -> None:
    ids = [mg.submit(SCRIPT, job_name=f"j{i}").id for i in range(3)]
    assert [j.id for j in mg.jobs()] == ids[::-1]  # newest first
    assert [j.id for j in mg.jobs(limit=2)] == ids[:0:-1]
    assert mg.jobs(state="completed") == []
    cancelled = mg.cancel(ids[0])
    assert cancelled.id == ids[0]
    assert fake_cluster.job(cancelled.slurm_job_id or "").state == "CANCELLED"
    with pytest.raises(NotFound) as missing:
        mg.job(uuid.uuid4())
    assert missing.value.http_status == 404 and missing.value.exit_code == 3
    assert missing.value.problem is not None and missing.value.problem["code"] == "not_found"
    assert missing.value.problem.get("request_id")  # what an operator asks for


def test_refusals_are_typed_errors_carrying_the_fields(mg: Client, http: TestClient) -> None:
    with pytest.raises(InvalidRequest) as misspelt:
        mg.submit(SCRIPT, partitoin="debug")  # refused here, with the valid names, before any request
    assert "partition" in misspelt.value.detail
    assert mg.jobs() == []
    with pytest.raises(InvalidRequest) as refused:  # the server's own refusal, field by field
        mg.submit(SCRIPT, time="99-00:00:00")
    assert refused.value.http_status == 422 and refused.value.fields
    with pytest.raises(NotAuthenticated):
        Client(URL, "mgt_not-a-token", http=http).me()
    with pytest.raises(NotAuthenticated, match="myriagate login"):
        Client(URL, None, http=http).jobs()


def test_client_without_arguments_uses_what_login_stored(
    config_file: Path, logged_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_file.parents[1]))
    monkeypatch.delenv("MYRIAGATE_URL", raising=False)
    monkeypatch.delenv("MYRIAGATE_TOKEN", raising=False)
    with Client() as mg:
        assert (mg.base_url, mg.token) == (URL, logged_in)
    monkeypatch.setenv("MYRIAGATE_TOKEN", "mgt_from_env")
    assert Client().token == "mgt_from_env"
    save_config(config_file, url=None, token=None)
    monkeypatch.delenv("MYRIAGATE_TOKEN")
    with pytest.raises(ConfigError, match="no gateway URL"):
        Client()


def test_jobs_wait_waits_for_several_and_exits_1_unless_all_completed(
    run: Run, mg: Client, fake_cluster: FakeCluster, worker: Worker
) -> None:
    first, second = mg.submit(SCRIPT), mg.submit(SCRIPT)
    worker.steps = [
        lambda: fake_cluster.finish(first.slurm_job_id or "", "COMPLETED"),
        lambda: fake_cluster.finish(second.slurm_job_id or "", "CANCELLED"),
    ]
    result = run("jobs", "wait", str(first.id), str(second.id))
    assert result.exit_code == 1, result.output
    # Named by their short ids, as submit and jobs list print them (issue #15).
    assert f"job {first.short_id} completed" in result.stderr
    assert f"job {second.short_id} cancelled" in result.stderr
    assert "1 cancelled, 1 completed" in result.stderr
    assert result.stdout == ""
    again = run("jobs", "wait", str(first.id), "--json")
    assert again.exit_code == 0 and [j["state"] for j in json.loads(again.stdout)] == ["completed"]
    hostile = run("jobs", "wait", "$(reboot)", str(first.id))
    assert hostile.exit_code == 5 and "is not a job id" in hostile.stderr
