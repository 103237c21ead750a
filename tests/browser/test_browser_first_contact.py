"""Issue #15, first contact in real Chromium (a live gateway on a free port, no cluster needed):
the dashboard's notices dismissed with and without JavaScript, and the header on one line in
French at 1280 px, folded into a Menu that opens at 390 px. Screenshots (EN/FR, 1280/390 px)
go to test-artifacts/screenshots/ and /tmp/shots/first-*.png."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myriagate.clock import SystemClock
from myriagate.db.migrate import upgrade
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.states import JobState
from myriagate.services.people import auth as auth_service
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER
from tests.web.test_dashboard_notices import Minutes, ended_job

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SHOTS = Path("/tmp/shots")
RUNS = (("demo-hello", JobState.COMPLETED), ("demo-long", JobState.COMPLETED), ("demo-long", JobState.FAILED))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('first') / 'gateway.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        for name in ("alice", "bob"):
            user = users_repo.add(session, username=name, cluster_login=name, created_at=SystemClock().now())
            user.display_name = "Alice Martin" if name == "alice" else "Bob Lefèvre"
            auth_service.set_password(user, PASSWORD, cost=4)
            session.commit()
            clock = Minutes()
            for _run in range(3):
                for job_name, state in RUNS:
                    ended_job(session, user, clock, job_name, state)
    engine.dispose()
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log", worker=False) as gateway:
        yield gateway


def log_in(browser: Any, live: LiveGateway, username: str, *, js: bool = True, lang: str = "en-GB",
           width: int = 1280) -> Any:  # fmt: skip
    context = browser.new_context(
        base_url=live.url, locale=lang, java_script_enabled=js, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return page


def shot(page: Any, screenshot_dir: Path, name: str) -> None:
    path = screenshot_dir / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / f"{name}.png")


def test_notices_are_grouped_and_dismissed_in_place_with_javascript(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "alice")
    notices = page.locator("#notices .notice.job")
    expect(notices).to_have_count(3)  # nine runs: three names and outcomes
    expect(notices.first).to_contain_text("Job demo-long failed.")
    expect(notices.first).to_contain_text("Earlier runs that ended the same way: 2.")
    shot(page, screenshot_dir, "first-dashboard-en-1280")
    page.evaluate("window.notReloaded = true")
    notices.first.get_by_role("button", name=re.compile("^Dismiss")).click()
    expect(notices).to_have_count(2)
    assert page.evaluate("window.notReloaded") is True  # removed in place, no navigation
    page.get_by_role("button", name="Dismiss all job notices").click()
    expect(notices).to_have_count(0)
    expect(page.locator("#notices")).to_contain_text("Nothing new.")
    page.reload()
    expect(page.locator("#notices .notice.job")).to_have_count(0)


def test_notices_are_dismissed_without_javascript_and_the_header_fits(
    browser: Any, live: LiveGateway, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "bob", js=False, lang="fr-FR")
    header = page.locator("header.top")
    box = header.bounding_box()
    assert box is not None and box["height"] < 60, box  # one line at 1280 px, in French
    shot(page, screenshot_dir, "first-dashboard-fr-1280")
    notices = page.locator("#notices .notice.job")
    expect(notices).to_have_count(3)
    expect(notices.nth(1)).to_contain_text("Le job demo-long est terminé.")
    notices.nth(1).get_by_role("button", name=re.compile("^Masquer")).click()
    page.wait_for_url(re.compile(r"/$"))
    expect(notices).to_have_count(2)
    expect(page.locator("#notices")).not_to_contain_text("Le job demo-long est terminé.")

    phone = log_in(browser, live, "bob", js=False, lang="fr-FR", width=390)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    menu = phone.locator("details.menu")
    expect(menu.get_by_role("link", name="Jeux de données")).to_be_hidden()
    menu.locator("summary").click()
    expect(menu.get_by_role("link", name="Jeux de données")).to_be_visible()
    shot(phone, screenshot_dir, "first-menu-fr-390")
    menu.get_by_role("link", name="Jeux de données").click()
    phone.wait_for_url(re.compile(r"/datasets$"))
