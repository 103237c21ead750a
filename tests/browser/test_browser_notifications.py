"""Issue #15, the notification settings page in real Chromium, with and without JavaScript.

A real gateway (uvicorn on a free port, no worker, no cluster needed) mails through a real SMTP
server on loopback (aiosmtpd, started here) and posts webhook tests to a real HTTP server on
loopback. alice sets her address, reads the mail, follows the link and confirms; chooses her
events; adds a webhook (its secret shown once) and sends it a test; mallory opening alice's
link is refused. Screenshots (EN/FR, no JavaScript) go to test-artifacts/screenshots/ and
/tmp/shots/notif-*.png.
"""

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
from myriagate.domain.webhook_rules import verify
from myriagate.services.people import auth as auth_service
from tests.cli.live_gateway import LiveGateway
from tests.conftest import CLUSTER
from tests.integration.test_notifications_smtp import Inbox, free_port, start_http, start_smtp

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
SHOTS = Path("/tmp/shots")
_LINK = re.compile(r"(http://127\.0\.0\.1:\d+)(/settings/notifications/verify\?token=\S+)")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    port = free_port()
    controller, received = start_smtp(port)
    try:
        yield port, received
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def inbox(smtp: tuple[int, Inbox]) -> Inbox:
    return smtp[1]


@pytest.fixture(scope="module")
def live(smtp: tuple[int, Inbox], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('notif') / 'gateway.db'}"
    upgrade(database_url)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        for name, display in (("alice", "Alice Martin"), ("mallory", "Mallory")):
            user = users_repo.add(session, username=name, cluster_login=name, created_at=SystemClock().now())
            user.display_name = display
            auth_service.set_password(user, PASSWORD, cost=4)
        session.commit()
    engine.dispose()
    env = {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": database_url,
        "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
        "MYRIAGATE_SMTP_HOST": "127.0.0.1",
        "MYRIAGATE_SMTP_PORT": str(smtp[0]),
        "MYRIAGATE_SMTP_FROM": "myriagate@criann.fr",
    }
    with LiveGateway(env, tmp_path_factory.mktemp("logs") / "gateway.log", worker=False) as gateway:
        yield gateway


def log_in(browser: Any, live: LiveGateway, username: str, *, js: bool = True, lang: str = "en-GB") -> Any:
    context = browser.new_context(base_url=live.url, locale=lang, java_script_enabled=js)
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


def confirmation_link(inbox: Inbox, to: str) -> str:
    for recipients, message in reversed(inbox.messages):
        found = _LINK.search(message.get_content())
        if recipients == [to] and found:
            return found.group(2)
    raise AssertionError(f"no link mailed to {to}")


