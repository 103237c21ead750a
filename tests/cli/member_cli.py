"""Fixtures of the admin CLI tests around one project's members (`admin members`, `admin
project`): the member world, its session, and the CLI run in-process as a given user against
the real app at 80 columns. Test modules import them by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser
from tests.web.member_world import World, build

As = Callable[..., Result]
CliFor = Callable[..., As]  # (user, *the command's first words) -> a runner of the rest


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    """The API runs in this process: keep its log lines out of the CLI's captured output."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def db(web_session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with web_session_factory() as session:
        yield session


@pytest.fixture
def world(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    return build(make_user, db, clock)


@pytest.fixture
def cli_for(app: FastAPI, tmp_path: Path, token_for: Callable[[User], str]) -> Iterator[CliFor]:
    runner = CliRunner()
    with TestClient(app) as http:

        def bind(user: User, *command: str) -> As:
            env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": "http://testserver",
                   "MYRIAGATE_TOKEN": token_for(user), "NO_COLOR": "1", "COLUMNS": "80"}  # fmt: skip

            def run(*args: str, input: str | None = None) -> Result:
                return runner.invoke(cli_app, [*command, *args], env=env, obj=CliDeps(http=http), input=input)

            return run

        yield bind
