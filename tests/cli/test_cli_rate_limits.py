"""Request budgets, the CLI side: a 429 (the gateway's per-user budget, or nginx's limit_req
in front of it) is reported as ``Error: Too many requests: … retry in N s`` and exit code 75
(EX_TEMPFAIL), not as a bug (exit 1 with "HTTP 429 … not from the myriagate API")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from myriagate.cli.client import error_from_response
from myriagate.cli.config import save_config
from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from myriagate.errors import RateLimited

URL = "http://testserver"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_enabled": True, "rate_limit_burst": 3, "rate_limit_per_min": 20,
            "rate_limit_submit_cost": 2}  # fmt: skip


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


def test_a_spent_budget_exits_75_saying_how_long_to_wait(
    app: FastAPI, make_user: Callable[..., User], token_for: Callable[[User], str], tmp_path: Path
) -> None:
    alice = make_user()
    save_config(tmp_path / "xdg" / "myriagate" / "config.toml", url=URL, token=token_for(alice))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": None, "MYRIAGATE_TOKEN": None,
           "NO_COLOR": "1", "COLUMNS": "250"}  # fmt: skip
    with TestClient(app) as http:
        results = [
            CliRunner().invoke(cli_app, ["jobs", "list"], env=env, obj=CliDeps(http=http)) for _ in range(4)
        ]
    assert [r.exit_code for r in results] == [0, 0, 0, 75], [r.stderr for r in results]
    message = results[-1].stderr.strip().splitlines()[-1]  # (the in-process server may log above)
    assert message.startswith("Error: Too many requests: too many requests from your account"), message
    assert message.endswith("retry in 3 s"), message  # 20 a minute: one every 3 s


def test_nginx_429_page_is_rate_limited_with_its_retry_after() -> None:
    response = httpx.Response(
        429,
        text="<html><body><h1>429 Too Many Requests</h1></body></html>",
        headers={"Retry-After": "7"},
        request=httpx.Request("GET", URL),
    )
    exc = error_from_response(response)
    assert isinstance(exc, RateLimited) and exc.exit_code == 75 and exc.retry_after_s == 7
    assert (
        str(exc) == "Too many requests: HTTP 429 Too Many Requests (not from the myriagate API); retry in 7 s"
    )
