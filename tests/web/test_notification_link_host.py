"""The confirmation link mailed to an address nobody has confirmed yet is never rooted at a host
the requester chose.

Without ``MYRIAGATE_PUBLIC_URL`` the link was built from the request's ``Host`` header: anyone
with an account could have the gateway's own mail server send ``victim@example.org`` a link to
``http://evil.example/…`` (seen on a live gateway). Outside dev mode the link needs the public
URL: without it the request is refused as 'not set up' and nothing changes, nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.models.users import User
from tests.web import notif_helpers
from tests.web.conftest import MakeUser
from tests.web.notif_helpers import Outbox

sent = notif_helpers.sent  # the fake mail and webhooks (a fixture, by name)
API = "/api/v1"
Client = Callable[[User], TestClient]
SECRET = "a-real-secret-for-this-test-0123456789abcdef"


def _ask(auth_client: Client, user: User) -> Any:
    api = auth_client(user)
    return api.put(
        f"{API}/me/email", json={"address": "victim@example.org"}, headers={"Host": "evil.example"}
    )


@pytest.mark.parametrize(
    "settings_overrides",
    [{"dev_mode": False, "secret_key": SECRET, "public_url": "https://myriagate.criann.fr/"}],
)
def test_the_public_url_roots_the_link_whatever_the_host_header(
    make_user: MakeUser, auth_client: Client, sent: Outbox
) -> None:
    assert _ask(auth_client, make_user()).status_code == 200
    link, _token = sent.last_link("victim@example.org")
    assert link.startswith("https://myriagate.criann.fr/settings/notifications/verify?token=")
    assert "evil.example" not in sent.mailer.sent[-1][2]


@pytest.mark.parametrize("settings_overrides", [{"dev_mode": False, "secret_key": SECRET}])
def test_without_a_public_url_no_link_is_mailed_outside_dev_mode(
    make_user: MakeUser, auth_client: Client, sent: Outbox, db: Session
) -> None:
    user = make_user()
    answer = _ask(auth_client, user)

    assert answer.status_code == 500, answer.text
    assert answer.json()["code"] == "config_error"
    assert "evil.example" not in answer.text and "MYRIAGATE_" not in answer.text
    assert sent.mailer.sent == []
    db.expire_all()
    stored = db.get(User, user.id)
    assert stored is not None and (stored.email_pending, stored.email_pending_at) == (None, None)
