"""Issue #18 in Chromium: with an origin per session, a script in the app's page cannot use the
owner's gateway session (docs/interactive.md, "An origin per session").

A live gateway and worker over the dev cluster with
``MYRIAGATE_INTERACTIVE_ORIGIN=http://{session}.interactive.localhost:<port>`` (Chromium resolves
every ``*.localhost`` name to loopback). alice signs in at ``http://localhost:<port>``, opens her
running JupyterLab session by the gateway's link, and lands on the session's own host through
the one-time ticket; a notebook runs a cell there (HTTP and WebSocket through the session's
host). Then a script run in JupyterLab's page tries the gateway: reading its API or a page with
the owner's credentials fails (cross-origin, no CORS), a change (creating a token) is blocked
and creates nothing, the session's host serves no gateway route, and no cookie of the gateway
or of the session is visible to the script. The ticket is in no request's Referer nor in the
address bar.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from myriagate.db.models.auth import ApiToken
from myriagate.db.session import make_engine, make_session_factory
from myriagate.settings import Settings
from tests.browser.live_stack import seed_alice
from tests.browser.test_browser_first_contact import shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slurm]

PASSWORD = "origin-test-password-1"

# Run in the app's page (the session's origin) with the gateway's address.
PROBE = """async (gateway) => {
  const out = {};
  try {
    const r = await fetch(gateway + "/api/v1/me", {credentials: "include"});
    out.read = "read " + r.status + " " + (await r.text()).slice(0, 80);
  } catch (e) { out.read = "blocked " + e.name; }
  try {
    const r = await fetch(gateway + "/api/v1/me", {credentials: "include", mode: "no-cors"});
    out.opaque = r.type + " " + r.status + " " + (await r.text()).length;
  } catch (e) { out.opaque = "blocked " + e.name; }
  try {
    const r = await fetch(gateway + "/api/v1/tokens", {method: "POST", credentials: "include",
      headers: {"content-type": "application/json"}, body: JSON.stringify({name: "stolen"})});
    out.change = "sent " + r.status;
  } catch (e) { out.change = "blocked " + e.name; }
  const frame = document.createElement("iframe");
  frame.src = gateway + "/jobs";
  document.body.appendChild(frame);
  await new Promise((done) => { frame.onload = done; setTimeout(done, 5000); });
  try { out.frame = "read " + frame.contentDocument.body.innerText.slice(0, 80); }
  catch (e) { out.frame = "blocked " + e.name; }
  out.own = (await fetch("/api/v1/me", {credentials: "include"})).status;
  out.cookies = document.cookie;
  return out;
}"""


@pytest.fixture(scope="module")
def live(
    gateway_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveGateway, str, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('origin') / 'gateway.db'}"
    token = seed_alice(database_url, PASSWORD, "origin-browser-test")
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(gateway_settings.ssh_ca_key_path),
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_ENFORCE_ALLOCATIONS": "false",
        "MYRIAGATE_POLL_MIN_S": "1",
        "MYRIAGATE_POLL_MAX_S": "2",
    }
    gateway = LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log")
    port = gateway.url.rsplit(":", 1)[1]
    gateway.env["MYRIAGATE_INTERACTIVE_ORIGIN"] = f"http://{{session}}.interactive.localhost:{port}"
    with gateway:
        yield gateway, database_url, token


def _running_session(api: httpx.Client) -> dict[str, Any]:
    started = api.post(
        "/api/v1/interactive/sessions",
        json={"app": "jupyter", "options": {"partition": "debug", "time": "0:10:00"}},
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 90
    while True:
        found: dict[str, Any] = api.get(f"/api/v1/interactive/sessions/{started.json()['id']}").json()
        if found["state"] == "running":
            return found
        assert found["state"] != "ended" and time.monotonic() < deadline, found
        time.sleep(0.5)


def _tokens(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) or 0)
    finally:
        engine.dispose()


def test_a_script_in_the_apps_page_cannot_use_the_owners_gateway_session(
    browser: Any, live: tuple[LiveGateway, str, str], screenshot_dir: Path
) -> None:
    gateway, database_url, token = live
    port = gateway.url.rsplit(":", 1)[1]
    site = f"http://localhost:{port}"
    api = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    session = _running_session(api)
    sid = session["id"]
    app_origin = f"http://{sid}.interactive.localhost:{port}"
    try:
        context = browser.new_context(base_url=site, locale="en-GB", viewport={"width": 1280, "height": 900})
        referers: list[str] = []
        context.on("request", lambda r: referers.append(r.headers.get("referer", "")))
        page = context.new_page()
        page.goto("/login")
        page.locator("#username").fill("alice")
        page.locator("#password").fill(PASSWORD)
        page.locator("form[action='/login'] button[type=submit]").click()
        page.wait_for_url(re.compile(r"/$"))

        # The Connect link's address (?reset: a fresh workspace, whatever alice's last one was).
        page.goto(f"/interactive/{sid}/lab?reset")
        page.wait_for_url(re.compile(rf"^{re.escape(app_origin)}/interactive/{sid}/lab"), timeout=30_000)
        assert "ticket" not in page.url
        page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=60_000)
        # Its kernel connected (over the session host's WebSocket) before the cell is run.
        expect(page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle")).to_be_visible(timeout=60_000)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .cm-content").first.click(timeout=30_000)
        page.keyboard.insert_text("print(6 * 7)")
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").first
        expect(output).to_contain_text("42", timeout=60_000)  # the kernel's WebSocket on the session's host
        shot(page, screenshot_dir, "interactive-origin-notebook")

        tokens_before = _tokens(database_url)
        probe = page.evaluate(PROBE, site)
        print(f"a script in the app's page, against the gateway: {probe}")
        assert probe["read"].startswith("blocked"), probe  # no CORS: the answer cannot be read
        assert probe["opaque"].startswith("opaque 0 0"), probe  # no-cors: nothing readable either
        assert probe["change"].startswith("blocked"), probe  # a JSON POST needs a preflight: refused
        assert probe["frame"].startswith("blocked"), probe  # another origin's document
        assert probe["own"] == 404, probe  # the session's host serves no gateway route
        assert "myriagate" not in probe["cookies"], probe  # HttpOnly, and the gateway's is not here
        assert _tokens(database_url) == tokens_before  # nothing was created in alice's name
        assert not [r for r in referers if "ticket" in r], referers
    finally:
        api.delete(f"/api/v1/interactive/sessions/{sid}")
        if session.get("slurm_job_id"):
            subprocess.run(["scancel", session["slurm_job_id"]], check=False)
        api.close()
