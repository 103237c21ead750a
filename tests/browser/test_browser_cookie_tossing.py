"""Issue #18, "Known problems" item 2, in Chromium: a page on a sibling host cannot make the
browser somebody else's on the gateway (cookie tossing).

A live gateway with secure cookies (``MYRIAGATE_COOKIE_SECURE=true``) at
``http://myriagate.localhost:<port>``: Chromium takes ``Secure`` and ``__Host-`` cookies from a
``*.localhost`` origin over plain http, as it would over https, so no certificate is needed. A
stand-in for an app's host, ``http://app1.apps.myriagate.localhost:<port>``, serves a page whose
script tosses cookies onto the parent domain ``myriagate.localhost`` (as a script in a JupyterLab
page could, with the apps under the gateway's host name):

- bob's own session cookie, under the plain name and under the ``__Host-`` one (the browser
  refuses the latter: a ``__Host-`` cookie cannot carry a ``Domain``); alice, signed in, stays
  alice on the gateway;
- a login form's CSRF cookie of a value it knows, then the gateway's login form posted with
  bob's password and that value: refused (403), alice stays alice.

Before the fix, both made alice's browser bob's on the gateway. No cluster is needed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.clock import SystemClock
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.services.people import auth as auth_service
from tests.browser.live_stack import seed_alice
from tests.browser.test_browser_first_contact import shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

pytestmark = pytest.mark.browser

PASSWORD = "tossing-test-password-1"

# Run on the app's host: cookies for the whole parent domain, as a page there can set them.
TOSS = """([name, value, path]) => {
  document.cookie = `${name}=${value}; Domain=myriagate.localhost; Path=${path}`;
  document.cookie = `__Host-${name}=${value}; Domain=myriagate.localhost; Path=/; Secure`;
}"""
# Run on the app's host: the gateway's login form, posted as bob with a value the page knows.
LOGIN_AS_BOB = """([action, password]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  for (const [name, value] of [["username", "bob"], ["password", password], ["csrf_token", "known"]]) {
    const field = document.createElement("input");
    field.name = name;
    field.value = value;
    form.appendChild(field);
  }
  document.body.appendChild(form);
  form.submit();
}"""


class _AppHost(BaseHTTPRequestHandler):
    """The sibling host's page: nothing but a place for the script to run."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>app</title><p>an app's page</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The gateway's address at myriagate.localhost (Chromium resolves it), the app host's, and
    the gateway's at 127.0.0.1 (for httpx, which does not)."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('tossing') / 'gateway.db'}"
    seed_alice(database_url, PASSWORD, "tossing-browser-test")
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        bob = users_repo.add(session, username="bob", cluster_login="bob", created_at=SystemClock().now())
        auth_service.set_password(bob, PASSWORD)
        session.commit()
    engine.dispose()
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_COOKIE_SECURE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
    }
    app_host = ThreadingHTTPServer(("127.0.0.1", 0), _AppHost)
    threading.Thread(target=app_host.serve_forever, daemon=True).start()
    try:
        with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log", worker=False) as gateway:
            port = gateway.url.rsplit(":", 1)[1]
            yield (
                f"http://myriagate.localhost:{port}",
                f"http://app1.apps.myriagate.localhost:{app_host.server_port}",
                gateway.url,
            )
    finally:
        app_host.shutdown()


def _bobs_session(api: str) -> str:
    """bob's own web session: the cookie value he would toss into alice's browser."""
    opened = httpx.post(f"{api}/api/v1/sessions", json={"username": "bob", "password": PASSWORD})
    assert opened.status_code == 201, opened.text
    header: str = opened.headers["set-cookie"]
    return header.split(";", 1)[0].split("=", 1)[1]


def _alice_signed_in(browser: Any, gateway: str) -> tuple[Any, Any]:
    context = browser.new_context(base_url=gateway, locale="en-GB")
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return context, page


def _who(page: Any) -> str:
    answer = page.goto("/api/v1/me")
    body: dict[str, Any] = answer.json()
    return str(body.get("username", answer.status))


def test_a_session_cookie_tossed_from_an_app_host_does_not_change_who_alice_is(
    browser: Any, live: tuple[str, str, str], screenshot_dir: Path
) -> None:
    gateway, app_host, api = live
    context, page = _alice_signed_in(browser, gateway)
    assert _who(page) == "alice"

    page.goto(app_host)
    page.evaluate(TOSS, ["myriagate_session", _bobs_session(api), "/"])
    tossed = [c["name"] for c in context.cookies() if c["domain"] == ".myriagate.localhost"]
    assert tossed == ["myriagate_session"]  # the __Host- one was refused: it had a Domain

    assert _who(page) == "alice"  # before the fix: bob
    own = [c["name"] for c in context.cookies() if c["domain"] == "myriagate.localhost"]
    assert "__Host-myriagate_session" in own and "myriagate_session" not in own
    page.goto("/")
    shot(page, screenshot_dir, "cookie-tossing-still-alice")
    context.close()


def test_a_login_csrf_cookie_tossed_from_an_app_host_cannot_sign_alice_in_as_bob(
    browser: Any, live: tuple[str, str, str]
) -> None:
    gateway, app_host, _ = live
    context, page = _alice_signed_in(browser, gateway)
    page.goto(app_host)
    page.evaluate(TOSS, ["myriagate_login_csrf", "known", "/login"])
    with page.expect_navigation() as posted:
        page.evaluate(LOGIN_AS_BOB, [f"{gateway}/login", PASSWORD])
    assert posted.value.status == 403
    assert _who(page) == "alice"
    context.close()
