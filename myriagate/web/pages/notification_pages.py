"""``/settings/notifications``: which events notify, by e-mail and webhooks; the user's own
address and its confirmation link; webhooks (the secret shown once) and "send a test" buttons.

Plain forms, each posting to its own path with the session's CSRF token: everything works
without JavaScript. The page calls the same services as ``/api/v1/me/…`` (docs/notifications.md).
Sending (a confirmation link, a test) runs in the thread pool: the mail server or a webhook may
take seconds to answer, and the event loop must not wait for them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from myriagate.domain.email_addresses import EmailSource
from myriagate.domain.email_verification import token_of, verification_key
from myriagate.domain.notifications import NotificationKind
from myriagate.errors import FieldError, MyriagateError, Text
from myriagate.logs import redact_url
from myriagate.sealed_secrets import SecretSealer
from myriagate.services.notifications import addresses, outbox, trials
from myriagate.services.notifications.addresses import VERIFICATION_TTL
from myriagate.web.deps import ClockDep, DbSession, SettingsDep
from myriagate.web.i18n import Translator
from myriagate.web.notification_channels import VERIFY_PATH, ChannelsDep, verification_link
from myriagate.web.pages.deps import PageContext, PageUser
from myriagate.web.pages.forms import form_fields, see_other
from myriagate.web.pages.rendering import render, translator_for
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
PAGE = "/settings/notifications"
# What a redirect back to the page says (``?done=…``): keys, never text from the URL.
DONE = frozenset({"saved", "verified", "deleted", "unchanged"})
T = TypeVar("T")


def said(t: Translator, message: str) -> str:
    """A service's message in the page's language (``errors.Text`` keeps its msgid)."""
    if isinstance(message, Text):
        values = {k: said(t, v) if isinstance(v, str) else str(v) for k, v in message.values.items()}
        return t.gettext(message.msgid, **values)
    return message


def _fields_said(t: Translator, fields: tuple[FieldError, ...], name: str) -> dict[str, list[str]]:
    return {name: [said(t, f.message) for f in fields]} if fields else {}


def _page(
    request: Request, page: PageContext, db: Session, *, mail_on: bool, status: int = 200, **context: Any
) -> Response:
    user = page.user
    db.refresh(user)  # the address may have changed in another request (a link followed)
    pending_until: datetime | None = (
        user.email_pending_at + VERIFICATION_TTL if user.email_pending_at is not None else None
    )
    done = request.query_params.get("done")
    context.setdefault("values", {})
    context.setdefault("errors", {})
    context.setdefault("notices", [])
    return render(
        request,
        "notifications.html",
        status=status,
        source=(user.email_source or EmailSource.ADMIN).value if user.email else None,
        pending_until=pending_until,
        preferences=outbox.preferences_of(db, user.id),
        kinds=[kind.value for kind in NotificationKind],
        webhooks=outbox.list_webhooks(db, user),
        max_webhooks=outbox.MAX_WEBHOOKS_PER_USER,
        mail_on=mail_on,
        done=done if done in DONE else None,
        **context,
    )


async def _show(request: Request, page: PageContext, db: Session, **context: Any) -> Response:
    """``_page`` from a coroutine: its database reads run in the thread pool, off the event loop."""
    return await run_in_threadpool(functools.partial(_page, request, page, db, **context))


async def _attempt(
    request: Request, page: PageContext, db: Session, mail_on: bool, work: Callable[[], T], *, field: str = ""
) -> T | Response:
    """Run ``work`` in the thread pool; a refusal is the page again, saying why (in a notice,
    and at ``field`` when it concerns one)."""
    try:
        return await run_in_threadpool(work)
    except MyriagateError as exc:
        db.rollback()
        t = translator_for(request)
        errors = _fields_said(t, exc.fields, field) if field else {}
        notices = [] if errors else [("bad", said(t, exc.detail))]
        values = dict(await form_fields(request))
        return await _show(
            request, page, db, mail_on=mail_on, status=exc.http_status, values=values, errors=errors,
            notices=notices,
        )  # fmt: skip


@router.get(PAGE)
def notifications_page(request: Request, page: PageUser, db: DbSession, channels: ChannelsDep) -> Response:
    return _page(request, page, db, mail_on=channels.mailer is not None)


@router.post(f"{PAGE}/preferences")
async def save_preferences(
    request: Request, page: PageUser, db: DbSession, clock: ClockDep, channels: ChannelsDep
) -> Response:
    """Every kind's two checkboxes: a box left unticked is not sent, so absent means off."""
    form = await form_fields(request)
    changes = {
        kind: {"email": f"email:{kind.value}" in form, "webhook": f"webhook:{kind.value}" in form}
        for kind in NotificationKind
    }
    result = await _attempt(request, page, db, channels.mailer is not None,
                            lambda: outbox.set_preferences(db, page.user, changes, clock=clock))  # fmt: skip
    return result if isinstance(result, Response) else see_other(f"{PAGE}?done=saved")


