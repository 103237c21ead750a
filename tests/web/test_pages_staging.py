"""Data staging through the pages: the submit form's input files (as a
plain multipart form, and as the page's script sends them through the upload API), output
patterns and storage endpoints with the residency rule, the staging plan in the estimate, the
job page's staged data and timeline, CSRF on the new forms, hostile names shown escaped, and
single sign-on users' CSRF token.

The cluster is the fake Slurm; the cluster's and the endpoints' disks are the FakeStager's
local directories.
"""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent, Job, Upload, WebSession
from myriagate.db.models.users import User
from myriagate.errors import StagingError
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from myriagate.wiring import Gateway
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.fakes.hostile import XSS_STRINGS
from tests.web import pages_helpers
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import (
    csrf_of,
    host_dir,
    logged_in,
    page_csrf,
    sha,
    spool_files,
    staging_form,
    tick,
)
from tests.web.test_pages_access import assert_escaped

# Shared fixtures (a module's fixtures override the conftest's): spool settings, fake stager,
# the worker's staging step.
settings_overrides = pages_helpers.settings_overrides
stager = pages_helpers.stager
staging_ctx = pages_helpers.staging_ctx

DATA = b"t,x\n" + b"0,1\n" * 300
JOB_URL = re.compile(r"^/jobs/([0-9a-f-]{36})$")


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice", accounts=["caen-climat"])


@pytest.fixture
def spool(gateway: Gateway) -> Path:
    return gateway.settings.spool_dir


def job_of(db: Session, location: str) -> Job:
    found = JOB_URL.match(location)
    assert found is not None, location
    db.expire_all()
    job = db.get(Job, uuid.UUID(found.group(1)))
    assert job is not None
    return job


