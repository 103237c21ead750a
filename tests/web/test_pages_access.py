"""Pages: who may reach what (every page and form, tried by users who must not), CSRF refusals
that change nothing, and hostile markup shown back escaped in every displayed field."""

from __future__ import annotations

import html
import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy.orm import Session

from myriagate.db.models.allocations import InstitutionQuota, LedgerEntry
from myriagate.db.models.auth import ApiToken
from myriagate.db.repos import projects as projects_repo
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.hostile import XSS_STRINGS
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in, page_csrf
from tests.web.test_pages_jobs import grant_hours, submit_page

PAGES = [
    "/",
    "/jobs",
    "/submit",
    "/tokens",
    "/cluster",
    "/reports/usage",
    "/admin/allocations",
    "/admin/audit",
]
FORMS = ["/logout", "/submit", "/submit/estimate", "/tokens", "/admin/quotas", "/admin/grants"]


def counts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    return tuple(  # type: ignore[return-value]
        db.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        for model in (LedgerEntry, InstitutionQuota, ApiToken)
    )


def assert_escaped(text: str) -> None:
    for hostile in XSS_STRINGS:
        if "<" in hostile or '"' in hostile:
            assert hostile not in text, hostile
    assert not re.search(r"""(href|src)=["']?javascript:""", text)
    assert "<script>alert" not in text


def test_anonymous_visitors_reach_no_page_and_no_form(client: TestClient) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    for path in [
        *PAGES,
        f"/jobs/{uuid.uuid4()}",
        f"/allocations/{uuid.uuid4()}",
        "/reports/usage.csv?month=2026-01",
    ]:
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    for path in [*FORMS, f"/jobs/{uuid.uuid4()}/cancel", f"/tokens/{uuid.uuid4()}/revoke"]:
        response = anonymous.post(path, data={"csrf_token": "x"})
        assert response.status_code == 401, path
        assert "text/html" in response.headers["content-type"]


