"""``/me/notifications`` and ``/me/webhooks`` over HTTP: defaults, partial updates, webhook rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.domain.notifications import NotificationKind
from myriagate.domain.webhook_rules import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import outbox
from myriagate.services.notifications.sender import Channels, run_pending
from myriagate.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.fake_notifications import FakeWebhookPoster
from tests.web.conftest import MakeUser, assert_problem

API = "/api/v1"
Client = Callable[[User], TestClient]
PRODUCTION = {"dev_mode": False, "secret_key": "x" * 40}


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``@pytest.mark.parametrize("settings_overrides", [...], indirect=True)`` sets them."""
    return dict(getattr(request, "param", {}))


def test_anonymous_is_refused(client: TestClient) -> None:
    for method, path in (("GET", "/me/notifications"), ("PUT", "/me/notifications"),
                         ("GET", "/me/webhooks"), ("POST", "/me/webhooks")):  # fmt: skip
        assert_problem(client.request(method, API + path, json={}), 401, "not_authenticated")


def test_preferences_start_from_the_defaults_and_change_partially(
    make_user: MakeUser, auth_client: Client
) -> None:
    api = auth_client(make_user())
    got = api.get(f"{API}/me/notifications")
    assert got.status_code == 200, got.text
    prefs = got.json()["preferences"]
    assert set(prefs) == {k.value for k in NotificationKind}
    assert prefs["job_started"] == {"email": False, "webhook": True}
    assert prefs["job_failed"] == {"email": True, "webhook": True}
    change = {"job_started": {"email": True}, "job_failed": {"webhook": False}}
    put = api.put(f"{API}/me/notifications", json={"preferences": change})
    assert put.status_code == 200, put.text
    after = api.get(f"{API}/me/notifications").json()["preferences"]
    assert after["job_started"] == {"email": True, "webhook": True}
    assert after["job_failed"] == {"email": True, "webhook": False}
    assert after["job_finished"] == prefs["job_finished"]


def test_preferences_are_per_user(make_user: MakeUser, auth_client: Client) -> None:
    alice, bob = auth_client(make_user()), auth_client(make_user())
    alice.put(f"{API}/me/notifications", json={"preferences": {"job_finished": {"email": False}}})
    assert bob.get(f"{API}/me/notifications").json()["preferences"]["job_finished"]["email"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"preferences": {"job_exploded": {"email": True}}},
        {"preferences": {"job_failed": {"sms": True}}},
        {"preferences": {"job_failed": {"email": "perhaps"}}},
        {"preferences": "all"},
        {},
    ],
)
def test_bad_preference_bodies_are_422_and_change_nothing(
    make_user: MakeUser, auth_client: Client, body: object
) -> None:
    api = auth_client(make_user())
    before = api.get(f"{API}/me/notifications").json()
    assert_problem(api.put(f"{API}/me/notifications", json=body), 422)
    assert api.get(f"{API}/me/notifications").json() == before


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
def test_a_webhook_is_created_with_a_secret_shown_once_listed_and_deleted(
    make_user: MakeUser, auth_client: Client
) -> None:
    api = auth_client(make_user())
    created = api.post(
        f"{API}/me/webhooks", json={"url": "https://hooks.example.org/in", "description": "ci"}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert len(hook["secret"]) >= 40
    listed = api.get(f"{API}/me/webhooks").json()
    assert [h["url"] for h in listed] == ["https://hooks.example.org/in"]
    assert "secret" not in listed[0]
    assert api.delete(f"{API}/me/webhooks/{hook['id']}").status_code == 204
    assert api.get(f"{API}/me/webhooks").json() == []
    assert_problem(api.delete(f"{API}/me/webhooks/{hook['id']}"), 404, "not_found")


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://127.0.0.1/",
        "https://localhost/",
        "https://10.1.2.3/",
        "https://2130706433/",
        "https://user:pw@hooks.example.org/",
        "file:///etc/passwd",
    ],
)
def test_unsafe_webhook_urls_are_refused_outside_dev_mode(
    make_user: MakeUser, auth_client: Client, url: str
) -> None:
    api = auth_client(make_user())
    assert_problem(api.post(f"{API}/me/webhooks", json={"url": url}), 422, "invalid_request")
    assert api.get(f"{API}/me/webhooks").json() == []


def test_dev_mode_accepts_a_loopback_http_webhook(make_user: MakeUser, auth_client: Client) -> None:
    api = auth_client(make_user())
    assert api.post(f"{API}/me/webhooks", json={"url": "http://127.0.0.1:9000/hook"}).status_code == 201
    assert_problem(api.post(f"{API}/me/webhooks", json={"url": "http://169.254.169.254/"}), 422)


def test_a_user_cannot_see_or_delete_another_users_webhook(make_user: MakeUser, auth_client: Client) -> None:
    alice, bob = auth_client(make_user()), auth_client(make_user())
    hook = alice.post(f"{API}/me/webhooks", json={"url": "https://hooks.example.org/a"}).json()
    assert bob.get(f"{API}/me/webhooks").json() == []
    assert_problem(bob.delete(f"{API}/me/webhooks/{hook['id']}"), 404)
    assert len(alice.get(f"{API}/me/webhooks").json()) == 1


def test_webhooks_per_user_are_limited(make_user: MakeUser, auth_client: Client) -> None:
    api = auth_client(make_user())
    for i in range(5):
        assert (
            api.post(f"{API}/me/webhooks", json={"url": f"https://hooks.example.org/{i}"}).status_code == 201
        )
    assert_problem(api.post(f"{API}/me/webhooks", json={"url": "https://hooks.example.org/6"}), 422)


@pytest.mark.parametrize("settings_overrides", [PRODUCTION], indirect=True)
def test_a_webhook_secret_shown_by_the_api_is_stored_sealed_and_signs_the_workers_deliveries(
    make_user: MakeUser,
    auth_client: Client,
    web_settings: Settings,
    web_session_factory: sessionmaker[Session],
    clock: FakeClock,
) -> None:
    """The database holds no usable secret; the worker, with the same
    MYRIAGATE_SECRET_KEY, signs with the very secret the user was shown."""
    user = make_user()
    created = auth_client(user).post(f"{API}/me/webhooks", json={"url": "https://hooks.example.org/in"})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    with web_session_factory() as session:
        row = session.execute(sa.text("SELECT * FROM webhooks")).mappings().one()
        assert not any(secret in str(value) for value in row.values())
        outbox.queue(session, kind=NotificationKind.JOB_FAILED, event_key="job:x:job_failed",
                      payload={"job_id": "x", "slurm_job_id": "1", "job_name": "run", "cluster": "devcluster",
                               "state": "failed"},
                      recipients=[session.merge(user)], at=clock.now())  # fmt: skip
        session.commit()
    poster = FakeWebhookPoster()
    # What the worker's notification thread builds from the same settings (cli/notices_thread.py).
    channels = Channels(webhooks=poster, webhook_secrets=SecretSealer.for_webhooks(web_settings.secret_key))
    assert run_pending(web_session_factory, channels, clock=clock).sent == 1
    [(_, body, headers)] = poster.posted
    assert verify(secret, timestamp=headers[TIMESTAMP_HEADER], body=body,
                  signature=headers[SIGNATURE_HEADER], now=clock.now().timestamp())  # fmt: skip
