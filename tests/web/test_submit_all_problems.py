"""A submission refused says every independent problem at once, each beside its field (the
researcher trial: a memory size sbatch cannot read hid a time limit over the partition's
maximum and an absolute result pattern, each shown only once the one before was fixed)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import logged_in
from tests.web.test_api_jobs import written
from tests.web.test_pages_submit_options import post

AuthClient = Callable[[User], TestClient]
FIELD_ERROR = re.compile(r'id="([a-z_]+)-error"[^>]*>(.*?)<', re.S)
BAD = {"mem": "4 Go", "time": "99:00:00", "partition": "debug"}


def shown(page: str) -> dict[str, str]:
    return {name: html.unescape(text) for name, text in FIELD_ERROR.findall(page)}


def test_the_api_names_the_memory_the_time_and_the_result_pattern_at_once(
    make_user: MakeUser, auth_client: AuthClient, db: Session, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    before = written(db)
    body = {"script": "#!/bin/bash\necho hi\n", "options": BAD,
            "staging": {"output_patterns": ["/etc/*"], "store": "caen"}}  # fmt: skip
    problem = assert_problem(client.post("/api/v1/jobs", json=body), 422, "job_spec_invalid")
    where = {tuple(e["loc"]): e["message"] for e in problem["errors"]}
    assert "is not a memory size" in where[("options", "mem")]
    assert "exceeds the maximum of partition 'debug'" in where[("options", "time")]
    assert "must be relative" in where[("staging", "output_patterns", 0)]
    assert "4 Go" in problem["detail"] and "00:30:00" in problem["detail"]
    assert fake_cluster.jobs == {}
    assert written(db)[0] == before[0]  # no job (the refused pattern is audited, as before)


def test_a_script_line_that_cannot_be_read_does_not_hide_the_time_limit(
    make_user: MakeUser, auth_client: AuthClient
) -> None:
    script = "#!/bin/bash\n#SBATCH --ntasks=lots\n#SBATCH --time=99:00:00\n#SBATCH -p debug\necho\n"
    problem = assert_problem(auth_client(make_user()).post("/api/v1/jobs", json={"script": script}), 422)
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert ("script", 2) in locs and ("time",) in locs


def test_an_unreadable_partition_checks_no_other_partition_limit(
    make_user: MakeUser, auth_client: AuthClient
) -> None:
    """Leaving the partition out would check the default partition's limits: not said."""
    body = {"script": "#!/bin/bash\necho\n", "options": {"partition": "débug", "time": "99:00:00"}}
    problem = assert_problem(auth_client(make_user()).post("/api/v1/jobs", json=body), 422)
    assert [tuple(e["loc"]) for e in problem["errors"]] == [("options", "partition")]


def test_an_unreadable_task_count_says_no_problem_of_the_job_shape(
    make_user: MakeUser, auth_client: AuthClient
) -> None:
    """A shape option left out could make another one fit or not: only shapeless checks run."""
    options = {"mem": "999999G", "time": "99:00:00", "partition": "debug"}
    body = {"script": "#!/bin/bash\n#SBATCH --ntasks=lots\necho\n", "options": options}
    problem = assert_problem(auth_client(make_user()).post("/api/v1/jobs", json=body), 422)
    assert [tuple(e["loc"]) for e in problem["errors"]] == [("script", 2), ("options", "time")]


def test_a_template_parameter_refused_with_the_options_problems(
    make_user: MakeUser, auth_client: AuthClient
) -> None:
    body = {"template": "hello", "params": {"message": "hi\u0001"}, "options": {"time": "99:00:00"}}
    problem = assert_problem(auth_client(make_user()).post("/api/v1/jobs", json=body), 422)
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert ("params", "message") in locs and ("options", "time") in locs


def test_the_form_shows_each_problem_beside_its_field_and_keeps_what_was_typed(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    page = post(logged_in(app, make_user()), mem="4 Go", time="99:00:00", output_patterns="/etc/*",
                store="caen")  # fmt: skip
    assert page.status_code == 422
    errors = shown(page.text)
    assert set(errors) == {"mem", "time", "output_patterns"}, errors
    assert 'value="4 Go"' in page.text and 'value="99:00:00"' in page.text and "/etc/*" in page.text
    assert fake_cluster.jobs == {}


def test_the_form_says_a_missing_endpoint_with_the_other_problems(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    page = post(logged_in(app, make_user()), mem="4 Go", output_patterns="out/*", store="")
    assert page.status_code == 422
    assert set(shown(page.text)) == {"mem", "store"}
    assert fake_cluster.jobs == {}


def test_the_french_form_says_every_problem_in_french(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    page = post(logged_in(app, make_user(), lang="fr"), mem="4 Go", time="99:00:00",
                output_patterns="/etc/*", store="caen")  # fmt: skip
    errors = shown(page.text)
    assert set(errors) == {"mem", "time", "output_patterns"}, errors
    assert "mémoire" in errors["mem"] and "dépasse" in errors["time"], errors
    assert "relatif" in errors["output_patterns"], errors
