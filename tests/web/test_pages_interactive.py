"""The /interactive page (issue #18): launch a session from the form (CSRF-checked), see it
queued with its reason, Connect once it runs (a new tab, no Referer), Stop; a refused start
shows the form again with the problem next to its field; all of it in French too."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import PASSWORD, MakeUser


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
    fake_cluster.files[path] = json.dumps({"host": "10.0.0.2", "port": 40001, "token": "t" * 40}).encode()
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
    assert refused.status_code == 200
    assert "Sessions interactives" in refused.text and 'value="forever"' in refused.text
    assert 'id="time-error"' in refused.text
    assert fake_cluster.jobs == {}