def field_error(page: str, name: str) -> str:
    """The error text shown next to the form field ``name`` ('' if none)."""
    found = re.search(rf'<span class="field-error" id="{name}-error">(.*?)</span>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def jobs_and_uploads(db: Session) -> tuple[int, int]:
    db.expire_all()
    return (
        db.scalar(sa.select(sa.func.count()).select_from(Job)) or 0,
        db.scalar(sa.select(sa.func.count()).select_from(Upload)) or 0,
    )


# --- the form --------------------------------------------------------------------------
def test_the_form_offers_caen_and_shows_paris_disabled_with_the_reason(app: FastAPI, alice: User) -> None:
    page = logged_in(app, alice).get("/submit").text
    assert 'enctype="multipart/form-data"' in page
    assert re.search(r'<input type="file" id="inputs" name="inputs" multiple', page)
    assert re.search(r'<input type="file" id="inputs_dir" name="inputs_dir" webkitdirectory', page)
    caen = re.search(r'<option value="caen"([^>]*)>([^<]*)</option>', page)
    assert caen is not None and "disabled" not in caen.group(1) and "selected" in caen.group(1)
    assert caen.group(2).startswith("Caen, FR-NOR")
    paris = re.search(r'<option value="paris"([^>]*)>([^<]*)</option>', page)
    assert paris is not None and "disabled" in paris.group(1)
    assert html.unescape(paris.group(2)) == "Paris, FR-IDF — outside the allowed regions"
    french = logged_in(app, alice, lang="fr").get("/submit").text
    assert "Paris, FR-IDF — hors des régions autorisées" in html.unescape(french)
    assert '<a href="/datasets">Jeux de données</a>' in french


def test_a_plain_multipart_submission_with_files_ends_in_staging_in_then_runs(
    app: FastAPI,
    alice: User,
    db: Session,
    clock: FakeClock,
    spool: Path,
    stager: FakeStager,
    staging_ctx: StagingContext,
    fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory,
    gateway: Gateway,
) -> None:
    """No JavaScript: the files are parts of the form; the server streams them to the spool."""
    client = logged_in(app, alice)
    french_client = logged_in(app, alice, lang="fr")
    app.state.clock = clock  # after logging in: the cookies must not look expired
    params = {"sub": b"steps = 3\n"}
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit"), output_patterns="results/*.h5\n\n  logs/**  \n"),
        files=[
            ("inputs", ("data.csv", DATA, "text/csv")),
            ("inputs_dir", ("params/sub.toml", params["sub"], "application/octet-stream")),
            ("inputs_dir", ("", b"", "application/octet-stream")),  # an empty picker sends this
        ],
    )
    assert response.status_code == 303, response.text
    job = job_of(db, response.headers["location"])
    assert job.state.value == "staging_in" and job.slurm_job_id is None
    assert fake_cluster.calls.get("submit", 0) == 0
    upload = db.scalars(sa.select(Upload).where(Upload.job_id == job.id)).one()
    assert {f.path: f.sha256 for f in upload.files} == {
        "data.csv": sha(DATA),
        "params/sub.toml": sha(params["sub"]),
    }
    assert len(spool_files(spool)) == 2

    shown = client.get(response.headers["location"]).text
    assert "copying input files" in shown
    assert "Copying the input files to the cluster." in shown
    assert sha(DATA) in shown and "Waiting to be copied to the cluster." in shown
    assert '<code class="pattern">results/*.h5</code>, <code class="pattern">logs/**</code>' in shown
    assert "its input files, if any, copied and their checksums checked" in shown

    # The worker's staging step copies and verifies them, then sbatch runs.
    assert run_pending(staging_ctx) == 1
    job = job_of(db, response.headers["location"])
    assert job.state.value == "pending" and job.slurm_job_id is not None
    job_dir = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job.id}")
    assert (job_dir / "data.csv").read_bytes() == DATA
    shown = client.get(response.headers["location"]).text
    assert f"Copied to /home/alice/myriagate-jobs/{job.id}; each checksum was verified" in shown
    assert "2 input file(s) copied to the cluster and verified" in shown
    assert spool_files(spool) == []

    # Slurm finishes it: staging_out, then completed with its dataset in Caen.
    (job_dir / "results").mkdir()
    (job_dir / "results/out.h5").write_bytes(b"\x89HDF result")
    fake_cluster.finish(job.slurm_job_id, "COMPLETED")
    tick(gateway, backends, clock)
    shown = client.get(response.headers["location"]).text
    assert "Copying the results to Caen, FR-NOR." in shown
    assert "the job has finished; its result files are being copied to the storage endpoint" in shown
    assert run_pending(staging_ctx) == 1
    shown = client.get(response.headers["location"]).text
    dataset = re.search(r'<a href="/datasets/([0-9a-f-]{36})" id="output-dataset">', shown)
    assert dataset is not None
    assert "<strong>Caen, FR-NOR</strong>" in shown and sha(b"\x89HDF result") in shown
    assert "1 result file(s) stored in Caen (FR-NOR) and verified" in shown
    assert f'href="/datasets/{dataset.group(1)}/files/results/out.h5"' in shown
    french = french_client.get(response.headers["location"]).text
    assert "ses fichiers d&#39;entrée éventuels y sont copiés" in french
    assert "1 fichier(s) de résultats stocké(s) à Caen (FR-NOR) et vérifié(s)" in french


def test_outputs_to_paris_are_refused_next_to_the_field_audited_and_nothing_is_made(
    app: FastAPI, alice: User, db: Session, spool: Path, stager: FakeStager
) -> None:
    client = logged_in(app, alice)
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit"), output_patterns="results/*", store="paris"),
    )
    assert response.status_code == 403
    assert "FR-IDF" in field_error(response.text, "store")
    assert re.search(
        r'<select id="store" name="store" aria-describedby="store-hint store-error" aria-invalid="true">',
        response.text,
    )
    assert jobs_and_uploads(db) == (0, 0)
    db.expire_all()
    events = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staging.refused")).all()
    assert [e.detail["endpoint"] for e in events] == ["paris"]
    assert not stager.base.exists()


def test_patterns_without_an_endpoint_and_unsafe_patterns_are_shown_at_their_fields(
    app: FastAPI, alice: User, db: Session
) -> None:
    client = logged_in(app, alice)
    csrf = page_csrf(client, "/submit")
    no_store = client.post("/submit", data=staging_form(csrf, output_patterns="results/*", store=""))
    assert no_store.status_code == 422 and field_error(no_store.text, "store")
    unsafe = client.post("/submit", data=staging_form(csrf, output_patterns="ok/*\n../../etc/*"))
    assert unsafe.status_code == 422 and field_error(unsafe.text, "output_patterns")
    assert "../../etc/*" in unsafe.text  # what was typed is kept in the field
    assert jobs_and_uploads(db) == (0, 0)


def test_without_javascript_the_estimate_keeps_the_files_and_shows_the_plan(
    app: FastAPI, alice: User, db: Session
) -> None:
    client = logged_in(app, alice)
    estimate = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit"), action="estimate", output_patterns="results/*.h5"),
        files=[("inputs", ("data.csv", DATA, "text/csv"))],
    )
    assert estimate.status_code == 200, estimate.text
    text = html.unescape(estimate.text)
    assert "1 input file(s) will be copied to its directory on the cluster and verified" in text
    assert "will be stored in Caen, FR-NOR (Université de Caen Normandie) as a dataset" in text
    assert "Already sent (they go with this job):" in text and sha(DATA) in text
    upload_id = re.search(r'name="upload_id" id="upload_id" value="([0-9a-f-]{36})"', estimate.text)
    assert upload_id is not None
    assert jobs_and_uploads(db) == (0, 1)
    # The files need not be chosen again: the form now carries the upload.
    submitted = client.post(
        "/submit",
        data=staging_form(
            csrf_of(estimate.text), upload_id=upload_id.group(1), output_patterns="results/*.h5"
        ),
    )
    assert submitted.status_code == 303, submitted.text
    job = job_of(db, submitted.headers["location"])
    assert job.state.value == "staging_in"
    assert jobs_and_uploads(db) == (1, 1)


def test_the_pages_script_protocol_upload_api_with_the_session_then_the_form(
    app: FastAPI, alice: User, db: Session, spool: Path
) -> None:
    """What app.js does: POST /api/v1/uploads and PUT each file with the page's session cookie
    and CSRF token (and the browser's sha256), then post the form with the upload id."""
    client = logged_in(app, alice)
    csrf = page_csrf(client, "/submit")
    assert client.post("/api/v1/uploads").status_code == 403  # the cookie alone is not enough
    created = client.post("/api/v1/uploads", headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    upload_id = created.json()["id"]
    url = f"/api/v1/uploads/{upload_id}/files/dir/data%20set.csv"
    assert client.put(url, content=DATA, headers={"X-Content-SHA256": sha(DATA)}).status_code == 403
    damaged = client.put(
        url, content=DATA + b"x", headers={"X-CSRF-Token": csrf, "X-Content-SHA256": sha(DATA)}
    )
    assert damaged.status_code == 502 and damaged.json()["code"] == "checksum_mismatch"
    sent = client.put(url, content=DATA, headers={"X-CSRF-Token": csrf, "X-Content-SHA256": sha(DATA)})
    assert sent.status_code == 201, sent.text

    live = client.post(
        "/submit/estimate",
        data=staging_form(csrf, upload_id=upload_id, output_patterns="results/*")
        | {"input_name": "not-sent-yet.bin", "input_size": "2048"},
    )
    assert live.status_code == 200
    assert (
        "<code>dir/data set.csv</code>" in live.text and "<code>not-sent-yet.bin</code> — 2 kB" in live.text
    )
    response = client.post(
        "/submit", data=staging_form(csrf, upload_id=upload_id, output_patterns="results/*")
    )
    assert response.status_code == 303, response.text
    assert job_of(db, response.headers["location"]).state.value == "staging_in"
    assert spool_files(spool) == [f"uploads/{upload_id}/files/dir/data set.csv"]


def test_someone_elses_upload_cannot_be_used_from_the_form(
    app: FastAPI, alice: User, make_user: MakeUser, db: Session
) -> None:
    owner = logged_in(app, alice)
    csrf = page_csrf(owner, "/submit")
    upload_id = owner.post("/api/v1/uploads", headers={"X-CSRF-Token": csrf}).json()["id"]
    owner.put(
        f"/api/v1/uploads/{upload_id}/files/alice-secret.csv", content=b"a", headers={"X-CSRF-Token": csrf}
    )
    carol = logged_in(app, make_user(username="carol@unicaen.fr", login="carol", accounts=["caen-climat"]))
    refused = carol.post("/submit", data=staging_form(page_csrf(carol, "/submit"), upload_id=upload_id))
    assert refused.status_code == 404
    assert "alice-secret.csv" not in refused.text
    assert jobs_and_uploads(db) == (0, 1)
    # More files posted with a stranger's upload id go to a new upload of one's own.
    kept = carol.post(
        "/submit",
        data=staging_form(page_csrf(carol, "/submit"), upload_id=upload_id, action="estimate"),
        files=[("inputs", ("mine.csv", b"mine", "text/csv"))],
    )
    assert kept.status_code == 200, kept.text
    assert upload_id not in kept.text and "alice-secret.csv" not in kept.text and "mine.csv" in kept.text


def test_a_multipart_post_without_the_csrf_token_writes_nothing(
    app: FastAPI, alice: User, db: Session, spool: Path
) -> None:
    client = logged_in(app, alice)
    form = staging_form("wrong-token", output_patterns="results/*")
    for path in ("/submit", "/submit/estimate"):
        response = client.post(path, data=form, files=[("inputs", ("data.csv", DATA, "text/csv"))])
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
    assert jobs_and_uploads(db) == (0, 0)
    assert spool_files(spool) == []


@pytest.mark.parametrize("name", ["../escape.csv", "/etc/passwd", "-rf", "a\\b.csv"])
def test_unsafe_file_names_are_refused_at_the_file_field(
    app: FastAPI, alice: User, db: Session, spool: Path, tmp_path: Path, name: str
) -> None:
    client = logged_in(app, alice)
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit")),
        files=[("inputs", (name, b"payload", "text/plain"))],
    )
    assert response.status_code == 422, response.text
    assert field_error(response.text, "inputs")
    assert jobs_and_uploads(db)[0] == 0
    assert spool_files(spool) == []
    assert not (tmp_path / "escape.csv").exists()


@pytest.mark.parametrize("hostile", XSS_STRINGS)
def test_hostile_file_names_and_patterns_are_shown_escaped(
    app: FastAPI, alice: User, db: Session, hostile: str
) -> None:
    client = logged_in(app, alice)
    csrf = page_csrf(client, "/submit")
    # As a file name of the plain form (accepted and listed, or refused at the field).
    posted = client.post(
        "/submit",
        data=staging_form(csrf, action="estimate", output_patterns=hostile),
        files=[("inputs", (hostile, b"x", "text/plain"))],
    )
    assert posted.status_code in (200, 422), posted.text
    assert_escaped(posted.text)
    # As names of files chosen in the browser (the live estimate) and as a pattern.
    live = client.post(
        "/submit/estimate",
        data=staging_form(csrf, output_patterns=f"results/{hostile}")
        | {"input_name": hostile, "input_size": "1"},
    )
    assert_escaped(live.text)
    # Submitted: the job page shows the pattern back, escaped.
    submitted = client.post("/submit", data=staging_form(csrf, output_patterns=f"results/{hostile}"))
    assert_escaped(submitted.text)
    if submitted.status_code == 303:
        assert_escaped(client.get(submitted.headers["location"]).text)


# --- single sign-on --------------------------------------------------------------------
PROXY = {"trusted_proxies": ["10.1.2.0/24"]}


@pytest.mark.parametrize("settings_overrides", [PROXY])
def test_a_single_sign_on_user_gets_a_session_and_a_working_csrf_token(
    app: FastAPI, make_user: MakeUser, db: Session
) -> None:
    user = make_user(password=None)  # never used the login form
    browser = TestClient(app, client=("10.1.2.3", 40000), follow_redirects=False,
                         headers={"X-Remote-User": user.username})  # fmt: skip
    first = browser.get("/tokens")
    assert first.status_code == 200
    assert "myriagate_session" in first.headers.get("set-cookie", "")
    csrf = csrf_of(first.text)
    assert csrf
    # The next page reuses that session: no second one is opened.
    assert csrf_of(browser.get("/submit").text) == csrf
    db.expire_all()
    assert (
        db.scalar(sa.select(sa.func.count()).select_from(WebSession).where(WebSession.user_id == user.id))
        == 1
    )
    created = browser.post("/tokens", data={"csrf_token": csrf, "name": "laptop"})
    assert created.status_code == 200, created.text
    assert "laptop" in created.text
    # The same form without the token, or from a browser without the session cookie, is refused.
    assert browser.post("/tokens", data={"csrf_token": "forged", "name": "x"}).status_code == 403
    stranger = TestClient(app, client=("10.1.2.3", 40000), headers={"X-Remote-User": user.username})
    assert stranger.post("/tokens", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    # The page's upload script works for them too.
    assert browser.post("/api/v1/uploads", headers={"X-CSRF-Token": csrf}).status_code == 201


def test_the_job_page_explains_a_retry_and_then_a_failure_of_the_stage_in(
    app: FastAPI, alice: User, db: Session, clock: FakeClock, stager: FakeStager, staging_ctx: StagingContext
) -> None:
    client = logged_in(app, alice)
    french_client = logged_in(app, alice, lang="fr")
    app.state.clock = clock
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit")),
        files=[("inputs", ("data.csv", DATA, "text/csv"))],
    )
    assert response.status_code == 303, response.text
    job_url = response.headers["location"]

    stager.failures.append(StagingError("connection reset by peer", transient=True))
    run_pending(staging_ctx)
    shown = html.unescape(client.get(job_url).text)
    assert job_of(db, job_url).state.value == "staging_in"
    assert "copying the input files was interrupted (connection reset by peer); attempt 2 in 5 s" in shown
    assert "Attempts that failed: 1. Last error: connection reset by peer" in shown
    assert 'data-refresh="5"' in shown  # the page keeps following it
    french = html.unescape(french_client.get(job_url).text)
    assert (
        "la copie des fichiers d'entrée a été interrompue (connection reset by peer) ; tentative 2" in french
    )

    clock.advance(6)  # past the retry delay
    stager.failures.append(StagingError("destination disk full on devcluster (/home/alice)"))
    run_pending(staging_ctx)
    shown = html.unescape(client.get(job_url).text)
    assert job_of(db, job_url).state.value == "failed"
    assert "copying the input files failed: destination disk full on devcluster (/home/alice)" in shown
    assert 'data-refresh="5"' not in shown
