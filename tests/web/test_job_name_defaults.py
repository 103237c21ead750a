"""A job always has a name (issue #15: jobs from a template or the form's own script were
shown as "Job f68b6848-…"). The rule is the server's, one for the API, the CLI and the form:
-J/--job-name (an option or an #SBATCH line) wins; else a script file's name (sbatch's rule,
``script_name``); else the template's name; a script typed in the form is named "script"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser
from tests.web.form_reader import posted_fields
from tests.web.pages_helpers import logged_in

JOBS = "/api/v1/jobs"
UNNAMED = "#!/bin/bash\n#SBATCH --time=00:10:00\necho hello\n"
AuthClient = Callable[[User], TestClient]


def _submitted(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(JOBS, json=body)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_job_from_a_template_is_named_after_it(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    job = _submitted(client, {"template": "hello", "options": {"partition": "debug"}})
    assert job["job_name"] == "hello"
    assert fake_cluster.job(job["slurm_job_id"]).name == "hello"  # what squeue shows
    plan = client.post(JOBS, json={"template": "python", "dry_run": True}).json()
    assert "--job-name=python" in plan["sbatch_args"]


def test_a_name_given_wins_over_the_templates(make_user: MakeUser, auth_client: AuthClient) -> None:
    client = auth_client(make_user())
    job = _submitted(client, {"template": "hello", "options": {"job_name": "mine"}})
    assert job["job_name"] == "mine"


def test_a_script_keeps_sbatchs_rule(make_user: MakeUser, auth_client: AuthClient) -> None:
    client = auth_client(make_user())
    assert _submitted(client, {"script": UNNAMED, "script_name": "run.sh"})["job_name"] == "run.sh"
    assert _submitted(client, {"script": UNNAMED})["job_name"] is None  # text, as sbatch's stdin


def _form_job_name(client: TestClient, fake_cluster: FakeCluster, **fields: str) -> str | None:
    form = client.get("/submit")
    data = {**posted_fields(form.text), "partition": "debug", "time": "5", "action": "submit", **fields}
    response = client.post("/submit", data=data)
    assert response.status_code == 303, response.text
    name: str | None = fake_cluster.job(max(fake_cluster.jobs, key=int)).name
    return name


def test_the_forms_jobs_are_named(app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster) -> None:
    client = logged_in(app, make_user())
    assert _form_job_name(client, fake_cluster, template="hello", shown_template="hello") == "hello"
    script = {"mode": "script", "script": UNNAMED}
    assert _form_job_name(client, fake_cluster, **script) == "script"
    assert _form_job_name(client, fake_cluster, **script, job_name="typed") == "typed"
    named = {"mode": "script", "script": "#!/bin/bash\n#SBATCH -J in-script\necho hi\n"}
    assert _form_job_name(client, fake_cluster, **named) == "in-script"
