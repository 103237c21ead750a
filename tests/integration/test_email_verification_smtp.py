"""Issue #15: confirming a user's own address through a real SMTP server (aiosmtpd on loopback).

The gateway (in-process app, its SMTP settings pointing at the server) mails the confirmation
link with the real ``SmtpMailer``; the test reads the message the server received, follows
the link in the page as the user, and sees the address confirmed. A hostile address never
reaches the server; another user's session cannot use the link; an expired link is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from tests.conftest import FakeClock
from tests.integration.test_notifications_smtp import Inbox, free_port, start_smtp
from tests.web import conftest as web
from tests.web.conftest import MakeUser
from tests.web.pages_helpers import csrf_of, logged_in

# The in-process application of tests/web, over fake Slurm (fixtures, by name).
app, gateway, web_settings, web_session_factory, fill_database = (
    web.app,
    web.gateway,
    web.web_settings,
    web.web_session_factory,
    web.fill_database,
)
backend_factory, make_user = web.backend_factory, web.make_user

PAGE = "/settings/notifications"


@pytest.fixture
def clock() -> FakeClock:
    """Today: the session cookie's expiry comes from the application's clock, and the test
    client drops a cookie that expired in real time."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


_LINK = re.compile(r"http://testserver(/settings/notifications/verify\?token=\S+)")


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    port = free_port()
    controller: Controller
    controller, inbox = start_smtp(port)
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def settings_overrides(smtp: tuple[int, Inbox]) -> dict[str, Any]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp[0], "smtp_from": "myriagate@criann.fr"}


@pytest.fixture
def inbox(app: FastAPI, smtp: tuple[int, Inbox], clock: FakeClock) -> Inbox:
    app.state.clock = clock
    return smtp[1]


def address_of(factory: sessionmaker[Session], user: User) -> tuple[str | None, str | None]:
    with factory() as session:
        found = session.get(User, user.id)
        assert found is not None
        return found.email, found.email_pending


def ask(browser: Any, address: str) -> Any:
    return browser.post(
        f"{PAGE}/email", data={"csrf_token": csrf_of(browser.get(PAGE).text), "address": address}
    )


def test_the_mailed_link_confirms_the_address(
    app: FastAPI, make_user: MakeUser, inbox: Inbox, web_session_factory: sessionmaker[Session]
) -> None:
    user = make_user()
    browser = logged_in(app, user)
    assert ask(browser, "alice@unicaen.fr").status_code == 200
    [(recipients, message)] = inbox.messages
    assert recipients == ["alice@unicaen.fr"]
    assert isinstance(message, EmailMessage)
    assert message["To"] == "alice@unicaen.fr" and message["From"] == "myriagate@criann.fr"
    assert message["Subject"] == "[myriagate] Confirmez votre adresse / Confirm your address"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert f"« {user.username} »" in body and f'"{user.username}"' in body
    found = _LINK.search(body)
    assert found is not None, body
    page = browser.get(found.group(1))
    assert page.status_code == 200 and "will go to alice@unicaen.fr" in page.text
    token = found.group(1).partition("token=")[2]
    done = browser.post(f"{PAGE}/verify", data={"csrf_token": csrf_of(page.text), "token": token})
    assert done.status_code == 303
    assert address_of(web_session_factory, user) == ("alice@unicaen.fr", None)
    assert "Your address is confirmed" in browser.get(done.headers["location"]).text
    # The test button now reaches the same mailbox through the same server.
    tested = browser.post(f"{PAGE}/email/test", data={"csrf_token": csrf_of(browser.get(PAGE).text)})
    assert "A test message was sent to alice@unicaen.fr." in tested.text
    assert [r for r, _ in inbox.messages] == [["alice@unicaen.fr"], ["alice@unicaen.fr"]]


@pytest.mark.parametrize(
    "hostile",
    [
        "alice@unicaen.fr\r\nBcc: everyone@unicaen.fr",
        "alice@unicaen.fr>\r\nRCPT TO:<everyone@unicaen.fr",
        "a" * 5000 + "@unicaen.fr",
        "çava@unicaen.fr",
        "alice@unicaen.fr\nSubject: free money",
    ],
)
def test_a_hostile_address_never_reaches_the_mail_server(
    app: FastAPI, make_user: MakeUser, inbox: Inbox, web_session_factory: sessionmaker[Session], hostile: str
) -> None:
    user = make_user()
    refused = ask(logged_in(app, user), hostile)
    assert refused.status_code == 422
    assert 'class="field-error"' in refused.text
    assert inbox.messages == []
    assert address_of(web_session_factory, user) == (None, None)


def test_someone_elses_link_and_an_expired_link_confirm_nothing(
    app: FastAPI,
    make_user: MakeUser,
    inbox: Inbox,
    clock: FakeClock,
    web_session_factory: sessionmaker[Session],
) -> None:
    alice, mallory = make_user(), make_user()
    ask(logged_in(app, alice), "alice@unicaen.fr")
    found = _LINK.search(inbox.messages[0][1].get_content())
    assert found is not None
    token = found.group(1).partition("token=")[2]
    intruder = logged_in(app, mallory)
    page = intruder.get(found.group(1))
    assert page.status_code == 403 and "another account" in page.text
    csrf = csrf_of(intruder.get(PAGE).text)
    assert intruder.post(f"{PAGE}/verify", data={"csrf_token": csrf, "token": token}).status_code == 403
    assert address_of(web_session_factory, mallory) == (None, None)
    clock.advance(24 * 3600 + 1)
    owner = logged_in(app, alice)
    expired = owner.post(f"{PAGE}/verify", data={"csrf_token": csrf_of(owner.get(PAGE).text), "token": token})
    assert expired.status_code == 422 and "expired" in expired.text
    assert address_of(web_session_factory, alice) == (None, "alice@unicaen.fr")
