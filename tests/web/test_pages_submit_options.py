"""The submit form's sbatch options come from the option table: every form option is a field
labelled with sbatch's name and helped in the page's language, the common ones shown and the
rest in one collapsible section per group; a posted form reaches Slurm with them; the
cluster can be chosen; a submission's notices are shown after it."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.domain.sbatch_options import table
from myriagate.domain.sbatch_options.groups import GROUPS
from myriagate.web.pages.submit_fields import COMMON
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in, page_csrf

JOB_URL = re.compile(r"^/jobs/([0-9a-f-]{36})$")
FORM_OPTIONS = [o for o in table.ACCEPTED if "form" in o.surfaces]


def form(csrf: str, **fields: Any) -> dict[str, str]:
    data = {"csrf_token": csrf, "mode": "template", "template": "hello", "action": "submit",
            "partition": "debug", "time": "5", "account": "caen-climat"}  # fmt: skip
    data.update({k: str(v) for k, v in fields.items()})
    return data


def post(client: TestClient, **fields: Any) -> Any:
    return client.post("/submit", data=form(page_csrf(client, "/submit"), **fields))


def more_options(page: str) -> str:
    """The part of the page under "More options"."""
    return page[page.index('class="more"') : page.index('id="data"')]


def test_every_form_option_of_the_table_is_a_field_with_its_name_and_english_help(
    app: FastAPI, make_user: MakeUser
) -> None:
    page = html.unescape(logged_in(app, make_user()).get("/submit").text)
    assert len(FORM_OPTIONS) > 40
    for option in FORM_OPTIONS:
        name = option.python_name
        assert f'name="{name}"' in page, option.name
        labelled = f'<label for="{name}"' in page or f'<fieldset class="choices" id="{name}"' in page
        assert labelled and f"<code>--{option.name}</code>" in page, option.name
        assert option.help.en in page, option.name
    flags = [o for o in FORM_OPTIONS if o.kind is not None and o.kind.api_type == "flag"]
    for option in flags:
        assert re.search(rf'<input type="checkbox" id="{option.python_name}"', page), option.name
    assert not any(o.name == "input" for o in FORM_OPTIONS) and 'name="input"' not in page


def test_common_options_are_shown_and_the_others_are_in_one_section_per_group(
    app: FastAPI, make_user: MakeUser
) -> None:
    page = logged_in(app, make_user()).get("/submit").text
    folded = more_options(page)
    for option in FORM_OPTIONS:
        inside = f'name="{option.python_name}"' in folded
        assert inside == (option.name not in COMMON), option.name
    sections = re.findall(r'<details class="options" id="options-(\w+)"', folded)
    assert sections == [g for g in GROUPS if any(o.group == g and o.name not in COMMON for o in FORM_OPTIONS)]
    assert '<details class="options" id="options-gpus" open' not in folded  # nothing filled in: closed


def test_the_french_page_helps_in_french(app: FastAPI, make_user: MakeUser) -> None:
    page = html.unescape(logged_in(app, make_user(), lang="fr").get("/submit").text)
    for option in FORM_OPTIONS:
        assert option.help.fr in page, option.name
    assert "Plus d'options" in page and "Où et combien de temps" in page


def test_a_posted_form_with_new_options_creates_a_job_with_them(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    response = post(client, ntasks_per_node=28, exclusive="on", constraint="broadwell", mail_type="END",
                    array="0-3", mem_per_cpu="1G", output="out/%x_%A_%a.log", chdir="runs",
                    requeue="on", no_requeue="", job_name="new-options")  # fmt: skip
    assert response.status_code == 303, response.text
    assert JOB_URL.match(response.headers["location"])  # no notices: straight to the job
    args = fake_cluster.job(list(fake_cluster.jobs)[-1]).sbatch_args
    for expected in ("--ntasks-per-node=28", "--exclusive", "--constraint=broadwell", "--mail-type=END",
                     "--array=0-3", "--mem-per-cpu=1024M", "--output=out/%x_%A_%a.log", "--chdir=runs",
                     "--requeue", "--job-name=new-options"):  # fmt: skip
        assert expected in args, (expected, args)
    assert "--no-requeue" not in args and "--oversubscribe" not in args  # unticked flags


def test_a_refused_option_opens_its_section_and_keeps_the_values(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    response = post(logged_in(app, make_user()), gpus_per_node="lots", exclusive="on")
    assert response.status_code == 422
    folded = more_options(response.text)
    assert re.search(r'<details class="options" id="options-gpus" open', folded)
    assert 'id="gpus_per_node-error"' in folded and 'value="lots"' in folded
    assert re.search(r'id="exclusive" name="exclusive" value="on" checked', response.text)
    assert fake_cluster.jobs == {}


def test_the_template_chosen_is_the_one_submitted(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    page = client.get("/submit?template=array").text
    assert '<option value="array" selected>' in page  # the form's own dropdown (issue #15)
    response = client.post("/submit", data=form(page_csrf(client, "/submit?template=array"), template="array",
                                                param_command="echo task", array="0-1"))  # fmt: skip
    assert response.status_code == 303, response.text
    sent = fake_cluster.job(list(fake_cluster.jobs)[-1])
    assert "echo task" in sent.script and "--array=0-1" in sent.sbatch_args


def test_the_cluster_can_be_chosen_and_reaches_the_request(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    default = client.get("/submit").text
    assert '<select id="choose-cluster" name="cluster"' in default  # the gateway has several
    assert '<option value="devcluster" selected>' in default
    myria = client.get("/submit?cluster=myria").text
    assert '<option value="2tcourt">2tcourt</option>' in myria  # Myria's partitions
    assert '<option value="myria" selected>' in myria
    response = post(client, cluster="myria", action="estimate", partition="court")
    assert response.status_code == 422
    assert "you have no Slurm account on cluster myria" in response.text
    unknown = client.get("/submit?cluster=nowhere").text
    assert '<option value="devcluster" selected>' in unknown


WINDOWS = "#!/bin/bash\n#SBATCH --err=e.log\n#SBATCH --share\necho hi\n"


def test_notices_are_shown_once_after_submitting_then_the_job_page(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster
) -> None:
    client = logged_in(app, make_user())
    response = post(client, mode="script", script=WINDOWS)
    assert response.status_code == 303, response.text
    shown_at = response.headers["location"]
    job_id = shown_at.rsplit("/", 1)[-1]
    assert shown_at == f"/submit/submitted/{job_id}"
    page = client.get(shown_at)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "line 2: --err read as --error, as sbatch does" in text
    assert "line 3: --share is the old name of --oversubscribe; sent as --oversubscribe" in text
    assert f'href="/jobs/{job_id}"' in page.text
    again = client.get(shown_at)  # read once: a reload goes to the job's page
    assert again.status_code == 303 and again.headers["location"] == f"/jobs/{job_id}"
    assert "--oversubscribe" in fake_cluster.job(list(fake_cluster.jobs)[-1]).sbatch_args


def test_notices_of_another_job_are_not_shown(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    first = post(client, mode="script", script=WINDOWS).headers["location"]
    other = "/submit/submitted/00000000-0000-0000-0000-000000000000"
    assert client.get(other).headers["location"] == "/jobs/00000000-0000-0000-0000-000000000000"
    assert "--err read as --error" in html.unescape(client.get(first).text)


def test_the_estimate_box_shows_the_notices_before_submitting(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    fragment = client.post("/submit/estimate", data=form(page_csrf(client, "/submit"), mode="script",
                                                         script=WINDOWS))  # fmt: skip
    assert fragment.status_code == 200
    assert "--err read as --error" in html.unescape(fragment.text) and 'id="notices"' in fragment.text
