"""Issue #15: the notification settings page (``/settings/notifications``) through its forms,
as a browser without JavaScript uses it: events, the address and its link, webhooks (the
secret shown once), the test buttons; CSRF, French, and someone else's link."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.domain.notifications import NotificationKind
from myriagate.notifications import DeliveryFailed
from myriagate.services.notifications import outbox
from tests.conftest import FakeClock
from tests.web import notif_helpers
from tests.web.conftest import PASSWORD, MakeUser
from tests.web.notif_helpers import Outbox
from tests.web.pages_helpers import csrf_of, logged_in

sent = notif_helpers.sent  # the fake mail and webhooks (a fixture, by name)

PAGE = "/settings/notifications"


@pytest.fixture
def clock() -> FakeClock:
    """Today: the session cookie's expiry comes from the application's clock, and the test
    client drops a cookie that expired in real time."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


def form_post(client: TestClient, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    csrf = csrf_of(client.get(PAGE).text)
    response: httpx.Response = client.post(path, data={"csrf_token": csrf, **(data or {})})
    return response


def test_every_signed_in_user_finds_the_page_in_the_header(
    app: FastAPI, make_user: MakeUser, sent: Outbox
) -> None:
    browser = logged_in(app, make_user())
    dashboard = browser.get("/")
    assert f'href="{PAGE}"' in dashboard.text
    page = browser.get(PAGE)
    assert page.status_code == 200
    for kind in NotificationKind:
        assert f'name="email:{kind.value}"' in page.text and f'name="webhook:{kind.value}"' in page.text
    # Defaults: job_started is off by e-mail, on for webhooks.
    assert re.search(r'name="email:job_started" value="on" aria', page.text)
    assert re.search(r'name="webhook:job_started" value="on" checked', page.text)
    assert "You have no confirmed address yet" in page.text
    anonymous = TestClient(app, follow_redirects=False).get(PAGE)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")


def test_the_events_form_saves_every_box_ticked_or_not(
    app: FastAPI, make_user: MakeUser, sent: Outbox, db: Session
) -> None:
    user = make_user()
    browser = logged_in(app, user)
    saved = form_post(
        browser, f"{PAGE}/preferences", {"email:job_started": "on", "webhook:grant_changed": "on"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?done=saved"
    prefs = outbox.preferences_of(db, user.id)
    assert prefs[NotificationKind.JOB_STARTED].email is True
    assert prefs[NotificationKind.JOB_FINISHED].email is False  # unticked: off
    assert [k for k, p in prefs.items() if p.webhook] == [NotificationKind.GRANT_CHANGED]
    assert "Your choices are saved." in browser.get(f"{PAGE}?done=saved").text
    assert browser.get(f"{PAGE}?done=<script>").text.count("notice ok") == 0


def test_a_form_without_the_csrf_token_changes_nothing(
    app: FastAPI, make_user: MakeUser, sent: Outbox, db: Session
) -> None:
    user = make_user()
    browser = logged_in(app, user)
    browser.get(PAGE)
    refused = browser.post(f"{PAGE}/email", data={"address": "alice@unicaen.fr"})
    assert refused.status_code == 403
    refused = browser.post(f"{PAGE}/preferences", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert sent.mailer.sent == [] and outbox.preferences_of(db, user.id)[NotificationKind.JOB_FAILED].email


def test_setting_an_address_mails_a_link_that_confirms_it_with_one_button(
    app: FastAPI, make_user: MakeUser, sent: Outbox, db: Session
) -> None:
    user = make_user()
    browser = logged_in(app, user)
    asked = form_post(browser, f"{PAGE}/email", {"address": "alice@unicaen.fr"})
    assert asked.status_code == 200
    text = asked.text
    assert "A confirmation link was sent to alice@unicaen.fr" in text
    assert "Waiting for confirmation: alice@unicaen.fr" in text
    link, token = sent.last_link("alice@unicaen.fr")
    opened = browser.get(link.removeprefix("http://testserver"))
    assert opened.status_code == 200
    assert "will go to alice@unicaen.fr" in opened.text and "Confirm this address" in opened.text
    db.expire_all()
    assert db.get(User, user.id).email is None  # type: ignore[union-attr]  # opening changes nothing
    confirmed = browser.post(f"{PAGE}/verify", data={"csrf_token": csrf_of(opened.text), "token": token})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"{PAGE}?done=verified"
    after = browser.get(f"{PAGE}?done=verified").text
    assert "Your address is confirmed: notifications go to alice@unicaen.fr." in after
    assert "You confirmed it on" in after and "Waiting for confirmation" not in after
    tested = form_post(browser, f"{PAGE}/email/test")
    assert "A test message was sent to alice@unicaen.fr." in tested.text
    assert sent.mailer.sent[-1][1] == "[myriagate] Message d'essai / Test message"


def test_a_hostile_address_is_refused_at_its_field_in_french(
    app: FastAPI, make_user: MakeUser, sent: Outbox
) -> None:
    browser = logged_in(app, make_user(), lang="fr")
    refused = form_post(browser, f"{PAGE}/email", {"address": "éloïse@unicaen.fr"})
    assert refused.status_code == 422
    text = refused.text
    assert "Écrivez l'adresse e-mail en ASCII simple" in text or "Écrivez l&#39;adresse e-mail" in text
    assert 'aria-invalid="true"' in text and 'value="éloïse@unicaen.fr"' in text
    refused = form_post(browser, f"{PAGE}/email", {"address": "a@b.fr\r\nBcc: all@unicaen.fr"})
    assert "sans retour à la ligne" in refused.text
    assert sent.mailer.sent == []


def test_someone_elses_link_and_an_expired_one_say_why(
    app: FastAPI, make_user: MakeUser, sent: Outbox, clock: FakeClock
) -> None:
    alice, mallory = make_user(), make_user()
    form_post(logged_in(app, alice), f"{PAGE}/email", {"address": "alice@unicaen.fr"})
    link, token = sent.last_link()
    intruder = logged_in(app, mallory)
    page = intruder.get(link.removeprefix("http://testserver"))
    assert page.status_code == 403 and "This link was sent for another account" in page.text
    assert "Confirm this address" not in page.text
    posted = intruder.post(f"{PAGE}/verify", data={"csrf_token": csrf_of(page.text), "token": token})
    assert posted.status_code == 403
    clock.advance(25 * 3600)
    french = logged_in(app, alice, lang="fr")
    expired = french.get(link.removeprefix("http://testserver"))
    assert expired.status_code == 422 and "Ce lien de confirmation a expiré" in expired.text


def test_a_webhook_secret_is_shown_once_and_the_test_button_says_what_happened(
    app: FastAPI, make_user: MakeUser, sent: Outbox
) -> None:
    browser = logged_in(app, make_user())
    added = form_post(
        browser, f"{PAGE}/webhooks", {"url": "http://127.0.0.1:9/hook", "description": "lab bot"}
    )
    text = added.text
    secret = re.search(r'<code class="secret" id="webhook-secret">([^<]+)</code>', text)
    assert secret is not None and "Its signing secret is shown only now" in text
    again = browser.get(PAGE).text
    assert secret.group(1) not in again and "lab bot" in again
    hook_id = re.search(r"/settings/notifications/webhooks/([0-9a-f-]{36})/test", again)
    assert hook_id is not None
    tested = form_post(browser, f"{PAGE}/webhooks/{hook_id.group(1)}/test")
    assert "The test was delivered to http://127.0.0.1:9/[redacted]." in tested.text
    assert sent.poster.posted[0][2]["X-Myriagate-Event"] == "test"
    sent.poster.fail_with = DeliveryFailed("webhook http://127.0.0.1:9/[redacted] answered HTTP 500")
    failed = form_post(browser, f"{PAGE}/webhooks/{hook_id.group(1)}/test")
    assert failed.status_code == 502
    assert "The test did not reach http://127.0.0.1:9/[redacted]: it answered HTTP 500 instead" in failed.text
    deleted = form_post(browser, f"{PAGE}/webhooks/{hook_id.group(1)}/delete")
    assert deleted.headers["location"] == f"{PAGE}?done=deleted"
    assert "You have no webhook." in browser.get(PAGE).text


def test_a_bad_webhook_url_is_refused_on_the_page(app: FastAPI, make_user: MakeUser, sent: Outbox) -> None:
    browser = logged_in(app, make_user())
    refused = form_post(browser, f"{PAGE}/webhooks", {"url": "ftp://example.org/x"})
    assert refused.status_code == 422
    assert "Webhook added" not in refused.text


def test_the_page_is_in_french(app: FastAPI, make_user: MakeUser, sent: Outbox) -> None:
    page = logged_in(app, make_user(), lang="fr").get(PAGE)
    assert page.headers["content-language"] == "fr"
    for words in ("Votre adresse e-mail", "Les événements qui vous sont notifiés", "Ajouter un webhook",
                  "Un de vos jobs a démarré", "Enregistrer mes choix"):  # fmt: skip
        assert words in page.text


def test_why_a_webhook_test_failed_is_said_in_french(app: FastAPI, make_user: MakeUser, sent: Outbox) -> None:
    browser = logged_in(app, make_user(), lang="fr")
    form_post(browser, f"{PAGE}/webhooks", {"url": "http://127.0.0.1:9/hook/secret-token"})
    hook_id = re.search(r"/settings/notifications/webhooks/([0-9a-f-]{36})/test", browser.get(PAGE).text)
    assert hook_id is not None
    for detail, french in (
        ("webhook http://127.0.0.1:9/[redacted] unreachable: ConnectError()", "son serveur est injoignable"),
        ("webhook http://127.0.0.1:9/[redacted] answered a redirect (302), never followed",
         "il a répondu par une redirection (HTTP 302)"),
        ("webhook host '127.0.0.1' does not resolve: x", "son nom d&#39;hôte ne se résout pas"),
    ):  # fmt: skip
        sent.poster.fail_with = DeliveryFailed(detail)
        failed = form_post(browser, f"{PAGE}/webhooks/{hook_id.group(1)}/test").text
        assert "L&#39;essai n&#39;a pas atteint http://127.0.0.1:9/[redacted] : " + french in failed
        assert "secret-token" not in failed.split("<tbody>")[0]  # the notice never shows the path


def test_a_signed_out_reader_of_the_link_signs_in_and_lands_on_it(
    app: FastAPI, make_user: MakeUser, sent: Outbox
) -> None:
    user = make_user()
    form_post(logged_in(app, user), f"{PAGE}/email", {"address": "alice@unicaen.fr"})
    link, _ = sent.last_link()
    path = link.removeprefix("http://testserver")
    reader = TestClient(app, follow_redirects=False)
    to_login = reader.get(path)
    assert to_login.status_code == 303
    login_page = reader.get(to_login.headers["location"])
    assert f'name="next" value="{path}"' in login_page.text.replace("&amp;", "&")
    csrf = csrf_of(login_page.text)
    form = {"username": user.username, "password": PASSWORD, "csrf_token": csrf, "next": path}
    signed_in = reader.post("/login", data=form)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == path
    assert "will go to alice@unicaen.fr" in reader.get(path).text
