"""``POST /api/v1/jobs`` takes every sbatch option the table offers to the API, and its
answers carry the notices of how the script was read.

The request model is generated from the option table (``web/api/sbatch_schema.py``): these
tests read the table, so an option added there is checked here without a new test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.domain.sbatch_options import table
from myriagate.web.api.sbatch_schema import api_options
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser, assert_problem

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\necho hello\n"
AuthClient = Callable[[User], TestClient]
# The fields SbatchOptions had before it was generated: a client written then still works.
FIELDS_BEFORE_THE_TABLE = {
    "partition", "time", "nodes", "ntasks", "cpus_per_task", "mem", "mem_per_cpu", "gres", "array",
    "job_name", "output", "error", "account", "chdir", "export",
}  # fmt: skip


@pytest.fixture
def alice(make_user: MakeUser, auth_client: AuthClient) -> TestClient:
    return auth_client(make_user(username="alice@unicaen.fr", login="alice"))


def sbatch_options_schema(client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    found: dict[str, Any] = schema["SbatchOptions"]
    return found


def test_the_schema_has_one_described_field_per_api_option_of_the_table(client: TestClient) -> None:
    schema = sbatch_options_schema(client)
    properties = schema["properties"]
    offered = [o for o in table.ACCEPTED if "api" in o.surfaces]
    assert list(properties) == [o.python_name for o in offered]
    assert set(properties) >= FIELDS_BEFORE_THE_TABLE  # only additions
    assert schema["additionalProperties"] is False
    for option in offered:
        assert option.help.en in properties[option.python_name]["description"], option.name
    assert {"type": "integer", "minimum": 1} in properties["ntasks_per_node"]["anyOf"]
    assert {"type": "integer", "minimum": 0} in properties["nice"]["anyOf"]
    assert {"type": "boolean"} in properties["requeue"]["anyOf"]
    assert {"enum": ["user", "mcs"], "type": "string"} in properties["exclusive"]["anyOf"]


def test_an_option_left_off_the_api_surface_is_not_offered() -> None:
    assert {o.name for o in api_options()} == {o.name for o in table.ACCEPTED if "api" in o.surfaces}
    assert all(o.policy != "refused" for o in api_options())


def test_a_misspelt_option_names_the_closest_and_lists_the_valid_ones(
    alice: TestClient, fake_cluster: FakeCluster
) -> None:
    response = alice.post(JOBS, json={"script": SCRIPT, "options": {"ntasks_per_nod": 4}})
    body = assert_problem(response, 422)
    message = body["errors"][0]["message"]
    assert body["errors"][0]["loc"] == ["options", "ntasks_per_nod"]
    assert "did you mean 'ntasks_per_node'?" in message and "mail_type" in message
    assert fake_cluster.jobs == {}


def test_new_options_and_flags_reach_sbatch(alice: TestClient, fake_cluster: FakeCluster) -> None:
    options = {"ntasks_per_node": 28, "exclusive": True, "constraint": "broadwell", "mail_type": "END",
               "requeue": True, "nice": 0, "qos": "normal", "export": "ALL,OMP_NUM_THREADS=4"}  # fmt: skip
    response = alice.post(JOBS, json={"script": SCRIPT, "options": options})
    assert response.status_code == 202, response.text
    assert response.json()["notices"] == []
    args = fake_cluster.job(response.json()["slurm_job_id"]).sbatch_args
    for expected in ("--ntasks-per-node=28", "--exclusive", "--constraint=broadwell", "--mail-type=END",
                     "--requeue", "--nice=0", "--qos=normal", "--export=ALL,OMP_NUM_THREADS=4"):  # fmt: skip
        assert expected in args, (expected, args)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"exclusive": "user"}, "--exclusive=user"),
        ({"exclusive": False}, "--exclusive"),  # false leaves the script's own --exclusive
        ({"no_requeue": True}, "--no-requeue"),  # and replaces the script's --requeue (one family)
    ],
)
def test_flags_true_false_and_values(
    alice: TestClient, fake_cluster: FakeCluster, given: dict[str, Any], sent: str
) -> None:
    script = "#!/bin/bash\n#SBATCH --time=10\n#SBATCH --exclusive\n#SBATCH --requeue\necho hi\n"
    response = alice.post(JOBS, json={"script": script, "options": given})
    assert response.status_code == 202, response.text
    args = fake_cluster.job(response.json()["slurm_job_id"]).sbatch_args
    assert sent in args
    if given == {"no_requeue": True}:
        assert "--requeue" not in args


def test_a_bad_value_points_at_its_option(alice: TestClient, fake_cluster: FakeCluster) -> None:
    response = alice.post(JOBS, json={"script": SCRIPT, "options": {"mail_type": "SOMETIMES"}})
    body = assert_problem(response, 422)
    assert ["options", "mail_type"] in [e["loc"] for e in body["errors"]]
    assert fake_cluster.jobs == {}


NOTICED = "\ufeff#!/bin/bash\r\n#SBATCH --time=10\r\n#SBATCH --err=err.log\r\n#SBATCH --share\r\necho hi\r\n"


def test_submit_and_dry_run_answer_with_the_notices(alice: TestClient, fake_cluster: FakeCluster) -> None:
    preview = alice.post(JOBS, json={"script": NOTICED, "dry_run": True})
    assert preview.status_code == 200, preview.text
    notices = preview.json()["notices"]
    assert len(notices) == 4, notices
    assert "byte-order mark" in notices[0] and "CRLF" in notices[1]
    assert "line 3: --err read as --error" in notices[2]
    assert "line 4: --share is the old name of --oversubscribe" in notices[3]
    assert "\r" not in preview.json()["script"] and "\ufeff" not in preview.json()["script"]

    submitted = alice.post(JOBS, json={"script": NOTICED})
    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["notices"] == notices
    args = fake_cluster.job(submitted.json()["slurm_job_id"]).sbatch_args
    assert "--error=err.log" in args and "--oversubscribe" in args
    # The job as stored and shown later has no notices field: they belong to the submission.
    assert "notices" not in alice.get(f"{JOBS}/{submitted.json()['id']}").json()
