"""The worker's notification thread: the outbox sender plus the balance watch, every minute."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from myriagate.notifications.channels import mailer_from, webhook_poster_from
from myriagate.ports import Clock
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import balance_watch, sender
from myriagate.settings import Settings


def notice_thread(
    session_factory: sessionmaker[Session], settings: Settings, clock: Clock, stop: threading.Event
) -> threading.Thread:
    """A daemon thread (not started) delivering notifications until ``stop`` is set."""
    channels = sender.Channels(
        mailer=mailer_from(settings),
        webhooks=webhook_poster_from(settings),
        webhook_secrets=SecretSealer.for_webhooks(settings.secret_key),
    )
    holder = sender.holder_id()
    return threading.Thread(
        target=sender.run_loop,
        name="notifications",
        args=(session_factory, channels, stop),
        kwargs={
            "clock": clock,
            "every_minute": lambda: balance_watch.run(session_factory, clock=clock, holder=holder),
        },
        daemon=True,
    )
