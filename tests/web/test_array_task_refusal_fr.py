"""A task number the array does not hold is refused in the caller's language: the API answered
French callers « Requête invalide » with the English detail 'this job has no array task 9 (its
tasks: 0-4)' (seen on a live gateway with Accept-Language: fr)."""

from __future__ import annotations

from fastapi import FastAPI

from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser, assert_problem
from tests.web.test_array_tasks_web import JOBS, AuthClient, submitted_array


def test_a_task_the_array_lacks_is_refused_in_french_and_in_english(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    user = make_user(login="arrfr")
    client = auth_client(user)
    job = submitted_array(client, fake_cluster, app, backends, clock, "arrfr")
    url = f"{JOBS}/{job['id']}/output"
    fake_cluster.reset_calls()

    french = client.get(url, params={"task": 25}, headers={"Accept-Language": "fr"})
    body = assert_problem(french, 422, "invalid_request")
    assert body["detail"] == "ce job n'a pas de tâche 25 dans son tableau (ses tâches : 0-19%4)"
    english = client.get(url, params={"task": 25}, headers={"Accept-Language": "en"})
    assert assert_problem(english, 422)["detail"] == "this job has no array task 25 (its tasks: 0-19%4)"
    assert fake_cluster.calls["tail"] == 0


def test_an_array_without_a_task_and_a_task_of_a_plain_job_are_refused_in_french(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    user = make_user(login="arrfr2")
    client = auth_client(user)
    job = submitted_array(client, fake_cluster, app, backends, clock, "arrfr2")
    french = {"Accept-Language": "fr"}

    no_task = assert_problem(client.get(f"{JOBS}/{job['id']}/output", headers=french), 422)
    assert no_task["detail"] == (
        "c'est un tableau de 20 tâches : choisissez-en une (--task N en ligne de commande, task=N dans l'API)"
    )
    english = assert_problem(client.get(f"{JOBS}/{job['id']}/output"), 422)
    assert (
        english["detail"]
        == "this is an array job of 20 tasks: choose one (--task N in the CLI, task=N in the API)"
    )
    plain = client.post(JOBS, json={"script": "#!/bin/bash\n#SBATCH --time=5\necho hi\n"}).json()
    refused = assert_problem(
        client.get(f"{JOBS}/{plain['id']}/output", params={"task": 1}, headers=french), 422
    )
    assert refused["detail"] == "ce job n'est pas un tableau : il n'a pas de tâches à choisir"
