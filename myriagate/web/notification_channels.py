"""What the notification settings (API and pages) need beyond the database: the gateway's ways
out (mail, webhooks) for the "send a test" buttons and confirmation links, and the address
those links point at."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from myriagate.errors import ConfigError
from myriagate.services.notifications.sender import Channels
from myriagate.settings import Settings
from myriagate.wiring import notification_channels

VERIFY_PATH = "/settings/notifications/verify"


async def get_channels(request: Request) -> Channels:
    """The channels of the gateway's settings, made once per application; a test puts its fakes
    in ``app.state.notification_channels`` first."""
    state = request.app.state
    channels = getattr(state, "notification_channels", None)
    if not isinstance(channels, Channels):
        channels = notification_channels(state.gateway.settings)
        state.notification_channels = channels
    return channels


ChannelsDep = Annotated[Channels, Depends(get_channels)]


def verification_link(request: Request, settings: Settings, token: str) -> str:
    """The page that confirms an address, under ``MYRIAGATE_PUBLIC_URL``.

    The link goes to an address nobody has confirmed yet: rooted at the request's own address
    it would point wherever the requester's ``Host`` header said (the gateway's mail server
    sending anyone a link to any site). Only a dev gateway, on localhost, falls back to it;
    elsewhere no public URL is a ConfigError (researchers read 'not set up').
    """
    if settings.public_url:
        base = settings.public_url
    elif settings.dev_mode:
        base = str(request.base_url)
    else:
        raise ConfigError(
            "MYRIAGATE_PUBLIC_URL is not set: confirmation links cannot be mailed (the request's "
            "Host header is not trusted to root them)"
        )
    return f"{base.rstrip('/')}{VERIFY_PATH}?token={quote(token, safe='')}"