@router.post(f"{PAGE}/email")
async def ask_for_address(
    request: Request,
    page: PageUser,
    db: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    channels: ChannelsDep,
) -> Response:
    form = await form_fields(request)
    key = verification_key(settings.secret_key)

    def ask() -> addresses.LinkSent | None:
        return addresses.request_verification(
            db, page.user, form.get("address", ""), clock=clock, key=key, mailer=channels.mailer,
            link_for=lambda token: verification_link(request, settings, token),
        )  # fmt: skip

    sent = await _attempt(request, page, db, channels.mailer is not None, ask, field="address")
    if isinstance(sent, Response):
        return sent
    if sent is None:
        return see_other(f"{PAGE}?done=unchanged")
    t = translator_for(request)
    notice = t("A confirmation link was sent to %(address)s: open it, signed in as you, before %(until)s.",
               address=sent.address, until=t.datetime(sent.expires_at))  # fmt: skip
    return await _show(request, page, db, mail_on=True, notices=[("ok", notice)])


@router.post(f"{PAGE}/email/test")
async def test_email(request: Request, page: PageUser, db: DbSession, channels: ChannelsDep) -> Response:
    mail_on = channels.mailer is not None
    sent = await _attempt(
        request, page, db, mail_on, lambda: trials.send_trial_email(page.user, channels.mailer)
    )
    if isinstance(sent, Response):
        return sent
    notice = translator_for(request)("A test message was sent to %(address)s.", address=sent)
    return await _show(request, page, db, mail_on=mail_on, notices=[("ok", notice)])


@router.post(f"{PAGE}/webhooks")
async def add_webhook(
    request: Request,
    page: PageUser,
    db: DbSession,
    settings: SettingsDep,
    clock: ClockDep,
    channels: ChannelsDep,
) -> Response:
    form = await form_fields(request)
    sealer = SecretSealer.for_webhooks(settings.secret_key)

    def add() -> outbox.NewWebhook:
        return outbox.add_webhook(
            db, page.user, url=form.get("url", "").strip(), description=form.get("description", "").strip(),
            dev_mode=settings.dev_mode, clock=clock, sealer=sealer,
        )  # fmt: skip

    new = await _attempt(request, page, db, channels.mailer is not None, add, field="url")
    if isinstance(new, Response):
        return new
    return await _show(
        request, page, db, mail_on=channels.mailer is not None, created=new.webhook, secret=new.secret
    )


@router.post(f"{PAGE}/webhooks/{{webhook_id}}/test")
async def test_webhook(
    webhook_id: UUID, request: Request, page: PageUser, db: DbSession, settings: SettingsDep,
    clock: ClockDep, channels: ChannelsDep,
) -> Response:  # fmt: skip
    sealer = SecretSealer.for_webhooks(settings.secret_key)

    def send() -> str:
        hook = trials.send_trial_webhook(db, page.user, webhook_id, poster=channels.webhooks, sealer=sealer,
                                         clock=clock)  # fmt: skip
        return redact_url(hook.url)

    mail_on = channels.mailer is not None
    sent = await _attempt(request, page, db, mail_on, send)
    if isinstance(sent, Response):
        return sent
    notice = translator_for(request)("The test was delivered to %(url)s.", url=sent)
    return await _show(request, page, db, mail_on=mail_on, notices=[("ok", notice)])


@router.post(f"{PAGE}/webhooks/{{webhook_id}}/delete")
def delete_webhook(webhook_id: UUID, page: PageUser, db: DbSession, clock: ClockDep) -> Response:
    outbox.delete_webhook(db, page.user, webhook_id, clock=clock)
    return see_other(f"{PAGE}?done=deleted")


# --- the confirmation link -------------------------------------------------------------------
@router.get(VERIFY_PATH)
def verify_page(
    request: Request, page: PageUser, settings: SettingsDep, clock: ClockDep, token: str = ""
) -> Response:
    """The link's page: what it would confirm, and one button that does (a mail scanner opening
    the link changes nothing); a link that cannot be followed says why at once."""
    token = token_of(token)[:2048]
    key = verification_key(settings.secret_key)
    try:
        claim = addresses.checked_link(page.user, token, clock=clock, key=key)
    except MyriagateError as exc:
        error = said(translator_for(request), exc.detail)
        return render(request, "verify_email.html", status=exc.http_status, token=token, error=error)
    return render(request, "verify_email.html", token=token, error=None, address=claim.address)


@router.post(VERIFY_PATH)
async def verify(
    request: Request, page: PageUser, db: DbSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    token = token_of((await form_fields(request)).get("token", ""))[:2048]
    key = verification_key(settings.secret_key)
    try:
        await run_in_threadpool(addresses.confirm, db, page.user, token, clock=clock, key=key)
    except MyriagateError as exc:
        db.rollback()
        error = said(translator_for(request), exc.detail)
        return render(request, "verify_email.html", status=exc.http_status, token=token, error=error)
    return see_other(f"{PAGE}?done=verified")