def test_address_events_and_webhooks_with_javascript(
    browser: Any, live: LiveGateway, inbox: Inbox, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications", exact=True).wait_for()
    shot(page, screenshot_dir, "notif-en-start")

    # An address the browser takes but the gateway does not: refused at its field.
    page.get_by_label("New address").fill("alice@localhost")
    page.get_by_role("button", name="Send a confirmation link").click()
    expect(page.locator(".field-error")).to_contain_text("is not an e-mail address")
    assert inbox.messages == []

    page.get_by_label("New address").fill("alice@unicaen.fr")
    page.get_by_role("button", name="Send a confirmation link").click()
    expect(page.locator("body")).to_contain_text("A confirmation link was sent to alice@unicaen.fr")
    expect(page.locator("body")).to_contain_text("Waiting for confirmation: alice@unicaen.fr")
    link = confirmation_link(inbox, "alice@unicaen.fr")

    # mallory cannot use it.
    intruder = log_in(browser, live, "mallory")
    intruder.goto(link)
    expect(intruder.locator(".notice.bad")).to_contain_text("This link was sent for another account")
    assert intruder.get_by_role("button", name="Confirm this address").count() == 0
    shot(intruder, screenshot_dir, "notif-en-other-account")

    page.goto(link)
    expect(page.locator("main")).to_contain_text("will go to alice@unicaen.fr")
    page.get_by_role("button", name="Confirm this address").click()
    page.wait_for_url(re.compile(r"/settings/notifications\?done=verified$"))
    expect(page.locator("main")).to_contain_text(
        "Your address is confirmed: notifications go to alice@unicaen.fr."
    )

    # Events: job_started by e-mail on, job_finished by webhook off.
    page.get_by_label("E-mail: One of your jobs started").check()
    page.get_by_label("Webhooks: One of your jobs finished", exact=True).uncheck()
    page.get_by_role("button", name="Save my choices").click()
    expect(page.locator("main")).to_contain_text("Your choices are saved.")
    assert page.get_by_label("E-mail: One of your jobs started").is_checked()
    assert not page.get_by_label("Webhooks: One of your jobs finished", exact=True).is_checked()

    server, received = start_http(204)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/lab"
        page.get_by_label("URL", exact=True).fill(url)
        page.get_by_label("Description", exact=True).fill("lab bot")
        page.get_by_role("button", name="Add the webhook").click()
        secret = page.locator("#webhook-secret").inner_text().strip()
        assert len(secret) > 30
        expect(page.get_by_role("button", name="Copy")).to_be_visible()  # JavaScript shows it
        page.get_by_role("button", name=f"Send a test to {url}").click()
        expect(page.locator("main")).to_contain_text("The test was delivered to")
    finally:
        server.shutdown()
    [(path, headers, body)] = received.requests
    assert path == "/hooks/lab" and headers["X-Myriagate-Event"] == "test"
    stamp = headers["X-Myriagate-Timestamp"]
    assert verify(
        secret, timestamp=stamp, body=body, signature=headers["X-Myriagate-Signature"], now=float(stamp)
    )
    page.get_by_role("button", name="Send a test e-mail").click()
    expect(page.locator("main")).to_contain_text("A test message was sent to alice@unicaen.fr.")
    page.goto("/settings/notifications")
    assert secret not in page.content()  # shown once
    shot(page, screenshot_dir, "notif-en")

    page.get_by_role("link", name="Français").click()
    page.get_by_role("heading", name="Votre adresse e-mail").wait_for()
    expect(page.locator("main")).to_contain_text("Les notifications sont envoyées à alice@unicaen.fr.")
    shot(page, screenshot_dir, "notif-fr")


def test_the_page_works_without_javascript(
    browser: Any, live: LiveGateway, inbox: Inbox, screenshot_dir: Path
) -> None:
    page = log_in(browser, live, "mallory", js=False, lang="fr-FR")
    page.goto("/settings/notifications")
    page.get_by_label("Nouvelle adresse").fill("mallory@univ-rouen.fr")
    page.get_by_role("button", name="Envoyer un lien de confirmation").click()
    expect(page.locator("main")).to_contain_text(
        "Un lien de confirmation a été envoyé à mallory@univ-rouen.fr"
    )
    page.goto(confirmation_link(inbox, "mallory@univ-rouen.fr"))
    page.get_by_role("button", name="Confirmer cette adresse").click()
    expect(page.locator("main")).to_contain_text("Votre adresse est confirmée")

    page.get_by_label("E-mail : Un de vos jobs a échoué", exact=False).uncheck()
    page.get_by_role("button", name="Enregistrer mes choix").click()
    expect(page.locator("main")).to_contain_text("Vos choix sont enregistrés.")
    assert not page.get_by_label("E-mail : Un de vos jobs a échoué", exact=False).is_checked()

    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/nobody-listens")
    page.get_by_role("button", name="Ajouter le webhook").click()
    expect(page.locator("main")).to_contain_text("Webhook ajouté")
    assert page.locator("#webhook-secret").inner_text().strip()
    assert not page.get_by_role("button", name="Copier").is_visible()  # a JavaScript nicety only
    page.get_by_role("button", name="Envoyer un essai à http://127.0.0.1:9/nobody-listens").click()
    expect(page.locator(".notice.bad")).to_contain_text(
        "L'essai n'a pas atteint http://127.0.0.1:9/[redacted] : son serveur est injoignable"
    )
    shot(page, screenshot_dir, "notif-fr-nojs")
    page.get_by_role("button", name="Supprimer http://127.0.0.1:9/nobody-listens").click()
    expect(page.locator("main")).to_contain_text("Le webhook est supprimé.")
    expect(page.locator("main")).to_contain_text("Vous n'avez aucun webhook.")
