"""Issue #18, "Known problems" item 2: cookie tossing from a sibling app host.

With interactive apps served from hosts under the gateway's host name
(``{session}.apps.myriagate.example``), a script on an app's host can set a cookie with
``Domain=`` the parent domain, and the browser then sends it to the gateway. A tossed
``myriagate_session`` holding bob's session made alice's browser bob's on the gateway; a tossed
``myriagate_login_csrf`` let the app's page post the login form as bob (login CSRF: same
outcome). When cookies are secure, both are named ``__Host-…`` (``Path=/``, ``Secure``, no
``Domain``: browsers refuse such a cookie from any other host) and the plain names are never
read. In dev mode (plain http, insecure cookies) nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.logs import redact_text
from myriagate.web import auth
from myriagate.web.interactive_proxy import app_cookies
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import PASSWORD, MakeUser, assert_problem
from tests.web.pages_helpers import csrf_of
from tests.web.test_interactive_api import _App, _running, app_server

__all__ = ["app_server"]  # the fixture, by name
API = "/api/v1"
HTTPS = "https://testserver"  # httpx sends a Secure cookie over https only, as browsers do
SECURE = {"cookie_secure": True}
AuthClient = Callable[[User], TestClient]


def _cookie_value(app: FastAPI, user: User) -> str:
    """A live web session of ``user``, opened as bob opens his own (to toss it into alice's
    browser): the value of the cookie ``POST /sessions`` sets, whatever its name."""
    response = TestClient(app, base_url=HTTPS).post(
        API + "/sessions", json={"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    header: str = response.headers["set-cookie"]
    return header.split(";", 1)[0].split("=", 1)[1]


def _set_cookies(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]


def _attributes(header: str) -> tuple[str, set[str]]:
    """The cookie's name and its attributes, lowercased (``path=/``, ``secure``...)."""
    first, *rest = (part.strip() for part in header.split(";"))
    return first.split("=", 1)[0], {part.lower() for part in rest}


