"""An origin per interactive session (issue #18, docs/interactive.md "An origin per session"):
with MYRIAGATE_INTERACTIVE_ORIGIN set, Connect goes through a one-time ticket to the session's
own host, which sets a host-only cookie for that session; the session's host serves only that
session, and the gateway never reads its cookie. In process, against a local stand-in for the
app (tests/web/test_interactive_api.py's); the browser test proves it in Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from myriagate.db.models.users import User
from myriagate.settings import Settings
from myriagate.web.interactive_access import AccessCache
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import logged_in
from tests.web.test_interactive_api import TOKEN, _App, _running, _tick, app_server
from tests.web.test_secrets_not_logged import Captured, assert_absent, live_api, production_logs

__all__ = ["app_server", "live_api", "production_logs"]  # the fixtures, by name

ORIGIN = "http://{session}.interactive.localhost:8000"
AuthClient = Callable[[User], TestClient]
pytestmark = pytest.mark.parametrize("settings_overrides", [{"interactive_origin": ORIGIN}])


def _host(session_id: str) -> str:
    return f"http://{session_id}.interactive.localhost:8000"


def _ticket_url(browser: TestClient, session_id: str, path: str = "lab") -> str:
    to_ticket = browser.get(f"/interactive/{session_id}/{path}", follow_redirects=False)
    assert to_ticket.status_code == 303, to_ticket.text
    assert to_ticket.headers["referrer-policy"] == "no-referrer"
    location: str = to_ticket.headers["location"]
    assert location.startswith(f"{_host(session_id)}/_myriagate/connect?session_ticket=")
    return location


def _connected(browser: TestClient, session_id: str, path: str = "lab") -> TestClient:
    """A client of the session's host holding the app cookie, as the browser gets it."""
    app_host = TestClient(browser.app, base_url=_host(session_id), follow_redirects=False)
    redeemed = app_host.get(_ticket_url(browser, session_id, path))
    assert redeemed.status_code == 303, redeemed.text
    assert redeemed.headers["location"] == f"/interactive/{session_id}/{path}"
    return app_host


def test_connect_goes_through_a_ticket_to_a_host_only_cookie_of_the_session(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
) -> None:  # fmt: skip
    alice = make_user(username="alice@unicaen.fr", login="alice")
    started = _running(auth_client(alice), fake_cluster, backends, app, clock, app_server)
    sid = started["id"]
    browser = logged_in(app, alice)
    to_ticket = browser.get(f"/interactive/{sid}/lab?reset=1")
    location = to_ticket.headers["location"]
    assert to_ticket.status_code == 303 and location.startswith(
        f"{_host(sid)}/_myriagate/connect?session_ticket="
    )
    ticket = parse_qs(urlsplit(location).query)["session_ticket"][0]
    assert len(_App.seen) == 0  # nothing reached the app on the gateway's host

    app_host = TestClient(app, base_url=_host(sid), follow_redirects=False)
    redeemed = app_host.get(location)
    assert redeemed.status_code == 303 and redeemed.headers["location"] == f"/interactive/{sid}/lab?reset=1"
    assert redeemed.headers["referrer-policy"] == "no-referrer"
    cookie = redeemed.headers["set-cookie"]
    assert cookie.startswith("myriagate_app_session=") and "Domain" not in cookie
    assert "HttpOnly" in cookie and "Path=/" in cookie and "SameSite=lax" in cookie
    assert ticket not in cookie

    page = app_host.get(f"/interactive/{sid}/lab?reset=1")
    assert page.status_code == 200 and TOKEN not in page.text and ticket not in page.text
    sent = _App.seen[-1]
    assert sent["path"] == f"/interactive/{sid}/lab?reset=1"
    assert sent["headers"]["authorization"] == f"token {TOKEN}"
    assert "myriagate_app_session" not in sent["headers"].get("cookie", "") and ticket not in str(sent)
    status = app_host.get(f"/interactive/{sid}/api/status")
    assert status.status_code == 200 and status.json() == {"path": f"/interactive/{sid}/api/status"}
    changed = app_host.put(
        f"/interactive/{sid}/api/contents/a.txt", content=b"hi", headers={"origin": _host(sid)}
    )
    assert changed.status_code == 200 and _App.seen[-1]["body"] == b"hi"
    other_site = app_host.put(
        f"/interactive/{sid}/api/contents/a.txt", headers={"origin": "http://localhost:8000"}
    )
    assert other_site.status_code == 403


