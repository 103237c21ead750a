# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""The notification page on a phone (390 px), in French and English, with three webhooks whose
addresses are long: the webhooks table widened the whole page to 445 px in French (its
'Envoyer un essai' and 'Supprimer' buttons beside the address, description and date), so the
page scrolled sideways. Now the table scrolls on its own, as the job lists do; the page does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.services.people import auth as auth_service
from tests.browser.test_browser_notifications import inbox, live, log_in, shot, smtp  # noqa: F401
from tests.cli.live_gateway import LiveGateway

pytestmark = pytest.mark.browser


def _three_webhooks(live: LiveGateway) -> None:
    engine = make_engine(live.env["MYRIAGATE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        user = users_repo.get_by_username(session, "mallory")
        assert user is not None
        secret = auth_service.create_token(session, user, name="narrow").secret
    engine.dispose()
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {secret}"}) as api:
        for url in (
            "http://127.0.0.1:1/x",
            "http://[::ffff:7f00:1]:58127/",
            "http://127.0.0.1:9/a/very/long/path/of/a/hook",
        ):
            assert api.post("/api/v1/me/webhooks", json={"url": url, "description": "x"}).status_code == 201


@pytest.mark.parametrize("lang", ["fr-FR", "en-GB"])
def test_the_page_does_not_scroll_sideways_on_a_phone(
    browser: Any, live: LiveGateway, screenshot_dir: Path, lang: str
) -> None:
    if lang == "fr-FR":
        _three_webhooks(live)
    page = log_in(browser, live, "mallory", lang=lang)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/settings/notifications")
    # Every table scrolls in its own box now (the events' and the webhooks'): this is the webhooks'.
    assert page.locator(".table-scroll table", has_text="http://127.0.0.1:1/").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, screenshot_dir, f"notif-webhooks-{lang[:2]}-390")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
