"""Issue #15: a user's own notification address over the API (``/me/email``), confirmed by a
signed, expiring link mailed to it; the single sign-on's address; the "send a test" calls.

Mail and webhooks go to fakes (``notif_helpers.sent``); tests/integration/test_email_verification_smtp.py
does the same through a real SMTP server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from myriagate.domain.webhook_rules import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from myriagate.notifications import DeliveryFailed
from myriagate.services.notifications.sender import Channels
from tests.conftest import FakeClock
from tests.web import notif_helpers
from tests.web.conftest import MakeUser, assert_problem
from tests.web.notif_helpers import Outbox

sent = notif_helpers.sent  # the fake mail and webhooks (a fixture, by name)

API = "/api/v1"
Client = Callable[[User], TestClient]


def state_of(db: Session, user: User) -> User:
    db.expire_all()
    found = db.get(User, user.id)
    assert found is not None
    return found


def test_an_address_is_used_only_once_its_link_is_followed(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session
) -> None:
    user = make_user()
    api = auth_client(user)
    asked = api.put(f"{API}/me/email", json={"address": "alice@unicaen.fr"})
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["email_address"] is None and body["pending_email_address"] == "alice@unicaen.fr"
    assert body["link_expires_at"] == "2026-01-06T09:00:00Z"
    [(to, subject, mail)] = sent.mailer.sent
    assert to == "alice@unicaen.fr" and "Confirm your address" in subject
    link, token = sent.last_link()
    assert link.startswith("http://testserver/settings/notifications/verify?token=")
    assert f"myriagate notifications verify {token}" in mail
    # Until then nothing else goes there: the address on record is still none.
    assert state_of(db, user).email is None
    assert api.post(f"{API}/me/email/test").status_code == 409
    confirmed = api.post(f"{API}/me/email/verification", json={"token": link})  # the whole link works
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() | {"email_verified_at": None} == {
        "email_address": "alice@unicaen.fr", "email_source": "user",
        "email_verified_at": None, "pending_email_address": None,
    }  # fmt: skip
    stored = state_of(db, user)
    assert (stored.email, stored.email_source, stored.email_pending) == ("alice@unicaen.fr", "user", None)
    # Following it again is harmless; the preferences answer shows the address too.
    assert api.post(f"{API}/me/email/verification", json={"token": token}).status_code == 200
    assert api.get(f"{API}/me/notifications").json()["email_source"] == "user"


def test_the_old_address_keeps_receiving_until_the_new_one_is_confirmed(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session, clock: FakeClock
) -> None:
    user = make_user()
    stored = state_of(db, user)
    stored.email = "alice@unicaen.fr"
    db.commit()
    api = auth_client(user)
    assert api.put(f"{API}/me/email", json={"address": "alice@gmail.com"}).status_code == 200
    assert api.post(f"{API}/me/email/test").json() == {"sent_to": "alice@unicaen.fr"}
    assert [to for to, _, _ in sent.mailer.sent] == ["alice@gmail.com", "alice@unicaen.fr"]
    # The same address as on record: nothing to confirm, nothing sent, the pending one dropped.
    clock.advance(61)
    same = api.put(f"{API}/me/email", json={"address": "alice@UNICAEN.fr"})
    assert same.json()["link_expires_at"] is None and same.json()["pending_email_address"] is None
    assert len(sent.mailer.sent) == 2


def test_another_user_cannot_follow_someone_elses_link(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session
) -> None:
    alice, mallory = make_user(), make_user()
    auth_client(alice).put(f"{API}/me/email", json={"address": "alice@unicaen.fr"})
    _, token = sent.last_link()
    refused = auth_client(mallory).post(f"{API}/me/email/verification", json={"token": token})
    body = assert_problem(refused, 403, "permission_denied")
    assert "another account" in body["detail"]
    assert state_of(db, mallory).email is None and state_of(db, alice).email is None
    assert state_of(db, alice).email_pending == "alice@unicaen.fr"


def test_an_expired_a_superseded_and_a_forged_link_are_refused(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session, clock: FakeClock
) -> None:
    user = make_user()
    api = auth_client(user)
    api.put(f"{API}/me/email", json={"address": "alice@unicaen.fr"})
    _, first = sent.last_link()
    clock.advance(24 * 3600)
    expired = assert_problem(api.post(f"{API}/me/email/verification", json={"token": first}), 422)
    assert "expired" in expired["detail"]
    api.put(f"{API}/me/email", json={"address": "alice@univ-rouen.fr"})
    _, second = sent.last_link()
    clock.advance(-24 * 3600 + 120)  # the first link alone would still be valid now
    stale = assert_problem(api.post(f"{API}/me/email/verification", json={"token": first}), 422)
    assert "no longer valid" in stale["detail"]
    forged = second[:-4] + ("AAAA" if not second.endswith("AAAA") else "BBBB")
    assert_problem(api.post(f"{API}/me/email/verification", json={"token": forged}), 422)
    assert state_of(db, user).email is None
    assert api.post(f"{API}/me/email/verification", json={"token": second}).status_code == 200
    assert state_of(db, user).email == "alice@univ-rouen.fr"


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("alice@unicaen.fr\r\nBcc: all@unicaen.fr", "one line"),
        ("a" * 300 + "@unicaen.fr", "at most 254 characters"),
        ("a" * 20_000, ""),  # past the schema's bound: pydantic's own 422
        ("éloïse@unicaen.fr", "plain ASCII"),
        ("-alice@unicaen.fr", "not an e-mail address"),
        ("$(reboot)@unicaen.fr", "not an e-mail address"),
    ],
)
def test_a_hostile_address_is_refused_clearly_and_nothing_is_sent(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session, address: str, says: str
) -> None:
    user = make_user()
    body = assert_problem(auth_client(user).put(f"{API}/me/email", json={"address": address}), 422)
    assert says in body["detail"] or says in str(body.get("errors"))
    assert sent.mailer.sent == []
    assert state_of(db, user).email_pending is None


def test_links_are_rate_limited_and_a_failed_send_can_be_retried_at_once(
    make_user: MakeUser, auth_client: Client, sent: Outbox, clock: FakeClock
) -> None:
    api = auth_client(make_user())
    assert api.put(f"{API}/me/email", json={"address": "a@unicaen.fr"}).status_code == 200
    again = api.put(f"{API}/me/email", json={"address": "b@unicaen.fr"})
    assert_problem(again, 429, "rate_limited")
    assert again.headers["Retry-After"] == "61"
    clock.advance(60)
    sent.mailer.fail_with = DeliveryFailed("SMTP server smtp.criann.fr:25 unreachable", transient=True)
    failed = assert_problem(api.put(f"{API}/me/email", json={"address": "b@unicaen.fr"}), 502)
    assert "try again in a few minutes" in failed["detail"] and "criann" not in failed["detail"]
    sent.mailer.fail_with = None
    assert api.put(f"{API}/me/email", json={"address": "b@unicaen.fr"}).status_code == 200
    assert [to for to, _, _ in sent.mailer.sent] == ["a@unicaen.fr", "b@unicaen.fr"]


def test_without_a_mail_server_the_address_cannot_be_confirmed(
    app: FastAPI, make_user: MakeUser, auth_client: Client
) -> None:
    app.state.notification_channels = Channels()
    api = auth_client(make_user())
    body = assert_problem(api.put(f"{API}/me/email", json={"address": "a@unicaen.fr"}), 409)
    assert "sends no e-mail" in body["detail"] and "SMTP" not in body["detail"]
    assert_problem(api.post(f"{API}/me/email/test"), 409)


def test_a_webhook_test_is_signed_and_only_for_the_owner(
    make_user: MakeUser, auth_client: Client, sent: Outbox
) -> None:
    alice, bob = make_user(), make_user()
    created = (
        auth_client(alice).post(f"{API}/me/webhooks", json={"url": "http://127.0.0.1:9/hook/tok"}).json()
    )
    tested = auth_client(alice).post(f"{API}/me/webhooks/{created['id']}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json() == {"sent_to": "http://127.0.0.1:9/[redacted]"}
    [(url, body, headers)] = sent.poster.posted
    assert url == "http://127.0.0.1:9/hook/tok" and headers["X-Myriagate-Event"] == "test"
    assert verify(created["secret"], timestamp=headers[TIMESTAMP_HEADER], body=body,
                  signature=headers[SIGNATURE_HEADER], now=float(headers[TIMESTAMP_HEADER]))  # fmt: skip
    assert_problem(auth_client(bob).post(f"{API}/me/webhooks/{created['id']}/test"), 404)
    sent.poster.fail_with = DeliveryFailed("webhook http://127.0.0.1:9/[redacted] answered HTTP 500")
    failed = assert_problem(auth_client(alice).post(f"{API}/me/webhooks/{created['id']}/test"), 502)
    assert "answered HTTP 500" in failed["detail"] and "tok" not in failed["detail"]


# --- single sign-on ----------------------------------------------------------------------------
SSO: dict[str, Any] = {"trusted_proxies": ["10.1.2.0/24"], "remote_email_header": "X-Remote-Email"}


def via_proxy(app: FastAPI, user: User, email: str | None) -> Any:
    headers = {"X-Remote-User": user.username} | ({"X-Remote-Email": email} if email is not None else {})
    return TestClient(app, client=("10.1.2.3", 40000)).get(f"{API}/me/notifications", headers=headers)


@pytest.mark.parametrize("settings_overrides", [SSO])
def test_the_single_sign_on_address_counts_as_confirmed_but_never_replaces_the_users_own(
    app: FastAPI, make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session
) -> None:
    user = make_user()
    got = via_proxy(app, user, "alice.martin@unicaen.fr").json()
    assert (got["email_address"], got["email_source"]) == ("alice.martin@unicaen.fr", "sso")
    # A hostile header is ignored: the sign-in still works, the address stays.
    for hostile in ("a" * 300 + "@unicaen.fr", "$(reboot)@evil.example", "-x@evil.example"):
        assert via_proxy(app, user, hostile).json()["email_address"] == "alice.martin@unicaen.fr"
    assert state_of(db, user).email == "alice.martin@unicaen.fr"
    api = auth_client(user)
    api.put(f"{API}/me/email", json={"address": "alice@lab.example.org"})
    api.post(f"{API}/me/email/verification", json={"token": sent.last_link()[1]})
    assert via_proxy(app, user, "alice.martin@unicaen.fr").json()["email_address"] == "alice@lab.example.org"


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": ["10.1.2.0/24"]}])
def test_the_email_header_is_not_read_unless_configured(app: FastAPI, make_user: MakeUser) -> None:
    assert via_proxy(app, make_user(), "alice@unicaen.fr").json()["email_address"] is None


def test_an_admin_cannot_set_a_hostile_address_either(make_user: MakeUser, auth_client: Client) -> None:
    admin, user = make_user("platform_admin"), make_user()
    patch = auth_client(admin).patch(f"{API}/users/{user.id}", json={"email": "a@unicaen.fr\r\nBcc: x@y.fr"})
    assert_problem(patch, 422)
    ok = auth_client(admin).patch(f"{API}/users/{user.id}", json={"email": "alice@unicaen.fr"})
    assert ok.status_code == 200, ok.text
    assert auth_client(user).get(f"{API}/me/notifications").json()["email_source"] == "admin"
