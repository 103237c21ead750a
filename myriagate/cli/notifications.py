"""`myriagate notifications …`: which events notify you, your e-mail address and your webhooks.

A client of ``/api/v1/me/notifications``, ``/me/email`` and ``/me/webhooks`` (docs/notifications.md):
the rules (address checks, confirmation links, webhook URLs) are the server's. Nothing of the
server is imported here (no database, web framework or SSH library), so the command starts as
fast as the rest of the client.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, guarded, print_json, print_table
from myriagate.domain.notifications import NotificationKind
from myriagate.errors import FieldError, InvalidRequest

notifications_app = typer.Typer(
    cls=OneLineHelpGroup,
    help="Notifications: which events reach you, by e-mail and webhooks; your address.",
    no_args_is_help=True,
)
webhooks_app = typer.Typer(
    cls=OneLineHelpGroup, help="Webhooks: signed HTTPS POSTs of your events.", no_args_is_help=True
)
notifications_app.add_typer(webhooks_app, name="webhooks")

KINDS = [kind.value for kind in NotificationKind]
_SOURCES = {
    "user": "confirmed by you",
    "sso": "from your institution's sign-in",
    "admin": "set by an administrator",
}


def _when(value: object) -> str:
    """``2026-12-05T10:00:00+00:00`` -> ``2026-12-05 10:00 UTC``."""
    text = str(value or "")
    return f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 else text


def describe_address(state: dict[str, Any]) -> list[str]:
    """The address lines of `show` and `email`/`verify`: where mail goes, what waits."""
    address = state.get("email_address")
    if address:
        how = _SOURCES.get(str(state.get("email_source")), "")
        when = f" on {_when(state['email_verified_at'])}" if state.get("email_verified_at") else ""
        lines = [f"E-mail address: {address} ({how}{when})"]
    else:
        lines = ["E-mail address: none confirmed: no e-mail is sent to you"]
    if state.get("pending_email_address"):
        lines.append(
            f"Waiting for confirmation: {state['pending_email_address']} "
            "(open the link mailed to it, or run `myriagate notifications verify <token>`)"
        )
    return lines


def _on(value: object) -> str:
    return "on" if value else "off"


# --- myriagate notifications show | set | email | verify | test ------------------------------
@notifications_app.command("show")
@guarded
def show(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Your address, which events notify you (e-mail, webhooks) and your webhooks."""
    with open_gateway(ctx) as client:
        state = client.request("GET", "/me/notifications").json()
        hooks = client.request("GET", "/me/webhooks").json()
    if json:
        print_json({**state, "webhooks": hooks})
        return
    for line in describe_address(state):
        typer.echo(line)
    prefs = state.get("preferences", {})
    rows = [
        (kind, _on(prefs.get(kind, {}).get("email")), _on(prefs.get(kind, {}).get("webhook")))
        for kind in KINDS
    ]
    print_table(("event", "e-mail", "webhooks"), rows, title="Events")
    if hooks:
        print_table(
            ("id", "url", "description", "created"),
            [(h["id"], h["url"], h.get("description", ""), _when(h.get("created_at"))) for h in hooks],
            title="Webhooks",
        )
    else:
        typer.echo("No webhook (add one with `myriagate notifications webhooks add URL`).")


def _kinds(names: list[str]) -> list[str]:
    """``all`` or event kinds, each checked against the list (the server checks them again)."""
    if "all" in names:
        return KINDS
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise InvalidRequest(
            f"unknown event {', '.join(unknown)}; known: all, {', '.join(KINDS)}",
            fields=[FieldError(("kind",), "unknown event")],
        )
    return names


