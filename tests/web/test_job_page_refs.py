"""The job page takes the ids the CLI and the API take: a researcher who pastes the short id
`myriagate jobs list` shows, or the Slurm id squeue shows, after /jobs/ got 'Invalid request
(422) … job_id' (seen on a live gateway, in French). Now the page finds the job the same way
(services.jobs.lookup: only jobs the reader may see) and redirects to its full id; a task's
Slurm id (1234_5) opens that task's output. Another user's job stays not found."""

from __future__ import annotations

import html

from fastapi import FastAPI

from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_array_tasks_web import AuthClient, submitted_array


def test_short_and_slurm_ids_open_the_job_page_and_nobody_elses(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    owner = make_user(login="refown")
    job = submitted_array(auth_client(owner), fake_cluster, app, backends, clock, "refown")
    page = logged_in(app, owner)
    full, slurm = job["id"], job["slurm_job_id"]

    for ref, where in (
        (full[:8], f"/jobs/{full}"),
        (full.replace("-", ""), f"/jobs/{full}"),
        (slurm, f"/jobs/{full}"),
        (f"{slurm}_12", f"/jobs/{full}?task=12"),
    ):
        answer = page.get(f"/jobs/{ref}", follow_redirects=False)
        assert (answer.status_code, answer.headers.get("location")) == (303, where), ref
    assert page.get(f"/jobs/{full}", follow_redirects=False).status_code == 200
    assert page.get(f"/jobs/{slurm}_12", follow_redirects=True).text.count("hello from task 12") == 1

    stranger = logged_in(app, make_user(login="refother"), lang="fr")
    for ref in (full, full[:8], slurm):
        assert stranger.get(f"/jobs/{ref}", follow_redirects=False).status_code == 404, ref
    refused = stranger.get("/jobs/not-a-job$(id)", follow_redirects=False)
    assert refused.status_code == 422 and "n'est pas un identifiant de job" in html.unescape(refused.text)