def test_a_ticket_works_once_for_its_own_session_and_only_briefly(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int, client: TestClient,
) -> None:  # fmt: skip
    app.state.clock = clock
    alice = make_user(username="alice@unicaen.fr", login="alice")
    owner = auth_client(alice)
    first = _running(owner, fake_cluster, backends, app, clock, app_server)["id"]
    second = _running(owner, fake_cluster, backends, app, clock, app_server)["id"]
    browser = owner  # a Bearer token: the web session's cookie would expire by the fake clock

    location = _ticket_url(browser, first)
    assert TestClient(app, base_url=_host(first)).get(location, follow_redirects=False).status_code == 303
    replayed = TestClient(app, base_url=_host(first), follow_redirects=False).get(location)
    assert replayed.status_code == 403 and "expired or was used already" in replayed.text
    assert "set-cookie" not in replayed.headers

    elsewhere = _ticket_url(browser, first).replace(_host(first), _host(second))
    assert TestClient(app, follow_redirects=False).get(elsewhere).status_code == 403  # another session's host

    late = _ticket_url(browser, first)
    clock.advance(31)
    assert TestClient(app, follow_redirects=False).get(late).status_code == 403

    fresh = urlsplit(_ticket_url(browser, first))
    ticket = parse_qs(fresh.query)["session_ticket"][0]
    for forged in ("", "x" * 120, ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB"), "%0d%0a"):
        response = TestClient(app, base_url=_host(first), follow_redirects=False).get(
            "/_myriagate/connect", params={"session_ticket": forged}
        )
        assert response.status_code == 403 and "set-cookie" not in response.headers
    assert (
        client.get("/_myriagate/connect", params={"session_ticket": ticket}).status_code == 404
    )  # gateway host


def test_only_the_owner_gets_a_ticket_and_the_session_host_only_its_cookie(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int, client: TestClient,
) -> None:  # fmt: skip
    alice = make_user(username="alice@unicaen.fr", login="alice")
    bob = make_user(username="bob@unicaen.fr", login="bob")
    sid = _running(auth_client(alice), fake_cluster, backends, app, clock, app_server)["id"]
    bobs = _running(auth_client(bob), fake_cluster, backends, app, clock, app_server, login="bob")["id"]
    assert logged_in(app, bob).get(f"/interactive/{sid}/lab").status_code == 404
    assert auth_client(bob).get(f"/interactive/{sid}/lab").status_code == 404
    assert client.get(f"/interactive/{sid}/lab").status_code == 404

    alice_host = _connected(logged_in(app, alice), sid)
    bob_host = _connected(logged_in(app, bob), bobs)
    alice_cookie = alice_host.cookies["myriagate_app_session"]
    seen = len(_App.seen)
    # Nobody gets in on alice's host without her cookie: anonymous, bob's cookie, a forged one.
    anonymous = TestClient(app, base_url=_host(sid), follow_redirects=False)
    assert anonymous.get(f"/interactive/{sid}/lab").status_code == 404
    for cookie in (bob_host.cookies["myriagate_app_session"], "forged", alice_cookie[:-4] + "AAAA"):
        stranger = TestClient(app, base_url=_host(sid), cookies={"myriagate_app_session": cookie})
        assert stranger.get(f"/interactive/{sid}/lab").status_code == 404
    # Alice's cookie on bob's host is not his session's: 404; nor do gateway credentials count there.
    taken = TestClient(app, base_url=_host(bobs), cookies={"myriagate_app_session": alice_cookie})
    assert taken.get(f"/interactive/{bobs}/lab").status_code == 404
    assert auth_client(bob).get(f"{_host(bobs)}/interactive/{bobs}/lab").status_code == 404
    assert len(_App.seen) == seen  # none of those reached an app

    # The session's host serves that session only, never the gateway's own pages or API.
    for path in ("/", "/api/v1/me", "/interactive", f"/interactive/{bobs}/lab", "/login", "/static/app.css"):
        assert alice_host.get(path).status_code == 404, path
    # The gateway never reads the app cookie: on its own host it is no credential.
    cookie_only = TestClient(app, cookies={"myriagate_app_session": alice_cookie})
    assert cookie_only.get("/api/v1/me").status_code == 401
    assert cookie_only.get(f"/interactive/{sid}/lab").status_code == 404
    # With an origin per session the gateway's host serves no app: only the Connect redirect.
    owner = auth_client(alice)
    assert owner.post(f"/interactive/{sid}/api/kernels").status_code == 404
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        owner.websocket_connect(
            f"/interactive/{sid}/api/kernels/k/channels", headers={"origin": "http://testserver"}
        ),
    ):
        pass
    assert denied.value.status_code == 404


