"""Pages: login and logout with the session cookie, CSRF on forms, languages, HTML errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.conftest import MakeUser, assert_problem
from tests.web.pages_helpers import csrf_of, logged_in, page_csrf


def test_a_visitor_is_sent_to_the_login_page_and_back(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, follow_redirects=False)
    response = client.get("/jobs?state=running")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fjobs%3Fstate%3Drunning"
    login = client.get(response.headers["location"])
    assert 'name="next" value="/jobs?state=running"' in login.text
    posted = client.post(
        "/login",
        data={"username": user.username, "password": "correct horse battery staple",
              "csrf_token": csrf_of(login.text), "next": "/jobs?state=running"},
    )  # fmt: skip
    assert posted.status_code == 303
    assert posted.headers["location"] == "/jobs?state=running"
    assert "myriagate_session" in posted.cookies
    assert client.get("/jobs?state=running").status_code == 200


def test_wrong_password_shows_the_form_again_without_a_session(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, follow_redirects=False)
    login = client.get("/login")
    response = client.post(
        "/login", data={"username": user.username, "password": "nope", "csrf_token": csrf_of(login.text)}
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "myriagate_session" not in response.cookies


def test_login_without_its_csrf_cookie_is_refused(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, follow_redirects=False)
    response = client.post(
        "/login",
        data={"username": user.username, "password": "correct horse battery staple", "csrf_token": "forged"},
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "myriagate_session" not in response.cookies


def test_next_cannot_send_the_user_to_another_site(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, follow_redirects=False)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        login = client.get("/login")
        response = client.post(
            "/login",
            data={"username": user.username, "password": "correct horse battery staple",
                  "csrf_token": csrf_of(login.text), "next": target},
        )  # fmt: skip
        assert response.headers["location"] == "/"


def test_logout_needs_the_csrf_token_and_ends_the_session(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    refused = client.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert client.get("/").status_code == 200  # still logged in
    done = client.post("/logout", data={"csrf_token": page_csrf(client, "/")})
    assert done.status_code == 303
    assert client.get("/").status_code == 303  # back to the login page


def test_old_cookie_is_dead_after_logout(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    cookie = client.cookies.get("myriagate_session")
    client.post("/logout", data={"csrf_token": page_csrf(client, "/")})
    other = TestClient(app, follow_redirects=False, cookies={"myriagate_session": cookie})
    assert other.get("/").status_code == 303


def test_language_from_the_browser_and_from_the_switch(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    french = logged_in(app, user, lang="fr-FR,fr;q=0.9,en;q=0.5")
    page = french.get("/")
    assert '<html lang="fr">' in page.text
    assert "Tableau de bord" in page.text
    switched = french.get("/language/en?next=/jobs")
    assert switched.headers["location"] == "/jobs"
    assert "Dashboard" in french.get("/").text
    assert french.get("/language/en?next=//evil.example").headers["location"] == "/"


def test_page_errors_are_html_and_api_errors_stay_problem_json(app: FastAPI, make_user: MakeUser) -> None:
    client = logged_in(app, make_user())
    missing = client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "not_found" in missing.text and missing.headers["x-request-id"] in missing.text
    nowhere = client.get("/no/such/page")
    assert nowhere.status_code == 404 and "text/html" in nowhere.headers["content-type"]
    assert_problem(client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_problem(TestClient(app).get("/api/v1/jobs"), 401, "not_authenticated")


def test_static_assets_are_served_by_the_app(client: TestClient) -> None:
    for path, kind in (("/static/app.css", "text/css"), ("/static/app.js", "javascript"),
                       ("/static/logo.svg", "image/svg+xml")):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_pages_forbid_framing_and_foreign_scripts(app: FastAPI, make_user: MakeUser, db: Session) -> None:
    response = logged_in(app, make_user()).get("/")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text  # no external asset
