"""Issue #15, the submit form without JavaScript: the template and the cluster are chosen in
the form itself, so the choice is honoured on "Show its parameters", on "Check and
estimate" and on Submit (never replaced by the template the fields were drawn for, the
dropdown never flips back); every shipped template submits from the page as drawn; the
estimate is there when the page opens; values survive a refusal."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.services.jobs.templates import TemplateCatalog
from myriagate.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser
from tests.web.form_reader import posted_fields, selected
from tests.web.pages_helpers import logged_in
from tests.web.test_pages_jobs import grant_hours

JOB_URL = re.compile(r"^/jobs/([0-9a-f-]{36})$")
HELLO_FIELDS = {"param_message": "Hello from myriagate", "param_repeat": "1"}


def page_form(client: TestClient, path: str = "/submit") -> dict[str, str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return posted_fields(response.text)


def post(client: TestClient, fields: dict[str, str], **changes: Any) -> Any:
    data = dict(fields)
    data.update({k: str(v) for k, v in changes.items()})
    return client.post("/submit", data=data)


def last_job(fake_cluster: FakeCluster) -> Any:
    return fake_cluster.job(list(fake_cluster.jobs)[-1])


def test_the_template_dropdown_is_part_of_the_form_it_submits(app: FastAPI, make_user: MakeUser) -> None:
    page = logged_in(app, make_user()).get("/submit").text
    assert 'method="get"' not in page.split("<main", 1)[-1]  # no separate chooser form any more
    fields = posted_fields(page)
    assert fields["template"] == "hello" and fields["shown_template"] == "hello"
    assert fields["cluster"] == fields["shown_cluster"] == "devcluster"
    assert {k: fields[k] for k in HELLO_FIELDS} == HELLO_FIELDS


def test_picking_python_then_submit_never_sends_hello(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    # The researcher picks "Python" and presses Submit at once: the fields are Hello world's.
    shown = post(client, fields, template="python", param_message="changed", action="submit")
    assert shown.status_code == 200, shown.text
    assert fake_cluster.jobs == {}  # nothing sent: neither Hello world nor an unseen Python
    assert 'id="switched"' in shown.text and "Python" in html.unescape(shown.text)
    redrawn = posted_fields(shown.text)
    assert redrawn["template"] == redrawn["shown_template"] == "python"  # the dropdown stays
    assert "param_message" not in redrawn and "param_repeat" not in redrawn
    assert redrawn["param_code"].startswith("import platform")  # Python's defaults shown
    assert redrawn["param_python"] == "python3"
    done = post(client, redrawn, param_code="print('from the form')")
    assert done.status_code == 303 and JOB_URL.match(done.headers["location"]), done.text
    script = last_job(fake_cluster).script
    assert "exec python3 -c 'print('\"'\"'from the form'\"'\"')'" in script
    assert "Hello from myriagate" not in script


def test_check_and_estimate_honours_the_new_template_and_keeps_the_dropdown(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    checked = post(client, fields, template="python", action="estimate")
    assert checked.status_code == 200, checked.text
    assert selected(checked.text, "template") == "python"
    assert 'name="param_code"' in checked.text and 'name="param_message"' not in checked.text
    assert "Allocations are not enforced here" in checked.text  # the dry run of Python went through
    assert 'id="switched"' not in checked.text and fake_cluster.jobs == {}


def test_show_its_parameters_draws_the_array_template_with_its_array_range(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    shown = post(client, page_form(client), template="array", action="refresh")
    assert shown.status_code == 200 and fake_cluster.jobs == {}
    fields = posted_fields(shown.text)
    assert fields["array"] == "0-9" and fields["param_command"] == 'echo "processing item $1"'
    assert re.search(r'<details class="options" id="options-files" open', shown.text)  # --array in sight
    assert "--array=0-9" in html.unescape(shown.text)  # said under the template's fields too
    # Back to Hello world: the array range the template filled in goes with it...
    back = posted_fields(post(client, fields, template="hello", action="refresh").text)
    assert back["array"] == "" and back["param_message"] == "Hello from myriagate"
    # ...but a range the researcher typed stays theirs, as does any field both templates have.
    typed = posted_fields(post(client, fields, template="mpi", array="0-3", param_command="hostname",
                               action="refresh").text)  # fmt: skip
    assert typed["array"] == "0-3" and typed["param_command"] == "hostname" and typed["ntasks"] == "2"


@pytest.mark.parametrize("name", TemplateCatalog(Settings(dev_mode=True)).names())
def test_every_template_submits_from_the_form_as_drawn(
    name: str, app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    # Chosen in the dropdown (no JavaScript: "Show its parameters"), then sent as drawn.
    fields = posted_fields(post(client, page_form(client), template=name, action="refresh").text)
    done = post(client, fields, action="submit")
    assert done.status_code == 303, html.unescape(done.text)
    sent = last_job(fake_cluster)
    if name == "array":
        assert "--array=0-9" in sent.sbatch_args
    else:
        assert not any(a.startswith("--array") for a in sent.sbatch_args), sent.sbatch_args


def test_the_array_range_typed_in_the_form_reaches_the_job(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster, auth_client: Any
) -> None:
    user = make_user()
    client = logged_in(app, user)
    fields = page_form(client, "/submit?template=array")
    done = post(client, fields, array="0-3%2", param_command="echo task $1")
    assert done.status_code == 303, done.text
    job_id = JOB_URL.match(done.headers["location"])
    assert job_id is not None
    assert "--array=0-3%2" in last_job(fake_cluster).sbatch_args
    api = auth_client(user).get(f"/api/v1/jobs/{job_id.group(1)}").json()
    assert api["array_task_count"] == 4  # the job's spec holds the range typed


def test_the_estimate_endpoint_follows_the_dropdown_before_the_fields_are_redrawn(
    app: FastAPI, make_user: MakeUser
) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    fragment = client.post("/submit/estimate", data={**fields, "template": "python"})
    assert fragment.status_code == 200
    text = html.unescape(fragment.text)
    assert "Not yet valid" not in text and "unknown parameter" not in text, text


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_the_estimate_is_there_when_the_page_opens(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    user = make_user()
    grant_hours(db, clock, "caen-climat", 100)
    db.commit()
    client, french_client = logged_in(app, user), logged_in(app, user, lang="fr")
    app.state.clock = clock  # inside the period (after logging in: cookies stay fresh)
    page = client.get("/submit")
    assert "This job will hold" in page.text and "of the 100 remaining in caen-climat" in page.text
    assert "Fill in the form to see" not in page.text
    french = html.unescape(french_client.get("/submit?template=array").text)
    assert "sur les 100 restantes de caen-climat" in french, french


def test_choosing_another_cluster_redraws_its_choices(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    fields.update(partition="parallel", time="5")
    redrawn = post(client, fields, cluster="myria", action="refresh")
    assert redrawn.status_code == 200
    drawn = posted_fields(redrawn.text)
    assert drawn["cluster"] == drawn["shown_cluster"] == "myria"  # the dropdown stays on Myria
    assert drawn["partition"] == ""  # parallel is not a Myria partition: the default again
    assert '<option value="2tcourt">' in redrawn.text and drawn["time"] == "5"


def test_a_refused_value_stays_in_its_select(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    refused = post(client, page_form(client), hint="fastest", open_mode="truncate", action="estimate")
    assert refused.status_code == 422
    fields = posted_fields(refused.text)
    assert fields["hint"] == "fastest" and fields["open_mode"] == "truncate"
    assert 'id="hint-error"' in refused.text
    python = page_form(client, "/submit?template=python")
    wrong = post(client, python, param_python="python2", action="estimate")
    assert wrong.status_code == 422 and 'id="param_python-error"' in wrong.text
    assert selected(wrong.text, "param_python") == "python2"  # not python3, the first choice


def test_the_french_form_says_its_choices_in_french(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user(), lang="fr")
    page = client.get("/submit?template=array").text
    text = html.unescape(page)
    assert "Choisir un modèle" in text and "Ce modèle remplit :" in text and "ex. 0-99%10" in text
    switched = post(client, posted_fields(page), template="python", action="submit")
    assert "Vous avez choisi le modèle « Python »" in html.unescape(switched.text)


def test_mail_events_are_ticked_one_by_one_and_reach_sbatch_as_one_list(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    assert '<input type="checkbox" name="mail_type" value="TIME_LIMIT_80">' in client.get("/submit").text
    data: dict[str, Any] = {**fields, "mail_type": ["END", "FAIL"], "ntasks": "zero"}  # repeated fields
    refused = client.post("/submit", data=data)
    assert refused.status_code == 422  # for --ntasks: the events stay ticked, their section open
    assert 'value="END" checked>' in refused.text and 'value="FAIL" checked>' in refused.text
    assert re.search(r'<details class="options" id="options-notify" open', refused.text)
    done = client.post("/submit", data={**data, "ntasks": ""})
    assert done.status_code == 303, done.text
    assert "--mail-type=END,FAIL" in last_job(fake_cluster).sbatch_args


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_hostile_choices_are_refused_or_ignored_never_sent(
    hostile: str, app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    fields = page_form(client)
    for changes in ({"template": hostile}, {"shown_template": hostile}, {"cluster": hostile},
                    {"shown_cluster": hostile}):  # fmt: skip
        for action in ("refresh", "estimate", "submit"):
            response = post(client, fields, action=action, **changes)
            assert response.status_code in (200, 303, 422), (changes, action, response.status_code)
            if response.status_code == 303:  # only what the page drew and named could go
                assert "template" not in changes and "cluster" not in changes, changes
    assert all(hostile not in " ".join(job.sbatch_args) for job in fake_cluster.jobs.values())
