"""Issue #15, the header with a long display name in real Chromium: "Alice Martin (Université
de Caen Normandie)" wrapped the French header onto two lines at 1280 px. The header keeps one
line at 1280 px in French and English, for a researcher and for a platform admin (three more
links, now under an Admin list), the name cut with an ellipsis and said whole in its ``title``
and in the account list that holds Log out; at 375 px (a phone) the page does not scroll
sideways, the menu and the account list open on screen. Screenshots (fr/en, 1280/375 px) go to
test-artifacts/screenshots/ and /tmp/shots/header-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myriagate.clock import SystemClock
from myriagate.db.migrate import upgrade
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.services.people import auth as auth_service
from tests.browser.test_browser_first_contact import shot
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
LONG_NAMES = {
    "alice": "Alice Martin (Université de Caen Normandie)",
    "root": "Administratrice de la plateforme (CRIANN, Saint-Étienne-du-Rouvray)",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('header') / 'gateway.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        for username, display_name in LONG_NAMES.items():
            user = users_repo.add(
                session, username=username, cluster_login=username, created_at=SystemClock().now()
            )
            user.display_name = display_name
            user.is_platform_admin = username == "root"
            auth_service.set_password(user, PASSWORD, cost=4)
        session.commit()
    engine.dispose()
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log", worker=False) as gateway:
        yield gateway


def _log_in(browser: Any, live: LiveGateway, username: str, lang: str, width: int) -> Any:
    context = browser.new_context(base_url=live.url, locale=lang, viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def _rows(page: Any, selector: str) -> list[int]:
    """The lines the shown elements of ``selector`` take, as their vertical middles: a wrapped
    header puts some of them on a line of their own, 20 px or more lower."""
    middles = page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.checkVisibility())"
        ".map(e => { const b = e.getBoundingClientRect(); return Math.round((b.top + b.bottom) / 2); })",
    )
    rows: list[int] = []
    for middle in sorted(middles):
        if not rows or middle - rows[-1] > 8:
            rows.append(middle)
    return rows


@pytest.mark.parametrize("username", sorted(LONG_NAMES))
@pytest.mark.parametrize("lang", ["fr-FR", "en-GB"])
def test_the_header_stays_on_one_line_at_1280_px_with_a_long_name(
    browser: Any, live: LiveGateway, screenshot_dir: Path, lang: str, username: str
) -> None:
    page = _log_in(browser, live, username, lang, 1280)
    header = page.locator("header.top")
    who = header.locator(".who")
    shot(page, screenshot_dir, f"header-{username}-{lang[:2]}-1280")
    box = header.bounding_box()
    assert box is not None
    parts = (
        "header.top .brand, header.top nav.wide li, header.top .langs li, header.top .who, header.top button"
    )
    rows = _rows(page, parts)
    assert len(rows) == 1, f"the header's links, language and name take lines at {rows} ({box})"
    assert box["height"] < 60, box
    # The name is cut, not the header widened: the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert who.evaluate("e => e.scrollWidth > e.clientWidth")  # cut with an ellipsis
    expect(who).to_have_attribute("title", LONG_NAMES[username])  # and said whole on hover
    _log_out_is_in_reach(page, 1280)
    if username == "root":  # the admin pages are one click away, under Admin
        admin = header.locator("nav.wide details.admin-links")
        admin.locator("summary").click()
        expect(admin.get_by_role("link", name=re.compile("Audit log|Journal d'audit"))).to_be_visible()
        expect(header.locator("details.account .panel")).to_be_hidden()  # one list open at a time
        page.locator("main h1").click()  # with JavaScript, a click elsewhere closes it
        expect(admin.locator("ul")).to_be_hidden()
        account = header.locator("details.account")
        account.locator("summary").click()
        expect(account.locator(".panel")).to_be_visible()
        page.keyboard.press("Escape")  # and so does Escape
        expect(account.locator(".panel")).to_be_hidden()
        shot(page, screenshot_dir, f"header-{username}-{lang[:2]}-1280-admin")


def _log_out_is_in_reach(page: Any, width: int) -> None:
    """The account list opens under the name: the whole name, then Log out, on screen."""
    account = page.locator("header.top details.account")
    account.locator("summary").click()
    log_out = account.get_by_role("button", name=re.compile("Log out|Se déconnecter"))
    expect(log_out).to_be_visible()
    box = log_out.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert account.locator(".whole-name").inner_text() in LONG_NAMES.values()
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("lang", ["fr-FR", "en-GB"])
def test_the_header_is_usable_on_a_phone_with_a_long_name(
    browser: Any, live: LiveGateway, screenshot_dir: Path, lang: str
) -> None:
    page = _log_in(browser, live, "root", lang, 375)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    header = page.locator("header.top")
    box = header.bounding_box()
    assert box is not None and box["height"] < 100, box  # the Menu, then one row: language, name
    shot(page, screenshot_dir, f"header-root-{lang[:2]}-375")
    menu = page.locator("details.menu")
    menu.locator("summary").click()
    audit = menu.get_by_role("link", name=re.compile("Audit log|Journal d'audit"))
    expect(audit).to_be_visible()
    shot(page, screenshot_dir, f"header-root-{lang[:2]}-375-menu")
    menu.locator("summary").click()
    _log_out_is_in_reach(page, 375)
    shot(page, screenshot_dir, f"header-root-{lang[:2]}-375-account")
