"""The project members page (in-process): the list for the lead and the admins, adding by
username, removing through a confirmation page that lists the member's jobs still queued or
running and says they keep running, charged to the project. Without JavaScript, CSRF-checked,
in English and French; refused readers change nothing."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from tests.conftest import FakeClock
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser
from tests.web.french_check import untranslated
from tests.web.member_world import World, audit_of, build
from tests.web.pages_helpers import csrf_of, logged_in
from tests.web.test_pages_jobs import grant_hours

PAGE = "/projects/devcluster/caen-climat/members"
FRENCH = {"Accept-Language": "fr"}


@pytest.fixture
def world(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    return build(make_user, db, clock)


def rows(page: str) -> dict[str, str]:
    """Each member row of the table, by username."""
    table = re.search(r'<table id="members">.*?</table>', page, re.S)
    assert table is not None, page
    found = re.findall(r'<tr>\s*<th scope="row">([^<]+)(.*?)</tr>', table.group(0), re.S)
    return {html.unescape(name): body for name, body in found}


def test_the_caen_admin_sees_roles_logins_and_job_counts(app: FastAPI, world: World) -> None:
    admin = logged_in(app, world.caen_admin)
    page = admin.get(PAGE)
    assert page.status_code == 200
    members = rows(page.text)
    assert list(members) == ["alice@unicaen.fr", "bob@unicaen.fr", "carol@unicaen.fr"]
    counts = re.findall(r'<td class="num"[^>]*>(\d+)</td>', members["alice@unicaen.fr"])
    assert counts == ["1", "1"] and "<code>alice</code>" in members["alice@unicaen.fr"]
    assert "project lead" in members["carol@unicaen.fr"]
    assert f'href="{PAGE}/{world.alice.id}/remove"' in page.text
    assert 'name="username"' in page.text and 'name="csrf_token"' in page.text


def test_reachable_from_the_ledger_and_allocations_pages(
    app: FastAPI, world: World, db: Session, clock: FakeClock
) -> None:
    admin, lead, alice = (logged_in(app, who) for who in (world.caen_admin, world.carol, world.alice))
    grant_hours(db, clock, "caen-climat", 100)
    app.state.clock = clock  # inside the period granted (after logging in: cookies stay fresh)
    assert f'href="{PAGE}"' in admin.get("/admin/allocations").text
    ledgers = re.findall(r'href="(/allocations/[0-9a-f-]{36})"', lead.get("/").text)
    assert ledgers
    assert f'href="{PAGE}"' in lead.get(ledgers[0]).text
    # A plain member reads the ledger, without the link to a page they may not see.
    assert f'href="{PAGE}"' not in alice.get(ledgers[0]).text


def test_the_lead_reads_without_forms(app: FastAPI, world: World) -> None:
    page = logged_in(app, world.carol).get(PAGE)
    assert page.status_code == 200 and len(rows(page.text)) == 3
    assert 'name="username"' not in page.text and "/remove" not in page.text
    assert logged_in(app, world.carol).get(f"{PAGE}/{world.bob.id}/remove").status_code == 403


def test_others_are_refused(app: FastAPI, world: World) -> None:
    for who in (world.alice, world.dave, world.rouen_admin):
        assert logged_in(app, who).get(PAGE).status_code == 403
    assert logged_in(app, world.platform).get("/projects/devcluster/nope/members").status_code == 404


def test_adding_by_username(app: FastAPI, world: World, db: Session) -> None:
    admin = logged_in(app, world.caen_admin)
    csrf = csrf_of(admin.get(PAGE).text)
    done = admin.post(PAGE, data={"username": "dave@unicaen.fr", "role": "researcher", "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?added={world.dave.id}"
    page = admin.get(done.headers["location"]).text
    assert "dave@unicaen.fr is now a member." in page and "dave@unicaen.fr" in rows(page)
    assert [a for a, _ in audit_of(db, world.dave)] == ["membership.add"]


def test_adding_refusals_show_the_form_again_and_change_nothing(
    app: FastAPI, world: World, db: Session
) -> None:
    admin = logged_in(app, world.caen_admin)
    csrf = csrf_of(admin.get(PAGE).text)
    for name in ("erin@univ-rouen.fr", "alice@unicaen.fr", *HOSTILE_STRINGS):
        page = admin.post(PAGE, data={"username": name, "role": "researcher", "csrf_token": csrf})
        assert page.status_code in (404, 409, 422), (name, page.status_code)
        assert 'role="alert"' in page.text and "<script" not in page.text.split("<main", 1)[-1].lower()
    no_csrf = admin.post(PAGE, data={"username": "dave@unicaen.fr", "role": "researcher"})
    assert no_csrf.status_code == 403
    rouen = logged_in(app, world.rouen_admin)
    forged = rouen.post(
        PAGE, data={"username": "dave@unicaen.fr", "csrf_token": csrf_of(rouen.get("/").text)}
    )
    assert forged.status_code == 403
    assert audit_of(db, world.dave) == [] and audit_of(db, world.erin) == []


def test_removing_a_member_with_jobs_lists_them_and_needs_the_confirmation(
    app: FastAPI, world: World, db: Session
) -> None:
    admin = logged_in(app, world.caen_admin)
    confirm = admin.get(f"{PAGE}/{world.alice.id}/remove")
    assert confirm.status_code == 200
    text = html.unescape(confirm.text)
    assert "1 job(s) queued and 1 running in caen-climat" in text
    assert "they keep running and are charged to the project unless cancelled" in text
    assert "the member, the project's lead or a platform admin can cancel them" in text
    assert world.pending.id.hex[:8] in text and "4102" in text
    assert f'href="/jobs/{world.running.id}"' in confirm.text
    csrf = csrf_of(confirm.text)
    # The form without its confirmation (a job appeared since, or a forged post): refused, shown again.
    again = admin.post(f"{PAGE}/{world.alice.id}/remove", data={"csrf_token": csrf})
    assert again.status_code == 409 and "4101" in again.text
    assert audit_of(db, world.alice) == []
    done = admin.post(f"{PAGE}/{world.alice.id}/remove", data={"csrf_token": csrf, "confirm": "1"})
    assert done.status_code == 303
    page = html.unescape(admin.get(done.headers["location"]).text)
    assert "alice@unicaen.fr is no longer a member; their 2 job(s) queued or running keep running" in page
    assert "alice@unicaen.fr" not in rows(page)
    db.expire_all()
    assert jobs_repo.get(db, world.running.id).state is JobState.RUNNING  # type: ignore[union-attr]
    assert audit_of(db, world.alice)[-1][1]["jobs_left_running"] == [
        str(world.pending.id),
        str(world.running.id),
    ]


def test_removing_a_member_without_jobs(app: FastAPI, world: World) -> None:
    admin = logged_in(app, world.caen_admin)
    confirm = admin.get(f"{PAGE}/{world.bob.id}/remove")
    assert "has no job queued or running" in confirm.text and 'name="confirm"' not in confirm.text
    done = admin.post(f"{PAGE}/{world.bob.id}/remove", data={"csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303
    assert "bob@unicaen.fr is no longer a member." in admin.get(done.headers["location"]).text


def test_removal_refused_to_others(app: FastAPI, world: World, db: Session) -> None:
    for who in (world.rouen_admin, world.alice, world.carol):
        client = logged_in(app, who)
        csrf = csrf_of(client.get("/").text)
        response = client.post(f"{PAGE}/{world.bob.id}/remove", data={"csrf_token": csrf, "confirm": "1"})
        assert response.status_code in (403, 404)
    assert audit_of(db, world.bob) == []


def test_the_pages_in_french(app: FastAPI, world: World) -> None:
    admin = logged_in(app, world.caen_admin, lang="fr")
    listing = admin.get(PAGE, headers=FRENCH)
    assert "Membres de caen-climat" in listing.text and untranslated(listing.text) == []
    confirm = admin.get(f"{PAGE}/{world.alice.id}/remove", headers=FRENCH)
    assert "continuent de tourner et sont décomptés au projet" in html.unescape(confirm.text)
    assert untranslated(confirm.text) == []
    refused = admin.post(
        PAGE, data={"username": "personne", "csrf_token": csrf_of(listing.text)}, headers=FRENCH
    )
    assert "aucun utilisateur nommé personne" in refused.text and untranslated(refused.text) == []
