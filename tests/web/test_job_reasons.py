"""Why a job waits or how it ended: the same words in ``GET /api/v1/jobs/{id}`` (both
languages), on the job page (EN/FR, the reason partial) and in the jobs list's "Why" column."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.services.jobs import tracking
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\n#SBATCH --mem=100M\npython3 hog.py\n"
MiB = 2**20
AuthClient = Callable[[User], TestClient]


def tick(app: FastAPI, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def submitted(client: TestClient) -> dict[str, Any]:
    response = client.post(JOBS, json={"script": SCRIPT, "options": {"job_name": "hog"}})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def record_end(db: Session, job_id: str, **columns: Any) -> None:
    """What tracking copied from sacct's steps (tests/unit/test_tracking_endings.py checks the
    copy; the fake Slurm has no steps)."""
    db.execute(sa.update(Job).where(Job.id == uuid.UUID(job_id)).values(**columns))
    db.commit()


def text_of(page: Any) -> str:
    return html.unescape(page.text).replace("\u202f", " ").replace("\xa0", " ")


def test_a_job_killed_over_its_memory_is_explained_everywhere(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    job = submitted(api)
    fake_cluster.set_state(job["slurm_job_id"], "RUNNING")
    tick(app, backends, clock)
    fake_cluster.finish(job["slurm_job_id"], "FAILED", exit_code=0, signal=9)
    tick(app, backends, clock)
    record_end(db, job["id"], max_rss_bytes=300 * MiB, mem_requested_bytes=100 * MiB)

    shown = api.get(f"{JOBS}/{job['id']}").json()
    assert shown["state"] == "failed" and shown["signal"] == 9
    assert shown["explanation"] == {
        "code": "out_of_memory",
        "text": {"en": "ran out of memory (used 300 MB of 100 MB)",
                 "fr": "mémoire épuisée (300 Mo utilisés sur 100 Mo)"},
        "hint": {"en": "submit it again asking for more memory (--mem)",
                 "fr": "soumettez-le à nouveau en demandant plus de mémoire (--mem)"},
        "slurm_code": "0:9",
    }  # fmt: skip
    listed = api.get(JOBS).json()["items"][0]
    assert listed["explanation"]["code"] == "out_of_memory"

    page = text_of(logged_in(app, alice).get(f"/jobs/{job['id']}"))
    assert 'id="job-reason" data-code="out_of_memory"' in page
    assert 'ran out of memory (used 300 MB of 100 MB) <span class="code">(0:9)</span>' in page
    assert "Exit code" not in page, "sacct's 0 is not the job's exit code"
    french = text_of(logged_in(app, alice, lang="fr").get(f"/jobs/{job['id']}"))
    assert "mémoire épuisée (300 Mo utilisés sur 100 Mo)" in french
    assert "soumettez-le à nouveau en demandant plus de mémoire (--mem)" in french


def test_a_killed_job_shows_the_signal_and_a_failed_one_its_exit_code(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, clock: FakeClock,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    killed, failed = submitted(api), submitted(api)
    fake_cluster.finish(killed["slurm_job_id"], "FAILED", exit_code=0, signal=9)
    fake_cluster.finish(failed["slurm_job_id"], "FAILED", exit_code=3)
    tick(app, backends, clock)
    browser = logged_in(app, alice)

    page = text_of(browser.get(f"/jobs/{killed['id']}"))
    assert "<dt>Ended by</dt><dd>killed by signal 9 (SIGKILL)</dd>" in page and "Exit code" not in page
    page = text_of(browser.get(f"/jobs/{failed['id']}"))
    assert "<dt>Exit code</dt><dd>3</dd>" in page and "failed with exit code 3" in page
    french = text_of(logged_in(app, alice, lang="fr").get(f"/jobs/{killed['id']}"))
    assert "<dt>Arrêté par</dt><dd>tué par le signal 9 (SIGKILL)</dd>" in french


def test_cancelled_and_timed_out_jobs_show_no_exit_code(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    cancelled, late = submitted(api), submitted(api)
    assert api.post(f"{JOBS}/{cancelled['id']}/cancel").status_code == 202
    fake_cluster.finish(late["slurm_job_id"], "TIMEOUT", exit_code=0)
    tick(app, backends, clock)
    record_end(db, late["id"], time_limit_s=600)
    browser = logged_in(app, alice)

    page = text_of(browser.get(f"/jobs/{cancelled['id']}"))
    assert "cancelled by alice" in page and "Exit code" not in page
    page = text_of(browser.get(f"/jobs/{late['id']}"))
    assert "reached its time limit (10 min)" in page and "Exit code" not in page
    assert (
        api.get(f"{JOBS}/{late['id']}").json()["explanation"]["text"]["fr"]
        == "limite de temps atteinte (10 min)"
    )


def test_a_waiting_job_says_why_on_its_page_in_the_list_and_in_the_api(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, clock: FakeClock,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    job = submitted(api)
    fake_cluster.set_state(job["slurm_job_id"], "PENDING", reason="AssocGrpCPURunMinutesLimit")
    tick(app, backends, clock)

    said = api.get(f"{JOBS}/{job['id']}").json()["explanation"]
    assert said["code"] == "project_limit" and said["slurm_code"] == "AssocGrpCPURunMinutesLimit"
    assert said["text"]["en"] == "waiting: your project's limit is reached"
    browser = logged_in(app, alice)
    page = text_of(browser.get(f"/jobs/{job['id']}"))
    assert (
        'waiting: your project\'s limit is reached <span class="code">(AssocGrpCPURunMinutesLimit)</span>'
        in page
    )
    assert page.count("your project's limit is reached") == 1, "said once, not again on the status line"
    assert page.count("AssocGrpCPURunMinutesLimit") == 1, "Slurm's code once, beside the words"
    listing = text_of(browser.get("/jobs"))
    assert '<th scope="col">Why</th>' in listing and "waiting: your project's limit is reached" in listing
    french = text_of(logged_in(app, alice, lang="fr").get("/jobs"))
    assert "Pourquoi" in french and "en attente : la limite de votre projet est atteinte" in french


def test_a_reason_slurm_wrote_as_free_text_is_shown_as_text(
    app: FastAPI, make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, clock: FakeClock,
) -> None:  # fmt: skip
    alice = make_user(username="alice", login="alice")
    api = auth_client(alice)
    job = submitted(api)
    hostile = "<script>alert(1)</script> %(name)s $(id)"
    fake_cluster.set_state(job["slurm_job_id"], "PENDING", reason=hostile)
    tick(app, backends, clock)

    said = api.get(f"{JOBS}/{job['id']}").json()["explanation"]
    assert said["code"] == "other" and said["text"]["en"] == f"waiting: {hostile}"
    page = logged_in(app, alice).get(f"/jobs/{job['id']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
