"""`myriagate login`, `logout` and `whoami`: a personal API token kept in the user's config.

Nothing here touches the database or the cluster: the CLI runs on a laptop with only the
gateway URL and a personal token (see ``config.py``).
"""

from __future__ import annotations

import getpass
import socket
import sys
from typing import Annotated

import typer

from myriagate.cli.context import connect, open_gateway
from myriagate.cli.output import JsonOpt, console, guarded, print_json, print_table, warn
from myriagate.client.config import TOKEN_ENV, load_config, normalise_url, save_config
from myriagate.errors import InvalidRequest, MyriagateError, NotAuthenticated
from myriagate.web.api.schemas import TokenIn


# --- login / logout / whoami ----------------------------------------------------------------
@guarded
def login(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="The gateway, e.g. https://myriagate.criann.fr")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="A token made on the gateway's web page (`-` reads it from stdin)."),
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Gateway username.")] = None,
    expires_in_days: Annotated[int, typer.Option(min=1, max=365, help="Lifetime of the new token.")] = 90,
    json: JsonOpt = False,
) -> None:
    """Log in once: store the gateway URL and a personal token (file readable by you only)."""
    config = load_config()
    url = normalise_url(url or config.url or typer.prompt("Gateway URL"))
    if url.startswith("http://") and not _is_loopback(url):
        warn(f"{url} is not HTTPS: your password and token would cross the network in clear")
    token_id: str | None = None
    if token is not None:
        from_stdin = token == "-"  # noqa: S105 - `-` means stdin, as for files
        token = (sys.stdin.readline() if from_stdin else token).strip()
        if not token:
            raise InvalidRequest("empty token")
        with connect(ctx, url, token) as client:
            me = client.me()  # proves the token works before it is stored
            found = client.find_token_id(token)
            token_id = str(found) if found else None
    else:
        username = username or typer.prompt("Username", default=getpass.getuser())
        password = typer.prompt("Password", hide_input=True)
        name = f"myriagate CLI on {socket.gethostname()}"[:100]
        with connect(ctx, url, None) as client:
            created = client.create_token(
                TokenIn(name=name, expires_in_days=expires_in_days), basic=(username, password)
            )
            token, token_id = created.token, str(created.id)
            client.token = token
            me = client.me()
    save_config(config.path, url=url, token=token, token_id=token_id)
    if config.token_from_env:
        warn(f"{TOKEN_ENV} is set and overrides the stored token")
    if json:
        print_json({"url": url, "username": me.username, "config": str(config.path)})
    else:
        typer.echo(f"Logged in to {url} as {me.username} (cluster login {me.cluster_login}).")
        typer.echo(f"Token stored in {config.path}")


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


@guarded
def logout(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Revoke the stored token on the gateway and forget it here."""
    config = load_config()
    if not config.token:
        raise NotAuthenticated("not logged in")
    problem: MyriagateError | None = None
    try:
        with open_gateway(ctx, config) as client:
            token_id = config.token_id or client.find_token_id(config.token)
            if token_id is not None:
                client.revoke_token(token_id)
    except NotAuthenticated:
        pass  # already expired or revoked: nothing left to revoke
    except MyriagateError as exc:
        problem = exc
    if config.path.exists():
        save_config(config.path, url=None if config.url_from_env else config.url, token=None)
    if config.token_from_env:
        warn(f"{TOKEN_ENV} is still set in your environment")
    if problem is not None:
        problem.detail = f"token forgotten here but NOT revoked on the gateway: {problem.detail}"
        raise problem
    if json:
        print_json({"logged_out": True})
    else:
        typer.echo("Logged out: token revoked and forgotten.")


@guarded
def whoami(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Who the gateway thinks you are: roles, projects, cluster login."""
    with open_gateway(ctx) as client:
        me = client.me()
    if json:
        print_json(me.model_dump(mode="json"))
        return
    out = console()
    out.print(f"{me.username} ({me.display_name or '-'}) on {client.base_url}")
    out.print(f"cluster login: {me.cluster_login}   institution: {me.institution or '-'}")
    out.print(f"roles: {', '.join(me.roles) or '-'}")
    print_table(
        ("cluster", "account", "role"),
        [(m.cluster, m.slurm_account, m.role) for m in me.memberships],
        title="Projects",
    )
