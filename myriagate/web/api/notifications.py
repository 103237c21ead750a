"""``/me/notifications`` (preferences) and ``/me/webhooks``: how the caller wants to be told.

See docs/notifications.md for the event kinds, the defaults and how to check a webhook's
signature. A webhook's secret is shown once, in the answer to its creation.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from myriagate.domain.notifications import NotificationKind
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import outbox
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, SettingsDep
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, tags=["notifications"])


class ChannelChoice(BaseModel):
    """Whether one kind of event goes out by e-mail and to the caller's webhooks."""

    model_config = ConfigDict(extra="forbid")
    email: bool | None = None
    webhook: bool | None = None


class PreferencesIn(BaseModel):
    """Kinds to change; kinds left out keep their current choice."""

    model_config = ConfigDict(extra="forbid")
    preferences: dict[NotificationKind, ChannelChoice]


class PreferencesOut(BaseModel):
    email_address: str | None = Field(description="Where e-mails go (none: no e-mail is sent).")
    preferences: dict[NotificationKind, ChannelChoice]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048, description="https URL events are POSTed to.")
    description: str = Field(default="", max_length=255)


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    url: str
    description: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key of the signatures; shown only now.")


def _preferences_out(
    user_email: str | None, prefs: dict[NotificationKind, outbox.Preference]
) -> PreferencesOut:
    return PreferencesOut(
        email_address=user_email,
        preferences={k: ChannelChoice(email=p.email, webhook=p.webhook) for k, p in prefs.items()},
    )


@router.get("/me/notifications")
def get_preferences(user: CurrentUser, db: DbSession) -> PreferencesOut:
    """Every event kind with the channels it goes out through (stored choice or default)."""
    return _preferences_out(user.email, outbox.preferences_of(db, user.id))


@router.put("/me/notifications", responses=problem_responses(422))
def put_preferences(body: PreferencesIn, user: CurrentUser, db: DbSession, clock: ClockDep) -> PreferencesOut:
    """Change the channels of some kinds; the answer is the whole new set."""
    changes = {kind: choice.model_dump(exclude_none=True) for kind, choice in body.preferences.items()}
    return _preferences_out(user.email, outbox.set_preferences(db, user, changes, clock=clock))


@router.post("/me/webhooks", status_code=201, responses=problem_responses(422))
def create_webhook(
    body: WebhookIn, user: CurrentUser, db: DbSession, settings: SettingsDep, clock: ClockDep
) -> WebhookCreated:
    """Register a webhook (https, public address); its signing secret is in this answer only."""
    new = outbox.add_webhook(
        db,
        user,
        url=body.url,
        description=body.description,
        dev_mode=settings.dev_mode,
        clock=clock,
        sealer=SecretSealer.for_webhooks(settings.secret_key),
    )
    return WebhookCreated(**WebhookOut.model_validate(new.webhook).model_dump(), secret=new.secret)


@router.get("/me/webhooks")
def list_webhooks(user: CurrentUser, db: DbSession) -> list[WebhookOut]:
    """The caller's webhooks, oldest first, without their secrets."""
    return [WebhookOut.model_validate(w) for w in outbox.list_webhooks(db, user)]


@router.delete("/me/webhooks/{webhook_id}", status_code=204, responses=problem_responses(404))
def delete_webhook(webhook_id: UUID, user: CurrentUser, db: DbSession, clock: ClockDep) -> Response:
    """Remove one of the caller's webhooks; its pending deliveries are dropped."""
    outbox.delete_webhook(db, user, webhook_id, clock=clock)
    return Response(status_code=204)
