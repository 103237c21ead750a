# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #15: every table the CLI prints fits 60, 80 and 200 columns and never cuts a number or
a name: `quota`, `clusters`, `clusters NAME`, `templates list|show`, `admin quota show`,
`admin periods list`, `admin report`. Values are checked whole on one line."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from tests.cli.test_cli_allocations import (  # noqa: F401 - fixtures by name
    URL,
    As,
    as_user,
    http,
    ok,
    people,
    quiet_server_logs,
    settings_overrides,
    world,
)
from tests.conftest import CLUSTER

WIDTHS = (60, 80, 200)


@pytest.fixture
def at(
    http: TestClient, tmp_path: Path, token_for: Callable[[User], str], people: dict[str, User], world: object
) -> Callable[[str, int], As]:
    """``at("alice", 60)("quota")``: a command as that person in a terminal that wide."""
    runner = CliRunner()

    def bind(name: str, width: int) -> As:
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": URL, "NO_COLOR": "1",
               "MYRIAGATE_TOKEN": token_for(people[name]), "COLUMNS": str(width)}  # fmt: skip

        def run(*args: str) -> Result:
            return runner.invoke(cli_app, list(args), env=env, obj=CliDeps(http=http))

        return run

    return bind


def fits(text: str, width: int, *whole: str) -> None:
    assert "…" not in text, text
    for line in text.splitlines():
        assert len(line.rstrip()) <= width, f"{len(line.rstrip())} > {width}: {line!r}\n{text}"
    lines = text.splitlines()
    for value in whole:
        assert any(value in line for line in lines), f"{value!r} cut or missing:\n{text}"


@pytest.mark.parametrize("width", WIDTHS)
def test_quota_fits_and_keeps_accounts_and_amounts_whole(at: Callable[[str, int], As], width: int) -> None:
    text = ok(at("alice", width)("quota"))
    fits(text, width, "caen-climat", "1,000")
    if width == 200:
        assert "░" * 20 in text and "2026" in text and CLUSTER in text


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_tables_fit(at: Callable[[str, int], As], width: int) -> None:
    root = at("root", width)
    fits(ok(root("admin", "quota", "show", "unicaen")), width, "unicaen", "10,000")
    periods = ok(root("admin", "periods", "list"))
    fits(periods, width, "2026")
    assert re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", periods)  # ids whole
    fits(ok(root("admin", "report", "--month", "2026-01", "--by", "project")), width, "total")


@pytest.mark.parametrize("width", WIDTHS)
def test_clusters_and_templates_fit(at: Callable[[str, int], As], width: int) -> None:
    alice = at("alice", width)
    fits(ok(alice("clusters")), width, "debug")
    fits(ok(alice("clusters", CLUSTER)), width, "debug")
    templates = ok(alice("templates", "list"))
    fits(templates, width, "hello")
    fits(ok(alice("templates", "show", "hello")), width)
