"""A job its project cannot pay for is refused in hours, with what to do next (issue #15).

The refusal names the hours needed and left (CPU-hours, in the reader's number format: never
core-seconds), the longest time limit that would fit now (and a job with that limit is then
accepted), and who can give more hours: the project's lead by name, or for the lead, the
university's administrators. The API says it in English; the French page in French.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.db.repos import users as users_repo
from myriagate.domain.costs import Cost
from myriagate.services.allocations.refusals import longest_time_that_fits
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import logged_in
from tests.web.test_pages_jobs import grant_hours, submit_page

API = "/api/v1"
# 32 CPUs of "long" for 10 hours: about 320 CPU-hours (more with the memory's weight).
BIG = {"partition": "long", "time": "10:00:00", "cpus_per_task": 32, "account": "caen-bio"}
SCRIPT = "#!/bin/bash\necho hi\n"
TIME_HINT = re.compile(r"-t (\d+-)?(\d\d):(\d\d):00\)")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"enforce_allocations": True}


@pytest.fixture
def people(app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock) -> dict[str, User]:
    lead = make_user("project_lead", username="amartin@unicaen.fr", login="amartin", accounts=["caen-bio"])
    found = users_repo.get(db, lead.id)
    assert found is not None
    found.display_name = "Alice Martin"
    db.commit()
    researcher = make_user("researcher", username="bea@unicaen.fr", login="bea", accounts=["caen-bio"])
    return {"lead": lead, "researcher": researcher}


def submit(client: TestClient, **options: Any) -> Any:
    return client.post(f"{API}/jobs", json={"script": SCRIPT, "options": {**BIG, **options}})


def test_a_refusal_says_hours_what_would_fit_and_whom_to_ask(
    app: FastAPI,
    people: dict[str, User],
    auth_client: Callable[[User], TestClient],
    db: Session,
    clock: FakeClock,
) -> None:
    client = auth_client(people["researcher"])
    app.state.clock = clock
    grant_hours(db, clock, "caen-bio", 100)
    need = client.post(f"{API}/jobs", json={"script": SCRIPT, "options": BIG, "dry_run": True})
    need_hours = need.json()["estimate"]["hold_core_hours"]
    assert need_hours > 100
    refused = assert_problem(submit(client), 403, "insufficient_allocation")
    detail = refused["detail"]
    assert f"this job needs {round(need_hours):,} CPU-hours, 100 left in caen-bio" in detail
    assert "ask your project lead Alice Martin to request a grant of more hours for caen-bio" in detail
    assert "core-second" not in detail and "core_seconds" not in detail
    hint = TIME_HINT.search(detail)
    assert hint is not None, detail
    # The time it suggests does fit: the same job with that limit is accepted.
    suggested = hint.group(0)[3:-1]
    assert submit(client, time=suggested).status_code == 202
    # …and the refusal of the next one says what is left now, still in hours.
    again = assert_problem(submit(client), 403, "insufficient_allocation")["detail"]
    assert re.search(r"CPU-hours, [\d.]+ left in caen-bio", again), again


def test_the_lead_is_told_to_ask_the_university_and_no_allocation_names_the_lead(
    app: FastAPI,
    people: dict[str, User],
    auth_client: Callable[[User], TestClient],
    db: Session,
    clock: FakeClock,
) -> None:
    app.state.clock = clock
    none = assert_problem(submit(auth_client(people["researcher"])), 403, "insufficient_allocation")["detail"]
    assert none.startswith("project caen-bio has no allocation for the current period on devcluster")
    assert "ask your project lead Alice Martin" in none
    grant_hours(db, clock, "caen-bio", 100)
    lead = assert_problem(submit(auth_client(people["lead"])), 403, "insufficient_allocation")["detail"]
    assert "request a grant of more hours for caen-bio from your university's administrators" in lead
    assert "Alice Martin" not in lead


def test_the_french_page_says_the_refusal_in_french_with_french_numbers(
    app: FastAPI, people: dict[str, User], db: Session, clock: FakeClock
) -> None:
    grant_hours(db, clock, "caen-bio", 1000)
    client = logged_in(app, people["researcher"], lang="fr")
    app.state.clock = clock
    big = {"partition": "long", "time": "5-00:00:00", "cpus_per_task": 32, "account": "caen-bio"}
    page = submit_page(client, mode="script", script=SCRIPT, **big)
    assert page.status_code in (200, 403), page.text
    text = page.text.replace("\u202f", " ").replace("\xa0", " ")
    assert re.search(r"ce job demande \d \d{3} h CPU, il reste 1 000 h dans caen-bio", text), text
    assert "raccourcissez sa durée maximale à" in text
    assert "demandez à Alice Martin, responsable de votre projet" in text
    assert "CPU-hours" not in text and "core-second" not in text


def test_the_time_that_fits_is_a_rule_of_three_rounded_down_to_minutes() -> None:
    hour = 3600
    # 10 hours cost 320 CPU-hours; 100 are left: 3 h 07 min 30 s fit, said as 3 h 07.
    assert longest_time_that_fits(Cost(320 * hour), Cost(100 * hour), 10 * hour) == 3 * hour + 7 * 60
    # GPU-hours short too: the tighter of the two wins.
    assert longest_time_that_fits(Cost(320 * hour, 20 * hour), Cost(100 * hour, hour), 10 * hour) == 30 * 60
    # Not even a minute fits, or the whole job already fits: no time to suggest.
    assert longest_time_that_fits(Cost(320 * hour), Cost(10), 10 * hour) is None
    assert longest_time_that_fits(Cost(hour), Cost(2 * hour), 10 * hour) is None


def test_the_api_says_it_in_the_language_asked_and_in_english_by_default(
    app: FastAPI,
    people: dict[str, User],
    auth_client: Callable[[User], TestClient],
    db: Session,
    clock: FakeClock,
) -> None:
    """The pages' scripts show a problem's detail (an upload refused, a test that failed): a
    French browser asks in French; the CLI and scripts, asking nothing, read English."""
    client = auth_client(people["researcher"])
    app.state.clock = clock
    grant_hours(db, clock, "caen-bio", 100)
    body = {"script": SCRIPT, "options": BIG}
    french = client.post(f"{API}/jobs", json=body, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    problem = assert_problem(french, 403, "insufficient_allocation")
    assert french.headers["content-language"] == "fr"
    assert problem["title"] == "Allocation insuffisante"
    assert (
        problem["detail"].startswith("ce job demande ")
        and "il reste 100 h dans caen-bio" in problem["detail"]
    )
    english = client.post(f"{API}/jobs", json=body)
    problem = assert_problem(english, 403, "insufficient_allocation")
    assert english.headers["content-language"] == "en" and problem["title"] == "Insufficient allocation"
    assert problem["detail"].startswith("this job needs ")
    invalid = client.post(
        f"{API}/jobs", json={"script": SCRIPT, "options": {"nodes": 0}}, headers={"Accept-Language": "fr"}
    )
    fields = assert_problem(invalid, 422)["errors"]
    assert fields == [{"loc": ["options", "nodes"], "message": "doit valoir au moins 1"}]
