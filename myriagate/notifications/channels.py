"""The delivery adapters a gateway's settings call for."""

from __future__ import annotations

from myriagate.notifications.smtp import SmtpMailer
from myriagate.notifications.webhooks import HttpWebhookPoster
from myriagate.settings import Settings


def mailer_from(settings: Settings) -> SmtpMailer | None:
    """The SMTP mailer, or None when no SMTP host is configured (e-mail is then off)."""
    if not settings.smtp_host:
        return None
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
    )


def webhook_poster_from(settings: Settings) -> HttpWebhookPoster:
    """Webhooks to public https addresses; loopback and private ones too in dev mode."""
    return HttpWebhookPoster(dev_mode=settings.dev_mode)
