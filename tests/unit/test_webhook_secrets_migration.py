"""Migration 0009 seals the webhook secrets stored in clear before it.

A gateway upgraded from 0008 keeps every registered webhook working: the receiver's copy of
the secret still verifies the signatures, while the database only holds the sealed form.
Run on SQLite and PostgreSQL (where the column really has to widen: the sealed form is longer
than the 128 characters it had).
"""

from __future__ import annotations

import secrets
import uuid
from typing import cast

import pytest
import sqlalchemy as sa

from myriagate.db.migrate import downgrade, upgrade
from myriagate.db.models.notifications import Webhook
from myriagate.db.models.users import User
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.webhook_rules import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from myriagate.errors import ConfigError
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications.sender import Channels, run_pending
from tests.conftest import FakeClock
from tests.fakes import old_rows
from tests.fakes.fake_notifications import FakeWebhookPoster
from tests.unit.test_notifications import queue_failures

KEY = "migration-test-secret-key"


def _stored_secrets(db_url: str) -> list[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT secret FROM webhooks ORDER BY url")).scalars())
    finally:
        engine.dispose()


def test_0009_seals_clear_secrets_in_place_and_their_signatures_still_verify(
    db_url: str, clock: FakeClock
) -> None:
    upgrade(db_url, "0008")
    clear = [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        # The user as 0008's table holds it: the models' users table has later columns.
        alice_id = old_rows.add_user(session, "alice@unicaen.fr", "alice", clock)
        for i, secret in enumerate(clear):  # as 0008's code wrote them: in clear
            session.execute(
                sa.insert(cast(sa.Table, Webhook.__table__)).values(
                    id=uuid.uuid4(), user_id=alice_id, url=f"https://hooks.example.org/{i}",
                    secret=secret, description="", created_at=clock.now(),
                )
            )  # fmt: skip
        session.commit()
    engine.dispose()
    assert _stored_secrets(db_url) == clear

    upgrade(db_url, "0009", secret_key=KEY)
    stored = _stored_secrets(db_url)
    sealer = SecretSealer.for_webhooks(KEY)
    for secret, sealed in zip(clear, stored, strict=True):
        assert secret not in sealed
        assert sealer.unseal(sealed) == secret

    # The receivers were given the clear secrets at creation: deliveries still verify (with the
    # models, so at the head revision).
    upgrade(db_url, secret_key=KEY)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            user = session.get(User, alice_id)
            assert user is not None
            queue_failures(session, user, clock, 1)
        poster = FakeWebhookPoster()
        channels = Channels(webhooks=poster, webhook_secrets=sealer)
        assert run_pending(factory, channels, clock=clock).sent == 2
    finally:
        engine.dispose()
    by_url = {url: (body, headers) for url, body, headers in poster.posted}
    for i, secret in enumerate(clear):
        body, headers = by_url[f"https://hooks.example.org/{i}"]
        assert verify(secret, timestamp=headers[TIMESTAMP_HEADER], body=body,
                      signature=headers[SIGNATURE_HEADER], now=clock.now().timestamp())  # fmt: skip

    # Downgrade needs the same key, and gives the clear secrets back.
    with pytest.raises(ConfigError, match="MYRIAGATE_SECRET_KEY"):
        downgrade(db_url, "0008", secret_key="not-the-key")
    downgrade(db_url, "0008", secret_key=KEY)
    assert _stored_secrets(db_url) == clear