@notifications_app.command("set")
@guarded
def set_(
    ctx: typer.Context,
    kinds: Annotated[
        list[str], typer.Argument(help=f"Events (or all): {', '.join(KINDS)}.", show_default=False)
    ],
    email: Annotated[bool | None, typer.Option("--email/--no-email", help="By e-mail, or not.")] = None,
    webhook: Annotated[
        bool | None, typer.Option("--webhook/--no-webhook", help="To your webhooks, or not.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Turn e-mail and/or webhooks on or off for some events (`set all --no-email`)."""
    if email is None and webhook is None:
        raise InvalidRequest("say what to change: --email, --no-email, --webhook or --no-webhook")
    choice = {k: v for k, v in (("email", email), ("webhook", webhook)) if v is not None}
    body = {"preferences": dict.fromkeys(_kinds(kinds), choice)}
    with open_gateway(ctx) as client:
        state = client.request("PUT", "/me/notifications", json=body).json()
    if json:
        print_json(state)
        return
    prefs = state.get("preferences", {})
    for kind in _kinds(kinds):
        typer.echo(f"{kind}: e-mail {_on(prefs[kind]['email'])}, webhooks {_on(prefs[kind]['webhook'])}")


@notifications_app.command("email")
@guarded
def email(
    ctx: typer.Context,
    address: Annotated[
        str, typer.Argument(help="The address to receive notifications at.", show_default=False)
    ],
    json: JsonOpt = False,
) -> None:
    """Set your address: a confirmation link is mailed to it (valid 24 hours); it is used once
    you open the link (or run `myriagate notifications verify <token>`)."""
    with open_gateway(ctx) as client:
        state = client.request("PUT", "/me/email", json={"address": address}).json()
    if json:
        print_json(state)
    elif state.get("link_expires_at"):
        typer.echo(
            f"A confirmation link was sent to {state['pending_email_address']} (valid until "
            f"{_when(state['link_expires_at'])}). Until you open it, "
            + (
                f"mail still goes to {state['email_address']}."
                if state.get("email_address")
                else "no mail is sent."
            )
        )
    else:
        typer.echo(f"{address} is already your confirmed address: nothing to confirm.")


@notifications_app.command("verify")
@guarded
def verify(
    ctx: typer.Context,
    token: Annotated[
        str, typer.Argument(help="The token from the e-mail, or the whole link.", show_default=False)
    ],
    json: JsonOpt = False,
) -> None:
    """Confirm your new address with the token (or link) mailed to it."""
    with open_gateway(ctx) as client:
        state = client.request("POST", "/me/email/verification", json={"token": token}).json()
    if json:
        print_json(state)
    else:
        typer.echo(f"Confirmed: notifications go to {state['email_address']}.")


@notifications_app.command("test")
@guarded
def test_email(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Send a test e-mail to your confirmed address now."""
    with open_gateway(ctx) as client:
        sent = client.request("POST", "/me/email/test").json()
    if json:
        print_json(sent)
    else:
        typer.echo(f"A test message was sent to {sent['sent_to']}.")


# --- myriagate notifications webhooks list | add | rm | test ---------------------------------
def _webhook_id(client: Any, text: str) -> str:
    """A webhook's id from its full id or a unique prefix of it (as `webhooks list` shows)."""
    wanted = text.strip().lower()
    ids = [str(h["id"]) for h in client.request("GET", "/me/webhooks").json()]
    found = [i for i in ids if i.startswith(wanted)] if wanted else []
    if len(found) == 1:
        return found[0]
    problem = "matches several of your webhooks" if found else "is none of your webhooks"
    raise InvalidRequest(
        f"{text!r} {problem}: give more of its id (`myriagate notifications webhooks list`)",
        fields=[FieldError(("webhook_id",), problem)],
    )


@webhooks_app.command("list")
@guarded
def webhooks_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Your webhooks (their secrets are never shown again)."""
    with open_gateway(ctx) as client:
        hooks = client.request("GET", "/me/webhooks").json()
    if json:
        print_json(hooks)
    elif not hooks:
        typer.echo("No webhook.")
    else:
        rows = [(h["id"], h["url"], h.get("description", ""), _when(h.get("created_at"))) for h in hooks]
        print_table(("id", "url", "description", "created"), rows, title="Webhooks")


@webhooks_app.command("add")
@guarded
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Argument(help="The https:// address events are POSTed to.", show_default=False)
    ],
    description: Annotated[str, typer.Option("--description", "-d", help="A note for you.")] = "",
    json: JsonOpt = False,
) -> None:
    """Add a webhook; its signing secret is printed now and never again."""
    with open_gateway(ctx) as client:
        created = client.request("POST", "/me/webhooks", json={"url": url, "description": description}).json()
    if json:
        print_json(created)
        return
    typer.echo(f"Webhook {created['id']} added for {created['url']}.")
    typer.echo("Its signing secret (shown only now: copy it into the receiving service):")
    typer.echo(created["secret"])


@webhooks_app.command("rm")
@guarded
def webhooks_rm(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="Its id, or a unique start of it.", show_default=False)],
) -> None:
    """Delete a webhook (deliveries still waiting for it are dropped)."""
    with open_gateway(ctx) as client:
        webhook_id = _webhook_id(client, webhook)
        client.request("DELETE", f"/me/webhooks/{webhook_id}")
    typer.echo(f"Webhook {webhook_id} deleted.")


@webhooks_app.command("test")
@guarded
def webhooks_test(
    ctx: typer.Context,
    webhook: Annotated[str, typer.Argument(help="Its id, or a unique start of it.", show_default=False)],
    json: JsonOpt = False,
) -> None:
    """POST a signed test delivery (kind "test") to one of your webhooks now."""
    with open_gateway(ctx) as client:
        webhook_id = _webhook_id(client, webhook)
        sent = client.request("POST", f"/me/webhooks/{webhook_id}/test").json()
    if json:
        print_json(sent)
    else:
        typer.echo(f"The test was delivered to {sent['sent_to']}.")
