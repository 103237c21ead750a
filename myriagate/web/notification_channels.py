"""What the notification settings (API and pages) need beyond the database: the gateway's ways
out (mail, webhooks) for the "send a test" buttons and confirmation links, and the address
those links point at."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

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
    """The page that confirms an address: under ``MYRIAGATE_PUBLIC_URL`` when set (behind a
    proxy the request's own address may be an internal one), else this request's address."""
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}{VERIFY_PATH}?token={quote(token, safe='')}"
