"""Issue #15, a job page as a new researcher met it: an empty black box when the job had
written nothing, "Owner alice (alice)" although a display name was set, and "(placeholder)"
in the storage site's name (the dev cluster's profile; fixed there, see test_pages_datasets),
and a running job's timeline saying "waiting for the scheduler (None)"."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.services.jobs.outputs import output_path
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_array_tasks_web import submitted_array
from tests.web.test_pages_jobs import JOB_URL, submit_page, tick


def test_no_output_is_said_in_words_and_the_owner_by_name(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    client = logged_in(app, alice, lang="fr")
    english = logged_in(app, alice)  # both before the fake clock: cookies must not look expired
    app.state.clock = clock
    response = submit_page(client, job_name="quiet")
    job_id = JOB_URL.match(response.headers["location"]).group(1)  # type: ignore[union-attr]
    job = db.get(Job, uuid.UUID(job_id))
    assert job is not None
    fake_cluster.set_state("1000", "RUNNING")
    fake_cluster.write_file(output_path(job) or "", b"")
    tick(app, backends, clock)

    page = client.get(f"/jobs/{job_id}").text
    assert '<pre class="tail" tabindex="0" id="stdout"></pre>' not in page
    assert "Rien n&#39;a encore été écrit sur la sortie standard." in page
    assert "<dd>alice</dd>" in page  # the name is the login: said once
    # squeue's reason "None" of a running job is no reason: not "waiting for the scheduler (None)"
    assert "(None)" not in page and "en attente de l&#39;ordonnanceur" not in page

    fake_cluster.finish("1000")
    tick(app, backends, clock)
    user = db.get(User, alice.id)
    assert user is not None
    user.display_name = "Alice Martin"
    db.commit()
    page = client.get(f"/jobs/{job_id}").text
    assert "Le job n&#39;a rien écrit sur la sortie standard." in page
    assert "<dd>Alice Martin (alice)</dd>" in page
    assert "The job wrote nothing to standard output." in english.get(f"/jobs/{job_id}").text


def test_an_array_task_that_wrote_nothing_says_so(
    make_user: MakeUser, auth_client: Callable[[User], TestClient], fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock,
) -> None:  # fmt: skip
    """The same empty box was on an array task's output (issue #15: the same class of fault)."""
    user = make_user(login="arrq")
    job = submitted_array(auth_client(user), fake_cluster, app, backends, clock, "arrq")
    fake_cluster.write_file(f"/home/arrq/slurm-{job['slurm_job_id']}_4.out", b"")
    page = logged_in(app, user).get(f"/jobs/{job['id']}", params={"task": 4}).text
    assert "Output of task 4" in page and 'id="task-stdout"></pre>' not in page
    assert '<p class="hint" id="task-stdout">Nothing written to standard output yet.</p>' in page