def test_an_ended_session_is_refused_on_its_host_once_the_kept_decision_lapses(
    make_user: MakeUser, auth_client: AuthClient, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int,
) -> None:  # fmt: skip
    now = [0.0]
    app.state.interactive_access = AccessCache(ttl_s=2.0, clock=lambda: now[0])
    alice = make_user(username="alice@unicaen.fr", login="alice")
    started = _running(auth_client(alice), fake_cluster, backends, app, clock, app_server)
    app_host = _connected(logged_in(app, alice), started["id"])
    assert app_host.get(f"/interactive/{started['id']}/api/status").status_code == 200
    fake_cluster.set_state(started["slurm_job_id"], "CANCELLED")
    _tick(backends, app, clock)
    now[0] += 2.1  # the kept decision has lapsed: decided afresh, and refused
    assert app_host.get(f"/interactive/{started['id']}/api/status").status_code == 409
    assert app.state.interactive_connections.open_sessions() == []  # its connections closed


def test_neither_the_ticket_nor_the_cookie_nor_the_secret_is_logged(
    make_user: MakeUser, auth_client: AuthClient, token_for: Callable[[User], str], fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, app: FastAPI, clock: FakeClock, app_server: int, live_api: str,
    production_logs: Captured,
) -> None:  # fmt: skip
    """Served by uvicorn with logging as in production (its access log on, at DEBUG)."""
    alice = make_user(username="alice@unicaen.fr", login="alice")
    sid = _running(auth_client(alice), fake_cluster, backends, app, clock, app_server)["id"]
    bearer = {"Authorization": f"Bearer {token_for(alice)}"}
    with httpx.Client(base_url=live_api, headers=bearer, follow_redirects=False) as gateway_host:
        location = httpx.URL(gateway_host.get(f"/interactive/{sid}/lab").headers["location"])
    ticket = parse_qs(location.query.decode())["session_ticket"][0]
    host = {"Host": f"{location.host}:{location.port}"}
    with httpx.Client(base_url=live_api, headers=host, follow_redirects=False) as app_host:
        redeemed = app_host.get(f"{location.path}?{location.query.decode()}")
        assert redeemed.status_code == 303, redeemed.text
        replayed = app_host.get(f"{location.path}?{location.query.decode()}")
        assert replayed.status_code == 403
        cookie = redeemed.headers["set-cookie"].split(";")[0].removeprefix("myriagate_app_session=")
        page = app_host.get(f"/interactive/{sid}/lab", headers={"cookie": f"myriagate_app_session={cookie}"})
        assert page.status_code == 200 and TOKEN not in page.text
    logged = production_logs.text()
    assert "/_myriagate/connect" in logged and f"/interactive/{sid}/lab" in logged  # the requests were logged
    assert_absent(logged, "the gateway", ticket=ticket, app_cookie=cookie, app_token=TOKEN)


@pytest.mark.parametrize(
    "template",
    [
        "https://apps.example.org/{session}",
        "https://{session}apps.example.org",
        "https://x.{session}.example.org",
        "ftp://{session}.apps.example.org",
        "https://{session}.{session}.example.org",
        "https://{session}.apps.example.org/path",
        "https://{session}.apps.example.org?x=1",
        "https://user@{session}.apps.example.org",
        "https://{session}.apps.example.org:99999",
    ],
)
def test_a_bad_origin_setting_is_refused_naming_it(template: str, settings_overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="MYRIAGATE_INTERACTIVE_ORIGIN"):
        Settings(dev_mode=True, interactive_origin=template)
    assert Settings(
        dev_mode=True, interactive_origin=" https://{session}.apps.example.org/ "
    ).interactive_origin


def test_a_session_id_that_is_no_uuid_under_the_apps_domain_is_404(client: TestClient) -> None:
    for host in (
        "http://nope.interactive.localhost:8000",
        f"http://{uuid.uuid4().hex}.interactive.localhost:8000",
    ):
        other = TestClient(client.app, base_url=host)
        assert other.get("/api/v1/me").status_code == 404
        assert other.get("/_myriagate/connect?session_ticket=x").status_code == 404
