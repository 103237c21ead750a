"""Issue #15: `myriagate notifications show|set|email|verify|test` and `… webhooks
list|add|rm|test`, run through Typer's CliRunner against the in-process API (fake mail and
webhooks: tests/web/notif_helpers.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.models.users import User
from tests.conftest import FakeClock
from tests.web import notif_helpers
from tests.web.conftest import MakeUser
from tests.web.notif_helpers import Outbox

sent = notif_helpers.sent  # the fake mail and webhooks (a fixture, by name)

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    """The API runs in this process: keep its log lines out of the CLI's captured output."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def as_user(
    app: FastAPI, sent: Outbox, tmp_path: Path, token_for: Callable[[User], str]
) -> Iterator[Callable[[User], Run]]:
    with TestClient(app) as http:

        def bind(user: User) -> Run:
            env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": "http://testserver",
                   "MYRIAGATE_TOKEN": token_for(user), "NO_COLOR": "1", "COLUMNS": "200"}  # fmt: skip

            def run(*args: str) -> Result:
                return CliRunner().invoke(cli_app, ["notifications", *args], env=env, obj=CliDeps(http=http))

            return run

        yield bind


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_show_and_set_events(make_user: MakeUser, as_user: Callable[[User], Run]) -> None:
    run = as_user(make_user())
    shown = ok(run("show"))
    assert "E-mail address: none confirmed" in shown and "job_started" in shown and "No webhook" in shown
    changed = ok(run("set", "job_started", "job_failed", "--email", "--no-webhook"))
    assert changed.splitlines() == [
        "job_started: e-mail on, webhooks off",
        "job_failed: e-mail on, webhooks off",
    ]
    everything = json.loads(ok(run("set", "all", "--no-email", "--json")))
    assert not any(p["email"] for p in everything["preferences"].values())
    assert everything["preferences"]["job_failed"]["webhook"] is False
    assert json.loads(ok(run("show", "--json")))["webhooks"] == []


def test_set_refuses_unknown_events_and_no_change(
    make_user: MakeUser, as_user: Callable[[User], Run]
) -> None:
    run = as_user(make_user())
    unknown = run("set", "job_exploded", "--email")
    assert unknown.exit_code == 5 and "unknown event job_exploded; known: all, job_started" in unknown.stderr
    nothing = run("set", "job_started")
    assert nothing.exit_code == 5 and "--email, --no-email" in nothing.stderr


def test_email_then_verify_with_the_token_from_the_mail(
    make_user: MakeUser, as_user: Callable[[User], Run], sent: Outbox
) -> None:
    run = as_user(make_user())
    asked = ok(run("email", "alice@unicaen.fr"))
    assert "A confirmation link was sent to alice@unicaen.fr (valid until 2026-01-06 09:00 UTC)" in asked
    assert "no mail is sent" in asked
    assert "Waiting for confirmation: alice@unicaen.fr" in ok(run("show"))
    test_before = run("test")
    assert test_before.exit_code == 6 and "no confirmed e-mail address yet" in test_before.stderr
    _, token = sent.last_link()
    assert ok(run("verify", token)) == "Confirmed: notifications go to alice@unicaen.fr.\n"
    assert "E-mail address: alice@unicaen.fr (confirmed by you on 2026-01-05 09:00 UTC)" in ok(run("show"))
    assert ok(run("test")) == "A test message was sent to alice@unicaen.fr.\n"


def test_hostile_addresses_and_someone_elses_token_fail_with_their_exit_codes(
    make_user: MakeUser, as_user: Callable[[User], Run], sent: Outbox, clock: FakeClock
) -> None:
    alice, mallory = as_user(make_user()), as_user(make_user())
    hostile_addresses = [
        ("alice@unicaen.fr\nBcc: all@unicaen.fr", "one line"),
        ("--uid=0@unicaen.fr", "not an e-mail address"),
        ("a" * 300 + "@x.fr", "at most 254"),
        ("zoë@unicaen.fr", "plain ASCII"),
    ]
    for hostile, says in hostile_addresses:
        refused = alice("email", "--", hostile)
        assert refused.exit_code == 5 and says in refused.stderr, refused.stderr
    assert sent.mailer.sent == []
    ok(alice("email", "alice@unicaen.fr"))
    _, token = sent.last_link()
    stolen = mallory("verify", token)
    assert stolen.exit_code == 4 and "sent for another account" in stolen.stderr
    clock.advance(24 * 3600)
    expired = alice("verify", token)
    assert expired.exit_code == 5 and "expired" in expired.stderr
    damaged = alice("verify", token[:-3])
    assert damaged.exit_code == 5 and "incomplete" in damaged.stderr


def test_webhooks_add_list_test_rm(make_user: MakeUser, as_user: Callable[[User], Run], sent: Outbox) -> None:
    run = as_user(make_user())
    added = ok(run("webhooks", "add", "http://127.0.0.1:9/hook", "-d", "lab bot")).splitlines()
    assert added[0].startswith("Webhook ") and added[1].startswith("Its signing secret (shown only now")
    secret = added[2]
    listed = json.loads(ok(run("webhooks", "list", "--json")))
    assert [(h["url"], h["description"]) for h in listed] == [("http://127.0.0.1:9/hook", "lab bot")]
    assert secret not in ok(run("webhooks", "list")) and "secret" not in listed[0]
    prefix = listed[0]["id"][:8]
    assert ok(run("webhooks", "test", prefix)) == "The test was delivered to http://127.0.0.1:9/[redacted].\n"
    assert sent.poster.posted[0][2]["X-Myriagate-Event"] == "test"
    missing = run("webhooks", "rm", "ffffffff")
    assert missing.exit_code == 5 and "is none of your webhooks" in missing.stderr
    assert ok(run("webhooks", "rm", prefix)) == f"Webhook {listed[0]['id']} deleted.\n"
    assert json.loads(ok(run("webhooks", "list", "--json"))) == []
    refused = run("webhooks", "add", "ftp://example.org/x")
    assert refused.exit_code == 5


def test_the_module_imports_nothing_of_the_server_beyond_what_the_client_does() -> None:
    """Another engineer makes the CLI start fast: this module must not pull the server in."""
    code = (
        "import sys\n"
        "import myriagate.cli.context, myriagate.cli.output\n"
        "before = set(sys.modules)\n"
        "import myriagate.cli.notifications\n"
        "added = set(sys.modules) - before\n"
        "server = ('sqlalchemy', 'fastapi', 'paramiko', 'starlette')\n"
        "ours = ('myriagate.db', 'myriagate.web', 'myriagate.services')\n"
        "print(sorted(m for m in added if m.split('.')[0] in server or m.startswith(ours)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out
