"""``/me/notifications`` (preferences) and ``/me/webhooks``: how the caller wants to be told.

See docs/notifications.md for the event kinds, the defaults and how to check a webhook's
signature. A webhook's secret is shown once, in the answer to its creation.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from myriagate.domain.email_addresses import EmailSource
from myriagate.domain.email_verification import token_of, verification_key
from myriagate.domain.notifications import NotificationKind
from myriagate.logs import redact_url
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import addresses, outbox, trials
from myriagate.services.people.auth import User
from myriagate.web.deps import ClockDep, CurrentUser, DbSession, SettingsDep
from myriagate.web.notification_channels import ChannelsDep, verification_link
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


class AddressOut(BaseModel):
    email_address: str | None = Field(description="Where e-mails go (none: no e-mail is sent).")
    email_source: EmailSource | None = Field(
        description="Who vouched for it: admin, sso (the institution's sign-on) or user (confirmed by link)."
    )
    email_verified_at: datetime | None
    pending_email_address: str | None = Field(
        description="An address asked for and not confirmed yet: it receives nothing but its link."
    )


class PreferencesOut(AddressOut):
    preferences: dict[NotificationKind, ChannelChoice]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Longer than any address on purpose: the service says why a long one is refused.
    address: str = Field(max_length=10_000, description="The address to receive notifications at.")


class AddressRequested(AddressOut):
    link_expires_at: datetime | None = Field(
        description="When the confirmation link mailed to the pending address stops working (none: "
        "the address was already the confirmed one, nothing was sent)."
    )


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(
        max_length=4096, description="The token of the link (after ?token=), or the whole link."
    )


class TrialOut(BaseModel):
    sent_to: str = Field(description="The address or webhook URL the test went to.")


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


def _address_of(user: User) -> AddressOut:
    return AddressOut(
        email_address=user.email,
        email_source=user.email_source or (EmailSource.ADMIN if user.email else None),
        email_verified_at=user.email_verified_at,
        pending_email_address=user.email_pending,
    )


def _preferences_out(user: User, prefs: dict[NotificationKind, outbox.Preference]) -> PreferencesOut:
    return PreferencesOut(
        **_address_of(user).model_dump(),
        preferences={k: ChannelChoice(email=p.email, webhook=p.webhook) for k, p in prefs.items()},
    )


@router.get("/me/notifications")
def get_preferences(user: CurrentUser, db: DbSession) -> PreferencesOut:
    """Every event kind with the channels it goes out through (stored choice or default)."""
    return _preferences_out(user, outbox.preferences_of(db, user.id))


@router.put("/me/notifications", responses=problem_responses(422))
def put_preferences(body: PreferencesIn, user: CurrentUser, db: DbSession, clock: ClockDep) -> PreferencesOut:
    """Change the channels of some kinds; the answer is the whole new set."""
    changes = {kind: choice.model_dump(exclude_none=True) for kind, choice in body.preferences.items()}
    return _preferences_out(user, outbox.set_preferences(db, user, changes, clock=clock))


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


@router.post("/me/webhooks/{webhook_id}/test", responses=problem_responses(404, 409, 502))
def test_webhook(
    webhook_id: UUID,
    user: CurrentUser,
    db: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    channels: ChannelsDep,
) -> TrialOut:
    """POST a signed ``test`` delivery to one of the caller's webhooks now; 502 with its answer
    when it did not take it."""
    hook = trials.send_trial_webhook(
        db, user, webhook_id, poster=channels.webhooks,
        sealer=SecretSealer.for_webhooks(settings.secret_key), clock=clock,
    )  # fmt: skip
    return TrialOut(sent_to=redact_url(hook.url))


# --- the address ------------------------------------------------------------------------------
@router.put("/me/email", responses=problem_responses(409, 422, 429, 502))
def put_email(
    body: AddressIn, request: Request, user: CurrentUser, db: DbSession, settings: SettingsDep,
    clock: ClockDep, channels: ChannelsDep,
) -> AddressRequested:  # fmt: skip
    """Ask to receive notifications at ``address``: a confirmation link is mailed to it (valid
    24 hours); the address on record keeps receiving mail until the link is followed."""
    sent = addresses.request_verification(
        db, user, body.address, clock=clock, key=verification_key(settings.secret_key),
        mailer=channels.mailer, link_for=lambda token: verification_link(request, settings, token),
    )  # fmt: skip
    expires = sent.expires_at if sent is not None else None
    return AddressRequested(**_address_of(user).model_dump(), link_expires_at=expires)


@router.post("/me/email/verification", responses=problem_responses(403, 422))
def confirm_email(
    body: ConfirmIn, user: CurrentUser, db: DbSession, settings: SettingsDep, clock: ClockDep
) -> AddressOut:
    """Confirm the pending address with the token of the link mailed to it (as the same user)."""
    key = verification_key(settings.secret_key)
    addresses.confirm(db, user, token_of(body.token), clock=clock, key=key)
    return _address_of(user)


@router.post("/me/email/test", responses=problem_responses(409, 502))
def test_email(user: CurrentUser, channels: ChannelsDep) -> TrialOut:
    """Send a test message to the caller's confirmed address now."""
    return TrialOut(sent_to=trials.send_trial_email(user, channels.mailer))
