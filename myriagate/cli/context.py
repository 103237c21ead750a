"""What a researcher command needs to reach the gateway, injectable for tests.

``myriagate`` commands read the config and open their own httpx client; tests invoke the app
with ``obj=CliDeps(http=TestClient(app))`` so the same commands talk to an in-process API.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import typer

from myriagate import __version__
from myriagate.client.client import Client
from myriagate.client.config import CliConfig, load_config

USER_AGENT = f"myriagate-cli/{__version__}"


@dataclass(frozen=True)
class CliDeps:
    """Replaceable collaborators: the HTTP client and the clock's sleep."""

    http: httpx.Client | None = None
    sleep: Callable[[float], None] = time.sleep


def deps(ctx: typer.Context) -> CliDeps:
    obj = ctx.find_object(CliDeps)
    return obj if obj is not None else CliDeps()


def open_gateway(ctx: typer.Context, config: CliConfig | None = None) -> Client:
    """A client of the configured gateway with the configured token (checked lazily)."""
    config = config or load_config()
    return connect(ctx, config.require_url(), config.token)


def connect(ctx: typer.Context, url: str, token: str | None) -> Client:
    """A client of ``url`` (``login`` tries a URL and a token before storing them), asking
    for the gateway's refusals in the terminal's language (the CLI's own words stay English)."""
    return Client(url, token, http=deps(ctx).http, user_agent=USER_AGENT, language=language())


def language() -> str:
    """``fr`` for a French locale, else ``en`` (templates carry both): the first of LC_ALL,
    LC_MESSAGES and LANG that is set, as the C library reads them for messages."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def localised(texts: dict[str, str]) -> str:
    return texts.get(language()) or texts.get("en") or next(iter(texts.values()), "")
