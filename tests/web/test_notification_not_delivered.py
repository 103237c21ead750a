"""A test e-mail or webhook delivery that did not arrive is said as such, not as a cluster
problem: `myriagate notifications webhooks test` printed 'Error: Cluster error: The test did
not reach …' and the API's title was 'Cluster error' (BackendError's), though no cluster was
involved. Now ``not_delivered`` (502, the CLI's exit 7 as before), titled in EN and FR."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from myriagate.notifications import DeliveryFailed
from tests.web import notif_helpers
from tests.web.conftest import MakeUser, assert_problem
from tests.web.notif_helpers import Outbox

sent = notif_helpers.sent  # the fake mail and webhooks (a fixture, by name)
API = "/api/v1"
Client = Callable[[User], TestClient]


def test_a_webhook_test_that_failed_is_not_delivered_in_english_and_french(
    make_user: MakeUser, auth_client: Client, sent: Outbox
) -> None:
    api = auth_client(make_user())
    created = api.post(f"{API}/me/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()
    sent.poster.fail_with = DeliveryFailed("webhook http://127.0.0.1:9/[redacted] answered HTTP 500")

    english = assert_problem(api.post(f"{API}/me/webhooks/{created['id']}/test"), 502, "not_delivered")
    assert english["title"] == "Not delivered"
    french = api.post(f"{API}/me/webhooks/{created['id']}/test", headers={"Accept-Language": "fr"})
    assert assert_problem(french, 502, "not_delivered")["title"] == "Non remis"


def test_a_mail_the_server_did_not_take_is_not_delivered(
    make_user: MakeUser, auth_client: Client, sent: Outbox
) -> None:
    api = auth_client(make_user())
    sent.mailer.fail_with = DeliveryFailed("SMTP server smtp.criann.fr:25 unreachable", transient=True)

    failed = assert_problem(
        api.put(f"{API}/me/email", json={"address": "b@unicaen.fr"}), 502, "not_delivered"
    )
    assert failed["title"] == "Not delivered" and "criann" not in failed["detail"]
