"""Pages: dashboard, submit (template and script), job page, job list, cancel — over the fake Slurm."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.domain.costs import Cost
from myriagate.services.jobs import tracking
from myriagate.services.jobs.outputs import output_path
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in, page_csrf

JOB_URL = re.compile(r"^/jobs/([0-9a-f-]{36})$")


def form(csrf: str, **fields: Any) -> dict[str, str]:
    data = {"csrf_token": csrf, "mode": "template", "template": "hello", "action": "submit",
            "partition": "debug", "time": "5", "account": "caen-climat"}  # fmt: skip
    data.update({k: str(v) for k, v in fields.items()})
    return data


def submit_page(client: Any, **fields: Any) -> Any:
    return client.post("/submit", data=form(page_csrf(client, "/submit"), **fields))


SIZE = {"ntasks": 4, "cpus_per_task": 8, "time": "240", "partition": "court"}


def grant_hours(db: Session, clock: FakeClock, account: str, hours: int) -> None:
    """A period around the fake clock, a quota for unicaen and a grant of ``hours`` to ``account``."""
    period = allocations_repo.create_period(
        db, cluster=CLUSTER, name="2026", starts_at=clock.now() - timedelta(days=1),
        ends_at=clock.now() + timedelta(days=300),
    )  # fmt: skip
    project = projects_repo.get_project(db, CLUSTER, account)
    assert project is not None
    allocation = allocations_repo.create_allocation(
        db, project_id=project.id, period_id=period.id, created_at=clock.now()
    )
    allocations_repo.set_quota(db, institution="unicaen", period_id=period.id, amount=Cost(10**6 * 3600, 0))
    SqlLedger(db).grant(allocation.id, Cost(hours * 3600, 0), author="test", reason="t")
    db.commit()


def job_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(sa.select(sa.func.count()).select_from(Job)) or 0


def tick(app: FastAPI, backends: FakeSlurmBackendFactory, clock: FakeClock) -> None:
    with app.state.gateway.session_factory() as session:
        tracking.tick(session, cluster=CLUSTER, backends=backends, clock=clock, ledger=worker_ledger(clock))


def test_submit_from_a_template_then_follow_the_job(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
    clock: FakeClock, db: Session,
) -> None:  # fmt: skip
    client = logged_in(app, make_user())  # before the fake clock: the cookie must not look expired
    app.state.clock = clock  # "finished recently" is measured on the cluster's clock
    response = submit_page(client, param_message="bonjour", param_repeat=3, job_name="first")
    assert response.status_code == 303, response.text
    job_id = JOB_URL.match(response.headers["location"]).group(1)  # type: ignore[union-attr]
    page = client.get(f"/jobs/{job_id}")
    assert "first" in page.text and 'data-refresh="5"' in page.text
    # Without JavaScript the page is read again whole (it said it refreshed itself, and did not).
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in page.text
    assert "Cancel this job" in page.text

    fake_cluster.set_state("1000", "PENDING", reason="AssocGrpCPUMinutesLimit")
    tick(app, backends, clock)
    page = client.get(f"/jobs/{job_id}")
    # issue 15: the project's limit in plain words (domain/pending_reasons.py), Slurm's code beside
    assert "waiting: your project&#39;s limit is reached" in page.text
    assert "AssocGrpCPUMinutesLimit" in page.text

    job = db.get(Job, uuid.UUID(job_id))
    assert job is not None
    fake_cluster.write_file(output_path(job) or "", b"bonjour\nbonjour\nbonjour\n")
    clock.advance(30)
    fake_cluster.finish("1000")
    tick(app, backends, clock)
    page = client.get(f"/jobs/{job_id}")
    assert "completed" in page.text and "bonjour\nbonjour" in page.text
    assert "data-refresh" not in page.text and "Cancel this job" not in page.text
    assert 'http-equiv="refresh"' not in page.text
    dashboard = client.get("/")
    assert "Job first finished." in dashboard.text


def test_validation_errors_are_shown_next_to_their_fields(
    app: FastAPI, make_user: MakeUser, db: Session
) -> None:
    client = logged_in(app, make_user())
    # One submission at a time, as the API checks: types first, then template values, then options.
    for name, fields in (("ntasks", {"ntasks": "two"}), ("param_repeat", {"param_repeat": 1000}),
                         ("time", {"time": "banana"})):  # fmt: skip
        response = submit_page(client, **fields)
        assert response.status_code == 422
        assert f'id="{name}-error"' in response.text, name
        assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', response.text), name
    assert job_count(db) == 0


def test_script_submission_mirrors_the_api_checks(app: FastAPI, make_user: MakeUser, db: Session) -> None:
    client = logged_in(app, make_user())
    too_long = submit_page(client, mode="script", script="#!/bin/bash\necho hi\n", time="10-00:00:00")
    assert too_long.status_code == 422 and 'id="time-error"' in too_long.text
    not_mine = submit_page(client, mode="script", script="#!/bin/bash\necho hi\n", account="rouen-chimie")
    assert not_mine.status_code == 422 and 'id="account-error"' in not_mine.text
    assert job_count(db) == 0
    ok = submit_page(client, mode="script", script="#!/bin/bash\r\necho hi\r\n")
    assert ok.status_code == 303 and job_count(db) == 1


@pytest.mark.parametrize("settings_overrides", [{"enforce_allocations": True}])
def test_the_estimate_says_what_the_job_will_hold(
    app: FastAPI,
    make_user: MakeUser,
    db: Session,
    clock: FakeClock,
    auth_client: Callable[[User], TestClient],
) -> None:
    user = make_user()
    grant_hours(db, clock, "caen-climat", 9870)
    client = logged_in(app, user)
    french = logged_in(app, user, lang="fr")
    app.state.clock = clock  # 2026-01-05: inside the period (after logging in: cookies stay fresh)
    csrf = page_csrf(client, "/submit")
    fragment = client.post("/submit/estimate", data=form(csrf, **SIZE))
    assert fragment.status_code == 200
    # The same figure as the API's dry run (the page calls the same code).
    options = {"partition": "court", "time": "240", "ntasks": 4, "cpus_per_task": 8, "account": "caen-climat"}
    api = auth_client(user).post(
        "/api/v1/jobs", json={"template": "hello", "dry_run": True, "options": options}
    )
    hold = round(api.json()["estimate"]["hold_core_hours"])
    assert hold > 0
    assert f"This job will hold {hold} CPU-h of the 9,870 remaining in caen-climat." in fragment.text
    fragment = french.post("/submit/estimate", data=form(page_csrf(french, "/submit"), **SIZE))
    assert re.search(rf"{hold} h CPU sur les 9\s870 restantes de caen-climat", fragment.text), fragment.text
    no_js = client.post("/submit", data=form(csrf, action="estimate", **SIZE))
    assert no_js.status_code == 200 and f"will hold {hold} CPU-h" in no_js.text
    assert job_count(db) == 0


def test_cancel_from_the_job_page(
    app: FastAPI, make_user: MakeUser, fake_cluster: FakeCluster, db: Session
) -> None:
    client = logged_in(app, make_user())
    job_url = submit_page(client).headers["location"]
    refused = client.post(f"{job_url}/cancel", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert fake_cluster.job("1000").state == "PENDING"
    done = client.post(f"{job_url}/cancel", data={"csrf_token": page_csrf(client, job_url)})
    assert done.status_code == 303
    assert fake_cluster.job("1000").state == "CANCELLED"
    assert "Cancel requested" in client.get(job_url).text


def test_job_list_filters_and_pages(app: FastAPI, make_user: MakeUser, clock: FakeClock) -> None:
    client = logged_in(app, make_user())
    app.state.clock = clock
    for i in range(27):
        clock.advance(1)
        assert submit_page(client, job_name=f"job-{i:02d}").status_code == 303
    first = client.get("/jobs")
    assert "job-26" in first.text and "job-02" in first.text and "job-01" not in first.text
    cursor = re.search(r'href="/jobs\?cursor=([^"]+)" rel="next"', first.text)
    assert cursor is not None
    second = client.get(f"/jobs?cursor={cursor.group(1)}")
    assert "job-01" in second.text and "job-00" in second.text and "job-26" not in second.text
    assert "job-26" not in client.get("/jobs?state=running").text
    assert "job-26" in client.get("/jobs?state=pending").text
    assert "job-26" not in client.get("/jobs?project=caen-bio").text
    assert "job-26" in client.get("/jobs?since=2026-01-05&until=2026-01-05").text
    assert "job-26" not in client.get("/jobs?since=2026-01-06").text
    assert client.get("/jobs?since=yesterday").status_code == 422
