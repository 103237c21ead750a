"""Suspending a project from the pages (docs/web.md, "Suspending a project"): the admin
allocations page links each project to its suspension page, whose form (a reason, CSRF, no
JavaScript) says the project's jobs queued or running go on; a suspended project shows on its
researchers' dashboard with the reason; refusals change nothing; English and French."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser
from tests.web.member_world import World, build
from tests.web.pages_helpers import csrf_of, logged_in
from tests.web.test_pages_jobs import grant_hours

PAGE = "/projects/devcluster/caen-climat/suspension"


@pytest.fixture
def world(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    return build(make_user, db, clock)


def _events(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("project.%"))))


def test_the_admin_suspends_from_the_allocations_page_and_resumes(
    app: FastAPI, world: World, db: Session, clock: FakeClock
) -> None:
    grant_hours(db, clock, "caen-climat", 10)
    alice, admin = logged_in(app, world.alice, lang="fr"), logged_in(app, world.caen_admin)
    app.state.clock = clock  # inside the period granted (after logging in: cookies stay fresh)
    listing = admin.get("/admin/allocations")
    assert listing.status_code == 200, listing.text[:500]
    listing = listing.text
    assert f'href="{PAGE}">Suspend…</a>' in listing
    form = admin.get(PAGE)
    assert form.status_code == 200 and 'id="suspension-form"' in form.text
    assert "Jobs of the project queued: 1; running: 1." in form.text and "does not touch them" in form.text
    fields = {"csrf_token": csrf_of(form.text), "action": "suspend", "reason": "misuse <b>"}
    done = admin.post(PAGE, data=fields)
    assert done.status_code == 303 and done.headers["location"] == PAGE + "?done=suspended"
    shown = admin.get(done.headers["location"]).text
    assert (
        "This project is suspended" in shown and "misuse &lt;b&gt;" in shown and "Resume the project" in shown
    )
    assert "<strong>Suspended</strong>" in admin.get("/admin/allocations").text

    dashboard = alice.get("/").text
    assert "caen-climat est suspendu par ses administrateurs" in dashboard and "misuse &lt;b&gt;" in dashboard

    lifted = admin.post(PAGE, data={"csrf_token": csrf_of(shown), "action": "resume", "reason": "ok"})
    assert lifted.status_code == 303 and lifted.headers["location"] == PAGE + "?done=resumed"
    assert _events(db) == ["project.suspend", "project.resume"]


def test_a_blank_reason_is_shown_under_the_field_and_changes_nothing(
    app: FastAPI, world: World, db: Session
) -> None:
    admin = logged_in(app, world.caen_admin, lang="fr")
    token = csrf_of(admin.get(PAGE).text)
    refused = admin.post(PAGE, data={"csrf_token": token, "action": "suspend", "reason": " "})
    assert refused.status_code == 422
    assert 'id="reason-error"' in refused.text and "donnez un motif" in refused.text
    assert _events(db) == []


def test_without_the_csrf_token_nothing_changes(app: FastAPI, world: World, db: Session) -> None:
    admin = logged_in(app, world.caen_admin)
    refused = admin.post(PAGE, data={"action": "suspend", "reason": "misuse"})
    assert refused.status_code == 403
    assert _events(db) == []


@pytest.mark.parametrize("who", ["rouen_admin", "carol", "alice"])
def test_others_get_no_form_and_are_refused(app: FastAPI, world: World, db: Session, who: str) -> None:
    client = logged_in(app, getattr(world, who))
    page = client.get(PAGE)
    if who == "rouen_admin":
        assert page.status_code == 403
        token = csrf_of(client.get("/tokens").text)
    else:
        assert page.status_code == 200 and 'id="suspension-form"' not in page.text
        token = csrf_of(page.text)
    refused = client.post(PAGE, data={"csrf_token": token, "action": "suspend", "reason": "x"})
    assert refused.status_code == 403
    assert _events(db) == []
