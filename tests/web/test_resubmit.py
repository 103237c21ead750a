""" "Submit again" (researcher trial: a job that timed out said "submit it again with a longer
time limit" but offered no way to): ``GET /api/v1/jobs/{id}/resubmission`` gives the copy,
the job page links to the submit form filled in with it (owner only), a job that timed out
gets twice its time limit capped by the partition's maximum, and nothing is submitted by a GET."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.domain.states import JobState
from tests.fakes.fake_slurm import FakeCluster
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import csrf_of, logged_in
from tests.web.test_api_jobs import submit

AuthClient = Callable[[User], TestClient]
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=sim\n#SBATCH --time=00:10:00\n#SBATCH -c 2\necho hello\n"


def ended(db: Session, job_id: str, state: JobState = JobState.TIMEOUT) -> None:
    job = db.get(Job, uuid.UUID(job_id))
    assert job is not None
    job.state = state
    db.commit()


def a_job(client: TestClient, **options: Any) -> dict[str, Any]:
    return submit(client, script=SCRIPT, options={"partition": "debug", "exclusive": True, **options})


def test_the_copy_is_the_script_as_written_and_the_options_sent(
    make_user: MakeUser, auth_client: AuthClient, db: Session, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    job = a_job(client, mem="1G", mail_type="END,FAIL")
    ended(db, job["id"], JobState.COMPLETED)
    jobs_before = len(fake_cluster.jobs)
    copy = client.get(f"/api/v1/jobs/{job['id']}/resubmission").json()
    assert len(fake_cluster.jobs) == jobs_before  # a GET submits nothing
    assert copy["script"] == SCRIPT  # the #SBATCH lines as written, not #MYRIAGATE-HANDLED
    assert copy["options"] == {"job_name": "sim", "partition": "debug", "account": "caen-climat",
                               "time": "00:10:00", "cpus_per_task": "2", "exclusive": True, "mem": "1024M",
                               "mail_type": "END,FAIL"}  # fmt: skip
    assert copy["suggested_time"] is None and copy["notices"] == []
    body = {k: copy[k] for k in ("cluster", "script", "options")}
    again = client.post("/api/v1/jobs", json=body)
    assert again.status_code == 202, again.text
    first, second = (fake_cluster.job(i) for i in list(fake_cluster.jobs)[-2:])
    assert first.sbatch_args == second.sbatch_args and first.script == second.script


def test_a_job_that_timed_out_is_copied_with_twice_its_time_in_english_and_french(
    make_user: MakeUser, auth_client: AuthClient, db: Session
) -> None:
    client = auth_client(make_user())
    job = a_job(client)
    ended(db, job["id"])
    copy = client.get(f"/api/v1/jobs/{job['id']}/resubmission").json()
    assert copy["options"]["time"] == copy["suggested_time"] == "00:20:00"
    said = "the job ran out of time at 00:10:00: the copy asks for twice as long, 00:20:00"
    assert copy["notices"] == [said]
    fr = client.get(f"/api/v1/jobs/{job['id']}/resubmission", headers={"Accept-Language": "fr"}).json()
    dit = "le job a atteint sa durée maximale de 00:10:00 : la copie demande le double, 00:20:00"
    assert fr["notices"] == [dit]


def test_the_longer_time_is_capped_by_the_partition_and_said_when_it_cannot_grow(
    make_user: MakeUser, auth_client: AuthClient, db: Session
) -> None:
    client = auth_client(make_user())
    capped = a_job(client, time="00:20:00")  # debug allows 00:30:00
    ended(db, capped["id"])
    copy = client.get(f"/api/v1/jobs/{capped['id']}/resubmission").json()
    assert copy["options"]["time"] == "00:30:00" and "the most partition debug allows" in copy["notices"][0]
    at_max = a_job(client, time="00:30:00")
    ended(db, at_max["id"])
    copy = client.get(f"/api/v1/jobs/{at_max['id']}/resubmission").json()
    assert copy["options"]["time"] == "00:30:00" and copy["suggested_time"] is None
    assert "choose a partition that allows longer (court, long" in copy["notices"][0]


def test_another_users_job_is_the_same_404_as_a_missing_one(
    make_user: MakeUser, auth_client: AuthClient, app: FastAPI
) -> None:
    owner, other, lead = make_user(), make_user(), make_user("project_lead")
    job = a_job(auth_client(owner))
    theirs = assert_problem(auth_client(other).get(f"/api/v1/jobs/{job['id']}/resubmission"), 404)
    missing = assert_problem(auth_client(other).get(f"/api/v1/jobs/{uuid.uuid4()}/resubmission"), 404)
    assert theirs["code"] == missing["code"] == "not_found"
    # The project lead sees the job but does not own it: no copy either.
    assert_problem(auth_client(lead).get(f"/api/v1/jobs/{job['id']}/resubmission"), 404)
    page = logged_in(app, other).get(f"/submit?copy={job['id']}")
    assert page.status_code == 404 and "echo hello" not in page.text


def test_hostile_values_in_a_copy_are_refused_or_quoted_as_in_a_first_submission(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster
) -> None:
    client = auth_client(make_user())
    job = a_job(client)
    copy = client.get(f"/api/v1/jobs/{job['id']}/resubmission").json()
    for hostile in HOSTILE_STRINGS:
        for option in ("job_name", "mem", "partition"):
            options = {**copy["options"], option: hostile}
            body = {"script": copy["script"], "options": options, "dry_run": True}
            response = client.post("/api/v1/jobs", json=body)
            if response.status_code == 200:  # taken as one argv element, never split by a shell
                assert any(a == f"--job-name={hostile}" for a in response.json()["sbatch_args"]), hostile
            else:
                assert response.status_code == 422, (option, hostile, response.text)
    assert len(fake_cluster.jobs) == 1


def test_the_job_page_links_the_owner_to_the_filled_in_form_in_french(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, db: Session, fake_cluster: FakeCluster
) -> None:
    alice = make_user()
    job = a_job(auth_client(alice), mem="1G")
    ended(db, job["id"])
    browser = logged_in(app, alice, lang="fr")
    page = browser.get(f"/jobs/{job['id']}").text
    assert f'<a href="/submit?copy={job["id"]}" id="submit-again"' in page and "Soumettre à nouveau" in page
    form = browser.get(f"/submit?copy={job['id']}")
    assert form.status_code == 200 and len(fake_cluster.jobs) == 1  # nothing sent by the GET
    text = html.unescape(form.text)
    assert "Une copie de votre job" in text and "la copie demande le double, 00:20:00" in text
    assert 'value="script" checked' in form.text and SCRIPT in text
    assert re.search(r'id="time" name="time" type="text" value="00:20:00"', form.text)
    assert re.search(r'id="mem" name="mem" type="text" value="1024M"', form.text)
    assert re.search(r'id="exclusive" name="exclusive" value="on" checked', form.text)
    fields = dict(re.findall(r'name="(csrf_token|copy_of)" value="([^"]*)"', form.text))
    posted = {"csrf_token": csrf_of(form.text), "mode": "script", "script": SCRIPT, "cluster": "devcluster",
              "partition": "debug", "account": "caen-climat", "time": "00:20:00", "exclusive": "on",
              "action": "submit", "copy_of": fields["copy_of"]}  # fmt: skip
    sent = browser.post("/submit", data=posted)
    assert sent.status_code == 303, sent.text
    assert "--time=00:20:00" in fake_cluster.job(list(fake_cluster.jobs)[-1]).sbatch_args


def test_no_link_for_someone_else_nor_for_an_english_owner_of_a_completed_job_a_longer_time(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, db: Session
) -> None:
    alice, lead = make_user(), make_user("project_lead")
    job = a_job(auth_client(alice))
    ended(db, job["id"], JobState.COMPLETED)
    own = logged_in(app, alice).get(f"/jobs/{job['id']}").text
    assert "Submit again" in own and "with a longer time limit" not in own
    assert 'id="submit-again"' not in logged_in(app, lead).get(f"/jobs/{job['id']}").text


def test_the_form_takes_a_copy_by_short_id_or_slurm_id_as_the_job_page_does(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, db: Session, fake_cluster: FakeCluster
) -> None:
    """`/submit?copy=<short id>` was a 422 'must be a UUID' while `/jobs/<short id>` worked
    (found in a trial typing the id `jobs list` shows); another user's short id is still a 404."""
    alice, bob = make_user(), make_user()
    job = a_job(auth_client(alice))
    ended(db, job["id"])
    browser = logged_in(app, alice)
    for reference in (job["short_id"], job["slurm_job_id"], job["id"]):
        form = browser.get(f"/submit?copy={reference}")
        assert form.status_code == 200, (reference, form.text[:300])
        assert "A copy of your job" in html.unescape(form.text) and "echo hello" in form.text
    assert len(fake_cluster.jobs) == 1  # nothing sent by the GETs
    theirs = logged_in(app, bob).get(f"/submit?copy={job['short_id']}")
    assert theirs.status_code == 404 and "echo hello" not in theirs.text
    assert browser.get("/submit?copy=not-a-job!").status_code == 422
