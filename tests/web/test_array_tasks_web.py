"""Array jobs on the job page and in the API (issue #15, "Array jobs on the web"): range, the
summary (English and French), per-task states and exit codes, and one task's output at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import logged_in

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\n#SBATCH --array=0-19%4\necho task $SLURM_ARRAY_TASK_ID\n"
AuthClient = Callable[[User], TestClient]


def tick(app: FastAPI, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def submitted_array(
    client: TestClient, fake_cluster: FakeCluster, app: FastAPI, backends: FakeSlurmBackendFactory,
    clock: FakeClock, login: str,
) -> dict[str, Any]:  # fmt: skip
    """A 20-task array: 12 completed, task 12 failed (exit 3), task 13 timed out, 6 waiting."""
    response = client.post(JOBS, json={"script": SCRIPT})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    parent = job["slurm_job_id"]
    for i in range(14):
        fake_cluster.set_state(f"{parent}_{i}", "RUNNING")
        end = {12: ("FAILED", 3), 13: ("TIMEOUT", 0)}.get(i, ("COMPLETED", 0))
        fake_cluster.finish(f"{parent}_{i}", end[0], exit_code=end[1])
        fake_cluster.write_file(f"/home/{login}/slurm-{parent}_{i}.out", f"hello from task {i}\n".encode())
    tick(app, backends, clock)
    return job


def test_the_api_shows_the_range_summary_and_each_task(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    client = auth_client(make_user(login="arr"))
    job = submitted_array(client, fake_cluster, app, backends, clock, "arr")
    body = client.get(f"{JOBS}/{job['id']}").json()
    array = body["array"]
    assert array["range"] == "0-19%4" and array["task_count"] == 20
    assert array["summary"] == {
        "done": 12, "failed": 2, "cancelled": 0, "running": 0, "waiting": 6,
        "text": "12 done, 2 failed, 6 waiting",
    }  # fmt: skip
    tasks = {t["index"]: t for t in array["tasks"]}
    assert len(tasks) == 20
    assert (tasks[12]["state"], tasks[12]["exit_code"], tasks[12]["slurm_job_id"]) == (
        "failed", 3, f"{job['slurm_job_id']}_12",
    )  # fmt: skip
    assert tasks[13]["state"] == "timeout" and tasks[19]["state"] == "pending"
    # Per-task output; a task the array does not hold is a 422 problem, not a made-up file.
    url = f"{JOBS}/{job['id']}/output"
    assert client.get(url, params={"task": 12}).text == "hello from task 12\n"
    assert_problem(client.get(url, params={"task": 20}), 422, "invalid_request")
    # A plain job has no array.
    plain = client.post(JOBS, json={"script": "#!/bin/bash\n#SBATCH -t 5\necho hi\n"}).json()
    assert client.get(f"{JOBS}/{plain['id']}").json()["array"] is None


def test_the_job_page_shows_tasks_and_one_tasks_output_in_english_and_french(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    user = make_user(login="arrp")
    job = submitted_array(auth_client(user), fake_cluster, app, backends, clock, "arrp")
    english = logged_in(app, user)
    page = english.get(f"/jobs/{job['id']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<code>0-19%4</code>" in html
    assert '<dd id="array-summary">12 done, 2 failed, 6 waiting</dd>' in html
    assert html.count('<tr data-task="') == 20
    row_12 = html.split('<tr data-task="12"')[1].split("</tr>")[0]
    assert "failed" in row_12 and ">3<" in row_12
    # With no task asked for, the first failed task's output is shown.
    assert "Output of task 12" in html and "hello from task 12" in html
    other = english.get(f"/jobs/{job['id']}", params={"task": 4}).text
    assert "Output of task 4" in other and "hello from task 4" in other
    assert '<option value="4" selected>' in other
    missing = english.get(f"/jobs/{job['id']}", params={"task": 25}).text
    assert "This array has no task 25; task 12 is shown instead." in missing
    assert english.get(f"/jobs/{job['id']}", params={"task": "-1"}).status_code == 422

    french = logged_in(app, user, lang="fr").get(f"/jobs/{job['id']}").text
    assert '<dd id="array-summary">12 terminées, 2 en échec, 6 en attente</dd>' in french
    assert "Tâches du tableau" in french and "Sortie de la tâche 12" in french


def test_someone_who_may_only_view_sees_the_tasks_but_no_output(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    owner = make_user(login="arro")
    job = submitted_array(auth_client(owner), fake_cluster, app, backends, clock, "arro")
    admin = make_user("university_admin")
    fake_cluster.reset_calls()
    html = logged_in(app, admin).get(f"/jobs/{job['id']}").text
    assert '<dd id="array-summary">12 done, 2 failed, 6 waiting</dd>' in html
    assert "hello from task" not in html and 'id="task-output"' not in html
    assert fake_cluster.calls["tail"] == 0


def test_a_large_array_page_lists_the_tasks_worth_a_look_and_takes_a_task_number(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    user = make_user(login="arrbig")
    script = SCRIPT.replace("0-19%4", "0-999")
    response = auth_client(user).post(JOBS, json={"script": script})
    assert response.status_code == 202, response.text
    job = response.json()
    parent = job["slurm_job_id"]
    fake_cluster.set_state(parent, "RUNNING")
    fake_cluster.finish(parent, "COMPLETED")
    fake_cluster.set_state(f"{parent}_640", "RUNNING")
    fake_cluster.finish(f"{parent}_640", "OUT_OF_MEMORY", exit_code=0, signal=9)
    tick(app, backends, clock)
    html = logged_in(app, user).get(f"/jobs/{job['id']}").text
    assert '<dd id="array-summary">999 done, 1 failed</dd>' in html
    assert html.count('<tr data-task="') == 200
    assert html.index('<tr data-task="640"') < html.index('<tr data-task="0"')  # the failed one first
    assert "signal 9" in html.split('<tr data-task="640"')[1].split("</tr>")[0]
    assert "Showing 200 of 1,000 tasks" in html
    assert '<input id="task" name="task" type="number" min="0" value="640">' in html  # no 1,000-option select
