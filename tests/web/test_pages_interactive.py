"""The /interactive page (issue #18): launch a session from the form (CSRF-checked), see it
queued with its reason, Connect once it runs (a new tab, no Referer), Stop; a refused start
shows the form again with the problem next to its field; the form's estimate and the project's
balance, its GPUs, environment, module and idle timeout; a failed start said with a link to the
job's output; the header's link to the page; all of it in French too."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.app_tls import connection_file
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import PASSWORD, MakeUser
from tests.web.test_pages_jobs import grant_hours


def _signed_in(app: FastAPI, username: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    login = client.post("/api/v1/sessions", auth=(username, PASSWORD))
    assert login.status_code in (200, 201), login.text
    return client, login.json()["csrf_token"]


def _tick(backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def test_launch_connect_and_stop_from_the_page(
    make_user: MakeUser, app: FastAPI, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> None:  # fmt: skip
    make_user(username="alice@unicaen.fr", login="alice")
    client, csrf = _signed_in(app, "alice@unicaen.fr")
    empty = client.get("/interactive")
    assert empty.status_code == 200 and "You have no interactive session yet." in empty.text
    form = {"csrf_token": csrf, "action": "start", "app": "jupyter", "partition": "debug", "time": "0:30:00",
            "cpus_per_task": "2", "mem": ""}  # fmt: skip
    assert client.post("/interactive", data={**form, "csrf_token": "forged"}).status_code == 403
    assert fake_cluster.jobs == {}
    launched = client.post("/interactive", data=form)
    assert launched.status_code == 303 and launched.headers["location"] == "/interactive"
    (slurm_id,) = fake_cluster.jobs
    assert "--cpus-per-task=2" in fake_cluster.jobs[slurm_id].sbatch_args
    fake_cluster.set_state(slurm_id, "PENDING", reason="Resources")
    _tick(backends, app, clock)
    assert "queued: waiting for resources (Resources)" in client.get("/interactive").text

    fake_cluster.set_state(slurm_id, "RUNNING")
    _tick(backends, app, clock)
    session_id = re.search(r'name="session" value="([0-9a-f-]{36})"', client.get("/interactive").text)
    assert session_id is not None
    path = f"/home/alice/.myriagate/interactive/{session_id[1]}/connection.json"
    fake_cluster.files[path] = connection_file("10.0.0.2", 40001, "t" * 40)
    page = client.get("/interactive").text
    assert f'href="/interactive/{session_id[1]}/" target="_blank" rel="noopener noreferrer"' in page
    assert "t" * 40 not in page

    stopped = client.post(
        "/interactive", data={"csrf_token": csrf, "action": "stop", "session": session_id[1]}
    )
    assert stopped.status_code == 303
    assert fake_cluster.jobs[slurm_id].state == "CANCELLED"


def test_a_refused_start_shows_the_form_again_in_french(
    make_user: MakeUser, app: FastAPI, fake_cluster: FakeCluster
) -> None:
    make_user(username="alice@unicaen.fr", login="alice")
    client, csrf = _signed_in(app, "alice@unicaen.fr")
    client.cookies.set("myriagate_lang", "fr")
    form = {"csrf_token": csrf, "action": "start", "app": "jupyter", "partition": "debug", "time": "forever",
            "cpus_per_task": "1", "mem": ""}  # fmt: skip
    refused = client.post("/interactive", data=form)
    assert refused.status_code == 422
    assert "Sessions interactives" in refused.text and 'value="forever"' in refused.text
    assert 'id="time-error"' in refused.text
    assert fake_cluster.jobs == {}


def _form(csrf: str, **fields: str) -> dict[str, str]:
    base = {"csrf_token": csrf, "action": "start", "app": "jupyter", "partition": "debug", "time": "0:30:00",
            "cpus_per_task": "2", "mem": "", "gpus": "0", "account": "", "idle_minutes": "30",
            "param_environment": "/opt/myriagate-jupyter", "param_module": ""}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_the_form_shows_what_the_session_will_hold_of_the_projects_hours(
    make_user: MakeUser, app: FastAPI, fake_cluster: FakeCluster, db: Session
) -> None:
    make_user(username="alice@unicaen.fr", login="alice")
    grant_hours(db, FakeClock(datetime.now(UTC)), "caen-climat", 1234)  # a period around today
    client, csrf = _signed_in(app, "alice@unicaen.fr")
    answer = client.get("/interactive")
    assert answer.status_code == 200, answer.text
    page = answer.text
    # The form's defaults (1 hour, 1 core on the default partition) estimated at once.
    assert 'data-estimate-url="/interactive/estimate"' in page
    assert "This job will hold 1 CPU-h of the 1,234 remaining in caen-climat." in page
    four_cores_two_hours = _form(csrf, partition="court", time="2:00:00", cpus_per_task="4")
    estimate = client.post("/interactive/estimate", data=four_cores_two_hours)
    assert estimate.status_code == 200
    assert "This job will hold 8 CPU-h of the 1,234 remaining in caen-climat." in estimate.text
    client.cookies.set("myriagate_lang", "fr")
    french = client.post("/interactive/estimate", data=four_cores_two_hours).text
    assert "8 h CPU" in french.replace("\u202f", " ") and "1 234" in french.replace("\u202f", " ")
    wrong = client.post("/interactive/estimate", data=_form(csrf, time="forever")).text
    assert "Pas encore valide" in wrong
    assert fake_cluster.jobs == {}  # estimating submits nothing


def test_gpus_environment_module_and_idle_timeout_reach_the_job(
    make_user: MakeUser, app: FastAPI, fake_cluster: FakeCluster
) -> None:
    make_user(username="alice@unicaen.fr", login="alice")
    client, csrf = _signed_in(app, "alice@unicaen.fr")
    page = client.get("/interactive").text
    # The profile's idle timeout is the field's default, its maximum said in the hint.
    assert re.search(r'id="idle_minutes" name="idle_minutes" type="number" value="30"', page)
    assert "at most 240 on this cluster" in page
    assert 'value="/opt/myriagate-jupyter"' in page  # the app's environment, from its parameters
    fake_cluster.partitions["gpu"] = 86400  # the profile's GPU partition (two P100 on node vm)
    form = _form(csrf, partition="gpu", gpus="1", idle_minutes="45", param_module="python/3.11",
                 param_environment="/opt/envs/lab")  # fmt: skip
    assert client.post("/interactive", data=form).status_code == 303
    (job,) = fake_cluster.jobs.values()
    assert "--gpus=1" in job.sbatch_args and "--partition=gpu" in job.sbatch_args
    assert "module load python/3.11" in job.script and "env_dir=/opt/envs/lab" in job.script
    assert "--ServerApp.shutdown_no_activity_timeout=2700" in job.script
    listed = client.get("/interactive").text
    assert "45 min" in listed

    too_long = client.post("/interactive", data=_form(csrf, idle_minutes="500"))
    assert too_long.status_code == 422 and 'id="idle_minutes-error"' in too_long.text
    hostile = client.post("/interactive", data=_form(csrf, param_module="x; touch /tmp/myriagate-pwned"))
    assert hostile.status_code in (303, 422)
    for submitted in fake_cluster.jobs.values():  # a module name reaches the script as one word
        assert "module load x; touch" not in submitted.script
    assert len(fake_cluster.jobs) <= 2


def test_a_failed_start_is_said_with_a_link_to_the_jobs_output_in_french_too(
    make_user: MakeUser, app: FastAPI, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock,
) -> None:  # fmt: skip
    make_user(username="alice@unicaen.fr", login="alice")
    client, csrf = _signed_in(app, "alice@unicaen.fr")
    assert client.post("/interactive", data=_form(csrf)).status_code == 303
    (slurm_id,) = fake_cluster.jobs
    queued = client.get("/interactive").text
    assert 'id="sessions" data-refresh="3"' in queued  # followed without reloading
    fake_cluster.set_state(slurm_id, "RUNNING")
    _tick(backends, app, clock)
    fake_cluster.finish(slurm_id, "FAILED", exit_code=2)
    _tick(backends, app, clock)
    page = client.get("/interactive").text
    job_id = re.search(r'href="/jobs/([0-9a-f-]{36})#stdout"', page)
    assert job_id is not None, page
    assert "the job ended before the app announced itself (exit code 2): its output says why" in page
    assert "See its output" in page and "data-refresh" not in page.split('id="sessions"')[1][:40]
    client.cookies.set("myriagate_lang", "fr")
    french = client.get("/interactive").text
    assert "le job s&#39;est terminé avant que l&#39;application ne se signale (code de sortie 2)" in french
    assert "Voir sa sortie" in french


@pytest.mark.parametrize(("lang", "label"), [("en", "Interactive"), ("fr", "Interactif")])
def test_every_pages_header_links_to_the_interactive_sessions(
    make_user: MakeUser, app: FastAPI, lang: str, label: str
) -> None:
    make_user(username="alice@unicaen.fr", login="alice")
    client, _ = _signed_in(app, "alice@unicaen.fr")
    client.cookies.set("myriagate_lang", lang)
    for path in ("/", "/jobs", "/submit", "/interactive"):
        header = client.get(path).text.split("</header>")[0]
        assert f'<a href="/interactive">{label}</a>' in header, path
