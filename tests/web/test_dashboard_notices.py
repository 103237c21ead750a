"""Issue #15, the dashboard's notices as a new researcher met them: running the demo three
times showed "Job demo-long finished" once per run, with no time, no way to dismiss them and
a failed job looking like the others. Now: one notice per job name and outcome (the newest
run, the earlier ones counted), the time it ended, newest first, at most five, a failed job
marked failed, and a Dismiss button that works as a plain form (the ids in a cookie)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.domain.jobs import submission_tag
from myriagate.domain.states import JobState
from myriagate.services.dashboard import MAX_JOB_NOTICES
from tests.conftest import CLUSTER
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import csrf_of, logged_in

NOTICE = re.compile(r'<div class="notice job (\w+)" id="notice-([0-9a-f-]{36})">(.*?)</div>', re.S)


class Minutes:
    """Times a minute apart ending before the app's own (real) clock reads the dashboard."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC) - timedelta(hours=1)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Minutes:
    return Minutes()


def ended_job(db: Session, user: User, clock: Minutes, name: str, state: JobState) -> Job:
    """A job of ``user`` that ended at ``clock`` in ``state``; the clock then moves a minute on."""
    job_id = uuid.uuid4()
    now = clock.now()
    job = Job(
        id=job_id, user_id=user.id, cluster=CLUSTER, cluster_login=user.cluster_login,
        slurm_account="caen-climat", partition="debug", tag=submission_tag(job_id), job_name=name,
        state=state, slurm_job_id=str(job_id.int % 10**9), script_text="#!/bin/bash\n", sbatch_args=[],
        spec={}, created_at=now, updated_at=now, submitted_at=now, started_at=now, ended_at=now,
    )  # fmt: skip
    db.add(job)
    db.commit()
    clock.advance(60)
    return job


def notices_of(html: str) -> list[tuple[str, str, str]]:
    """(class, job id, text without tags) of each job notice, in page order."""
    return [(kind, job_id, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip())
            for kind, job_id, body in NOTICE.findall(html)]  # fmt: skip


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice@unicaen.fr", login="alice")


@pytest.fixture
def browser(app: FastAPI, alice: User) -> TestClient:
    return logged_in(app, alice)


def test_reruns_make_one_notice_each_newest_first_with_their_time(
    browser: TestClient, db: Session, alice: User, clock: Minutes
) -> None:
    for _run in range(3):
        for name in ("demo-hello", "demo-long"):
            ended_job(db, alice, clock, name, JobState.COMPLETED)
    newest_oom = ended_job(db, alice, clock, "demo-long", JobState.OUT_OF_MEMORY)
    page = browser.get("/")
    assert page.status_code == 200
    shown = notices_of(page.text)
    assert next((kind, job_id) for kind, job_id, _ in shown) == ("bad", str(newest_oom.id))
    assert len(shown) == 3, shown  # demo-long failed, demo-long finished, demo-hello finished
    failed, finished_long, finished_hello = (text for _, _, text in shown)
    assert "Job demo-long failed." in failed and "out of memory" in failed
    assert (
        "Job demo-long finished." in finished_long
        and "Earlier runs that ended the same way: 2." in finished_long
    )
    assert "Job demo-hello finished." in finished_hello
    assert re.search(r"Ended \w{3} \d+, 2026, [\d:]+ [AP]M UTC\.", finished_hello), finished_hello
    assert page.text.count('action="/notices/dismiss"') == 4  # one per notice and one for all


def test_at_most_five_job_notices_and_the_rest_counted(
    browser: TestClient, db: Session, alice: User, clock: Minutes
) -> None:
    for i in range(MAX_JOB_NOTICES + 2):
        ended_job(db, alice, clock, f"run-{i}", JobState.FAILED)
    shown = notices_of(browser.get("/").text)
    assert [text.split(".")[0] for _, _, text in shown] == [f"Job run-{i} failed" for i in (6, 5, 4, 3, 2)]
    assert "Ended jobs not shown here: 2." in browser.get("/").text


def test_dismiss_without_javascript_hides_the_notice_and_its_earlier_runs(
    browser: TestClient, db: Session, alice: User, clock: Minutes
) -> None:
    first = ended_job(db, alice, clock, "demo-long", JobState.COMPLETED)
    second = ended_job(db, alice, clock, "demo-long", JobState.COMPLETED)
    other = ended_job(db, alice, clock, "demo-hello", JobState.CANCELLED)
    page = browser.get("/")
    jobs = re.search(r'name="jobs" value="([^"]*)"', page.text.split(f'id="notice-{second.id}"')[1])
    assert jobs is not None and set(jobs.group(1).split()) == {str(first.id), str(second.id)}
    answer = browser.post("/notices/dismiss", data={"csrf_token": csrf_of(page.text), "jobs": jobs.group(1)})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    after = notices_of(browser.get("/").text)
    assert [(kind, job_id) for kind, job_id, _ in after] == [("warn", str(other.id))]
    assert "Job demo-hello was cancelled." in after[0][2]
    # A new run of the same name is news again.
    third = ended_job(db, alice, clock, "demo-long", JobState.COMPLETED)
    assert next(job_id for _, job_id, _ in notices_of(browser.get("/").text)) == str(third.id)


def test_dismiss_refuses_a_missing_csrf_token_and_ignores_what_is_not_a_job_id(
    browser: TestClient, db: Session, alice: User, clock: Minutes
) -> None:
    job = ended_job(db, alice, clock, "demo-long", JobState.COMPLETED)
    refused = browser.post("/notices/dismiss", data={"jobs": str(job.id)})
    assert refused.status_code == 403
    csrf = csrf_of(browser.get("/").text)
    hostile = "'; rm -rf / $(id)\n--x ../../etc " + "a" * 5000
    answer = browser.post("/notices/dismiss", data={"csrf_token": csrf, "jobs": hostile})
    assert answer.status_code == 303
    assert [job_id for _, job_id, _ in notices_of(browser.get("/").text)] == [str(job.id)]
    browser.cookies.set("myriagate_dismissed", f"not-an-id.{job.id.hex}")
    assert notices_of(browser.get("/").text) == []