def test_researchers_do_not_reach_admin_pages_or_forms(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    client = logged_in(app, make_user())
    grant_hours(db, clock, "caen-climat", 100)
    before = counts(db)
    assert client.get("/admin/allocations").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    csrf = page_csrf(client, "/")
    assert (
        client.post(
            "/admin/grants",
            data={"csrf_token": csrf, "account": "caen-climat", "core_hours": "5", "reason": "mine"},
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/admin/quotas",
            data={
                "csrf_token": csrf,
                "institution": "unicaen",
                "period_id": str(uuid.uuid4()),
                "quota_core_hours": "9",
            },
        ).status_code
        == 403
    )
    assert counts(db) == before
    # The admin links are not offered either (no link to a refused page).
    home = client.get("/").text
    assert "/admin/allocations" not in home and "/admin/audit" not in home


def test_someone_elses_job_is_not_found_and_cannot_be_cancelled(
    app: FastAPI, make_user: MakeUser, fake_cluster: object
) -> None:
    owner = logged_in(app, make_user())
    job_url = submit_page(owner).headers["location"]
    stranger = logged_in(app, make_user(accounts=["rouen-chimie"], institution="univ-rouen"))
    assert stranger.get(job_url).status_code == 404
    refused = stranger.post(f"{job_url}/cancel", data={"csrf_token": page_csrf(stranger, "/")})
    assert refused.status_code == 404
    # A university admin of the job's institution sees it, read-only: no button, and a 403.
    admin = logged_in(app, make_user("university_admin", institution="unicaen"))
    page = admin.get(job_url)
    assert (
        page.status_code == 200 and "Cancel this job" not in page.text and "Standard output" not in page.text
    )
    assert admin.post(f"{job_url}/cancel", data={"csrf_token": page_csrf(admin, "/")}).status_code == 403
    assert "Cancel this job" in owner.get(job_url).text


def test_university_admins_grant_only_in_their_institution_and_never_set_quotas(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    make_user()
    grant_hours(db, clock, "caen-climat", 100)
    make_user(accounts=["rouen-chimie"], institution="univ-rouen")
    admin = logged_in(app, make_user("university_admin", institution="unicaen"))
    app.state.clock = clock
    page = admin.get("/admin/allocations")
    assert page.status_code == 200 and "rouen-chimie" not in page.text and "Set a quota" not in page.text
    csrf = page_csrf(admin, "/admin/allocations")
    before = counts(db)
    other = admin.post(
        "/admin/grants",
        data={"csrf_token": csrf, "account": "rouen-chimie", "core_hours": "5", "reason": "not mine"},
    )
    assert other.status_code in (403, 422)
    assert admin.post("/admin/quotas", data={"csrf_token": csrf}).status_code == 403
    assert counts(db) == before
    ok = admin.post(
        "/admin/grants",
        data={"csrf_token": csrf, "account": "caen-climat", "core_hours": "5", "reason": "top-up"},
    )
    assert ok.status_code == 303
    assert counts(db)[0] == before[0] + 1


def test_platform_admin_sets_a_quota_and_grants_and_the_researcher_sees_it(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock
) -> None:
    researcher = logged_in(app, make_user())
    grant_hours(db, clock, "caen-climat", 100)
    admin = logged_in(app, make_user("platform_admin"))
    app.state.clock = clock
    page = admin.get("/admin/allocations")
    period_id = re.search(r'<option value="([0-9a-f-]{36})"', page.text).group(1)  # type: ignore[union-attr]
    csrf = page_csrf(admin, "/admin/allocations")
    wrong_csrf = admin.post(
        "/admin/grants",
        data={"csrf_token": "nope", "account": "caen-climat", "core_hours": "50", "reason": "x"},
    )
    assert wrong_csrf.status_code == 403
    missing_csrf = admin.post(
        "/admin/grants", data={"account": "caen-climat", "core_hours": "50", "reason": "x"}
    )
    assert missing_csrf.status_code == 403
    assert "remaining 100 of 100 CPU-h" in researcher.get("/").text
    bad = admin.post(
        "/admin/grants",
        data={"csrf_token": csrf, "account": "caen-climat", "core_hours": "-3", "reason": "x"},
    )
    assert bad.status_code == 422 and 'id="core_hours-error"' in bad.text
    assert (
        admin.post(
            "/admin/quotas",
            data={
                "csrf_token": csrf,
                "institution": "unicaen",
                "period_id": period_id,
                "quota_core_hours": "5000",
            },
        ).status_code
        == 303
    )
    assert (
        admin.post(
            "/admin/grants",
            data={"csrf_token": csrf, "account": "caen-climat", "core_hours": "50", "reason": "more"},
        ).status_code
        == 303
    )
    assert "remaining 150 of 150 CPU-h" in researcher.get("/").text
    assert "allocation.grant" in admin.get("/admin/audit").text
    assert "5,000" in admin.get("/admin/allocations").text


def test_a_token_made_on_the_page_works_with_the_api_and_revoking_it_stops_it(
    app: FastAPI, make_user: MakeUser, db: Session
) -> None:
    client = logged_in(app, make_user())
    assert client.post("/tokens", data={"csrf_token": "bad", "name": "laptop"}).status_code == 403
    assert counts(db)[2] == 0
    created = client.post(
        "/tokens", data={"csrf_token": page_csrf(client), "name": "laptop", "expires_in_days": "30"}
    )
    line = re.search(r'id="login-line">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    secret = html.unescape(line).split("--token ")[1].strip()
    assert html.unescape(line).startswith("myriagate login --url http://testserver --token mgt_")
    api = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/v1/me").status_code == 200
    token_id = re.search(r'action="/tokens/([0-9a-f-]{36})/revoke"', client.get("/tokens").text).group(1)  # type: ignore[union-attr]
    other = logged_in(app, make_user())
    assert other.post(f"/tokens/{token_id}/revoke", data={"csrf_token": page_csrf(other)}).status_code == 404
    assert api.get("/api/v1/me").status_code == 200
    assert (
        client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": page_csrf(client)}).status_code == 303
    )
    assert api.get("/api/v1/me").status_code == 401
    too_long = client.post(
        "/tokens", data={"csrf_token": page_csrf(client), "name": "x", "expires_in_days": "9999"}
    )
    assert 'id="expires_in_days-error"' in too_long.text


@pytest.mark.parametrize("hostile", XSS_STRINGS)
def test_hostile_markup_is_shown_escaped_everywhere(
    app: FastAPI, make_user: MakeUser, db: Session, clock: FakeClock, hostile: str
) -> None:
    projects_repo.add_institution(db, code="evil", name=hostile)
    projects_repo.add_project(
        db,
        cluster=CLUSTER,
        slurm_account="evil-proj",
        institution="evil",
        created_at=clock.now(),
        name=hostile,
    )
    db.commit()
    user = make_user()
    client = logged_in(app, user)
    # Job name and template parameter, whether the submission is accepted or refused.
    submitted = submit_page(client, job_name=hostile, param_message=hostile)
    assert_escaped(submitted.text)
    script = submit_page(client, mode="script", script=f"#!/bin/bash\necho {hostile}\n", job_name=hostile)
    assert_escaped(script.text)
    for response in (submitted, script):
        if response.status_code == 303:
            job_page = client.get(response.headers["location"])
            assert_escaped(job_page.text)
            assert html.escape(hostile, quote=False) in job_page.text or "&#" in job_page.text
    assert_escaped(client.get("/jobs").text)
    assert_escaped(client.get("/").text)
    refused_param = submit_page(client, param_repeat=hostile)
    assert refused_param.status_code == 422
    assert_escaped(refused_param.text)
    # Token names, on the tokens page and in the audit log.
    client.post("/tokens", data={"csrf_token": page_csrf(client), "name": hostile[:100]})
    tokens = client.get("/tokens").text
    assert_escaped(tokens)
    assert str(escape(hostile[:100])) in tokens  # shown, as text
    admin = logged_in(app, make_user("platform_admin"))
    for path in ("/admin/allocations", "/admin/audit", "/jobs", f"/jobs?project={hostile}"):
        assert_escaped(admin.get(path).text)
    # Values sent back in a refused admin form, and in the error page.
    grant = admin.post(
        "/admin/grants",
        data={
            "csrf_token": page_csrf(admin, "/admin/audit"),
            "account": hostile,
            "core_hours": hostile,
            "reason": hostile,
        },
    )
    assert grant.status_code == 422
    assert_escaped(grant.text)
    assert_escaped(admin.get(f"/reports/usage?month={hostile}").text)
    assert_escaped(client.get(f"/login?next={hostile}").text)
