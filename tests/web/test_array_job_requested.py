"""An array job's page says its request is per task: 'Requested 1 task(s) × 1 CPU(s) · time
limit 5 min' beside 'Held at submission 0.42 CPU-h' (five tasks of 5 min) read as a wrong hold
on the dev cluster. Now 'Requested 20 array tasks, each 1 task(s) × 1 CPU(s)', in EN and FR."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_array_tasks_web import AuthClient, submitted_array


def _requested(html: str) -> str:
    found = re.search(r"<dt>(?:Requested|Demandé)</dt><dd>(.*?)</dd>", html, re.S)
    assert found, html
    return " ".join(found.group(1).split())


def test_an_array_jobs_request_is_said_per_task(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    user = make_user(login="arrreq")
    job = submitted_array(auth_client(user), fake_cluster, app, backends, clock, "arrreq")

    english = _requested(logged_in(app, user).get(f"/jobs/{job['id']}").text)
    assert english.startswith("20 array tasks, each 1 task(s) × 1 CPU(s)"), english
    french = _requested(logged_in(app, user, lang="fr").get(f"/jobs/{job['id']}").text)
    assert french.startswith("20 tâches du tableau, chacune 1 tâche(s) × 1 CPU"), french
