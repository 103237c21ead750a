# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""An array job on the REAL dev cluster through the gateway's API (issue #15, "Array jobs on the
web"): ``--array=0-3`` where task 2 exits 3; each task's state, exit code and own output file
(named with ``%A``, ``%a`` and ``%j``, the task's own Slurm id) come back through the API."""

from __future__ import annotations

import httpx
import pytest

from myriagate.wiring import Gateway
from tests.integration.test_api_real_cluster import (  # noqa: F401 - fixtures are found by name
    _track_until,
    alice,
    gateway,
    server,
)

pytestmark = pytest.mark.slurm

SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --job-name=arr-real\n"
    "#SBATCH --array=0-3\n"
    "#SBATCH --output=arr-real-%A_%a-%j.out\n"
    'echo "task ${SLURM_ARRAY_TASK_ID} job ${SLURM_JOB_ID} as $(id -un)"\n'
    'if [ "${SLURM_ARRAY_TASK_ID}" = 2 ]; then exit 3; fi\n'
)
FINAL = {"completed", "failed", "cancelled", "timeout", "out_of_memory", "node_fail"}


def test_an_array_with_a_failing_task_reports_each_task_and_its_output(
    alice: httpx.Client, gateway: Gateway
) -> None:
    response = alice.post("/jobs", json={"script": SCRIPT, "options": {"partition": "debug", "time": "2"}})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["array_task_count"] == 4

    done = _track_until(gateway, alice, job["id"], FINAL, 180)
    assert done["state"] == "failed", done  # the worst end among the tasks
    array = done["array"]
    assert array["range"] == "0-3"
    assert array["summary"]["text"] == "3 done, 1 failed", array
    tasks = {t["index"]: t for t in array["tasks"]}
    assert sorted(tasks) == [0, 1, 2, 3]
    assert [tasks[i]["state"] for i in range(4)] == ["completed", "completed", "failed", "completed"]
    assert [tasks[i]["exit_code"] for i in range(4)] == [0, 0, 3, 0]
    assert all(tasks[i]["slurm_job_id"] == f"{job['slurm_job_id']}_{i}" for i in range(4))

    for i in range(4):
        output = alice.get(f"/jobs/{job['id']}/output", params={"task": i})
        assert output.status_code == 200, output.text
        words = output.text.split()
        # The file was found under the task's own Slurm id (%j), which differs task to task.
        assert words[:2] == ["task", str(i)] and words[-2:] == ["as", "alice"], output.text
        assert f"arr-real-{job['slurm_job_id']}_{i}-{words[3]}.out" in output.headers["content-disposition"]
    assert alice.get(f"/jobs/{job['id']}/output", params={"task": 4}).status_code == 422