@pytest.mark.parametrize("settings_overrides", [SECURE])
def test_with_secure_cookies_the_session_cookie_is_a_host_cookie(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, base_url=HTTPS)
    response = client.post(API + "/sessions", json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    (header,) = _set_cookies(response)
    name, attributes = _attributes(header)
    assert name == "__Host-myriagate_session"
    assert {"path=/", "secure", "httponly", "samesite=lax"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    assert client.get(API + "/me").json()["username"] == user.username

    csrf = response.json()["csrf_token"]
    ended = client.request("DELETE", API + "/sessions", headers={"X-CSRF-Token": csrf})
    assert ended.status_code == 204
    (cleared,) = _set_cookies(ended)
    name, attributes = _attributes(cleared)
    # A browser ignores a deletion of a __Host- cookie that lacks Secure or Path=/.
    assert name == "__Host-myriagate_session" and {"path=/", "secure", "max-age=0"} <= attributes


@pytest.mark.parametrize("settings_overrides", [SECURE, {"dev_mode": False, "secret_key": "k" * 40}])
def test_a_tossed_plain_session_cookie_logs_nobody_in(app: FastAPI, make_user: MakeUser) -> None:
    bob = make_user(username="bob")
    tossed = _cookie_value(app, bob)
    plain = TestClient(app, base_url=HTTPS, follow_redirects=False, cookies={"myriagate_session": tossed})
    assert_problem(plain.get(API + "/me"), 401)
    assert plain.get("/jobs").status_code == 303  # the pages send it to the login form

    alice = make_user(username="alice")
    both = {"cookie": f"__Host-myriagate_session={_cookie_value(app, alice)}; myriagate_session={tossed}"}
    assert TestClient(app, base_url=HTTPS).get(API + "/me", headers=both).json()["username"] == "alice"


@pytest.mark.parametrize("settings_overrides", [SECURE])
def test_a_tossed_login_csrf_cookie_cannot_log_the_browser_in_as_someone_else(
    app: FastAPI, make_user: MakeUser
) -> None:
    bob = make_user(username="bob")
    # An app page's script set myriagate_login_csrf=known on the parent domain, then posted
    # the login form with bob's password and that value.
    browser = TestClient(app, base_url=HTTPS, follow_redirects=False)
    posted = browser.post(
        "/login",
        data={"username": bob.username, "password": PASSWORD, "csrf_token": "known"},
        headers={"cookie": "myriagate_login_csrf=known"},
    )
    assert posted.status_code == 403
    assert not _set_cookies(posted)

    page = browser.get("/login")
    (header,) = _set_cookies(page)
    name, attributes = _attributes(header)
    assert name == "__Host-myriagate_login_csrf"
    assert {"path=/", "secure", "httponly", "samesite=strict"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    logged = browser.post("/login", data={"username": bob.username, "password": PASSWORD,
                                          "csrf_token": csrf_of(page.text)})  # fmt: skip
    assert logged.status_code == 303, logged.text
    names = [_attributes(h)[0] for h in _set_cookies(logged)]
    assert names == ["__Host-myriagate_session", "__Host-myriagate_login_csrf"]  # set, and cleared
    assert browser.get(API + "/me").json()["username"] == "bob"


def test_in_dev_mode_the_cookies_keep_their_plain_names(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login")
    name, attributes = _attributes(_set_cookies(page)[0])
    assert name == "myriagate_login_csrf" and "secure" not in attributes
    logged = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": csrf_of(page.text)}
    )
    assert logged.status_code == 303, logged.text
    name, attributes = _attributes(_set_cookies(logged)[0])
    assert name == "myriagate_session" and "secure" not in attributes and "path=/" in attributes
    assert client.get(API + "/me").json()["username"] == user.username
    assert "__Host-myriagate_session" not in client.cookies


def test_the_name_in_force_follows_the_settings(web_settings: Any) -> None:
    assert auth.session_cookie_name(web_settings) == "myriagate_session"  # dev mode
    secure = web_settings.model_copy(update={"cookie_secure": True})
    assert auth.session_cookie_name(secure) == "__Host-myriagate_session"
    assert auth.cookie_name("myriagate_login_csrf", secure) == "__Host-myriagate_login_csrf"


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        ("__Host-myriagate_session=SECRET; other=1", "other=1"),
        ("myriagate_session=SECRET; __Host-myriagate_session=SECRET; _xsrf=2|ab", "_xsrf=2|ab"),
        ("__Host-myriagate_login_csrf=S; __Secure-myriagate_x=S; __host-myriagate_session=S; a=1", "a=1"),
        ("__Host-myriagate_app_session=SECRET; myriagate_lang=fr; b=2", "b=2"),
    ],
)  # fmt: skip
def test_the_proxy_keeps_the_gateways_cookies_under_every_name(sent: str, passed: str) -> None:
    assert "; ".join(app_cookies(sent)) == passed


@pytest.mark.parametrize("settings_overrides", [SECURE])
def test_through_the_proxy_only_the_host_cookie_counts_and_neither_name_reaches_the_app(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
) -> None:  # fmt: skip
    alice = make_user(username="alice@unicaen.fr", login="alice")
    started = _running(auth_client(alice), fake_cluster, backends, app, clock, app_server)
    url = f"/interactive/{started['id']}/api/status"
    alices = _cookie_value(app, alice)
    browser = TestClient(app, base_url=HTTPS)

    seen = len(_App.seen)
    tossed = browser.get(url, headers={"cookie": f"myriagate_session={alices}"})
    assert tossed.status_code == 404, tossed.text  # a plain cookie is nobody in a secure deployment
    assert len(_App.seen) == seen  # and nothing reached the app

    answer = browser.get(
        url, headers={"cookie": f"__Host-myriagate_session={alices}; myriagate_session=x; y=1"}
    )
    assert answer.status_code == 200, answer.text
    assert _App.seen[-1]["headers"].get("cookie") == "y=1"


def test_the_logs_blank_the_prefixed_cookie() -> None:
    line = redact_text("cookie: __Host-myriagate_session=abcdefghijkl1234; myriagate_lang=fr")
    assert "abcdefghijkl1234" not in line and "myriagate_lang=fr" in line


@pytest.mark.parametrize(
    "settings_overrides",
    [{"cookie_secure": True, "interactive_origin": "https://{session}.apps.myriagate.example"}],
)
def test_on_a_sessions_host_only_the_host_app_cookie_counts(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
) -> None:  # fmt: skip
    alice = make_user(username="alice@unicaen.fr", login="alice")
    owner = auth_client(alice)
    sid = _running(owner, fake_cluster, backends, app, clock, app_server)["id"]
    host = f"https://{sid}.apps.myriagate.example"
    to_ticket = owner.get(f"/interactive/{sid}/api/status", follow_redirects=False)
    assert to_ticket.status_code == 303, to_ticket.text
    redeemed = TestClient(app, base_url=host).get(to_ticket.headers["location"], follow_redirects=False)
    assert redeemed.status_code == 303, redeemed.text
    (header,) = _set_cookies(redeemed)
    name, attributes = _attributes(header)
    assert name == "__Host-myriagate_app_session"
    assert {"path=/", "secure", "httponly"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    value = header.split(";", 1)[0].split("=", 1)[1]

    url = f"/interactive/{sid}/api/status"
    seen = len(_App.seen)
    plain = TestClient(app, base_url=host).get(url, headers={"cookie": f"myriagate_app_session={value}"})
    assert plain.status_code == 404 and len(_App.seen) == seen
    passed = TestClient(app, base_url=host).get(
        url, headers={"cookie": f"__Host-myriagate_app_session={value}"}
    )
    assert passed.status_code == 200, passed.text
    assert "myriagate" not in _App.seen[-1]["headers"].get("cookie", "")
