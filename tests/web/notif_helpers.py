"""Fixtures of the notification settings tests (API, pages, CLI): the gateway's mail and webhook
channels replaced by fakes (``app.state.notification_channels``) and the application on the
test's clock. Imported by name into the modules that use them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications.sender import Channels
from myriagate.settings import Settings
from tests.conftest import FakeClock
from tests.fakes.fake_notifications import FakeMailer, FakeWebhookPoster

_LINK = re.compile(r"(https?://\S+/settings/notifications/verify\?token=(\S+))")


@dataclass
class Outbox:
    """What the application sent: mails and webhook posts."""

    mailer: FakeMailer
    poster: FakeWebhookPoster

    def last_link(self, to: str | None = None) -> tuple[str, str]:
        """(link, token) of the newest confirmation mail (to ``to`` when given)."""
        for recipient, _subject, body in reversed(self.mailer.sent):
            found = _LINK.search(body)
            if found and (to is None or recipient == to):
                return found.group(1), found.group(2)
        raise AssertionError(f"no confirmation link mailed (to {to}): {self.mailer.sent}")


@pytest.fixture
def sent(app: FastAPI, web_settings: Settings, clock: FakeClock) -> Outbox:
    """Fake channels for the application, which runs on ``clock``."""
    outbox = Outbox(FakeMailer(), FakeWebhookPoster())
    app.state.notification_channels = Channels(
        mailer=outbox.mailer,
        webhooks=outbox.poster,
        webhook_secrets=SecretSealer.for_webhooks(web_settings.secret_key),
    )
    app.state.clock = clock
    return outbox
