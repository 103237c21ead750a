"""`myriagate quota`, `admin quota|grant|report|periods` and the dry-run estimate, in-process.

Commands run through Typer's CliRunner against the real app (``CliDeps(http=TestClient(app))``)
with allocations enforced; each command is run as a given user through MYRIAGATE_TOKEN.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from myriagate.cli.context import CliDeps
from myriagate.cli.main import app as cli_app
from myriagate.db.ledger import SqlLedger
from myriagate.db.models.users import User
from myriagate.domain.costs import Cost
from tests.conftest import FakeClock
from tests.web.conftest import MakeUser

URL = "http://testserver"
SCRIPT = "#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=5\necho hello\n"
H = 3600


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"enforce_allocations": True}


@pytest.fixture(autouse=True)
def quiet_server_logs() -> Iterator[None]:
    """The API runs in this process: keep its log lines out of the CLI's captured stdout."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    yield
    structlog.configure(**saved)


@pytest.fixture
def http(app: FastAPI, clock: FakeClock) -> Iterator[TestClient]:
    app.state.clock = clock  # 2026-01-05, inside the 2026 period
    with TestClient(app) as client:
        yield client


As = Callable[..., Result]


@pytest.fixture
def as_user(http: TestClient, tmp_path: Path, token_for: Callable[[User], str]) -> Callable[[User], As]:
    """``as_user(u)("quota", "--json")``: run a command with ``u``'s token."""
    runner = CliRunner()

    def bind(user: User) -> As:
        env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MYRIAGATE_URL": URL,
               "MYRIAGATE_TOKEN": token_for(user), "NO_COLOR": "1", "COLUMNS": "250"}  # fmt: skip

        def run(*args: str) -> Result:
            return runner.invoke(cli_app, list(args), env=env, obj=CliDeps(http=http))

        return run

    return bind


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def people(make_user: MakeUser) -> dict[str, User]:
    return {
        "alice": make_user("researcher", username="alice@unicaen.fr", login="alice"),
        "ursula": make_user("university_admin", username="ursula@unicaen.fr"),
        "root": make_user("platform_admin", username="root@criann.fr"),
        "bea": make_user("researcher", username="bea@unicaen.fr", accounts=["caen-bio"]),
    }


@pytest.fixture
def world(people: dict[str, User], as_user: Callable[[User], As]) -> dict[str, As]:
    """The 2026 period, a quota for unicaen and 1000 h for caen-climat, all made with the CLI."""
    root = as_user(people["root"])
    created = json.loads(
        ok(
            root(
                "admin", "periods", "create", "2026", "--start", "2026-01-01", "--end", "2027-01-01", "--json"
            )
        )
    )
    assert created["starts_at"].startswith("2026-01-01T00:00:00")
    ok(
        root(
            "admin",
            "quota",
            "set",
            "unicaen",
            "--period",
            "2026",
            "--core-hours",
            "10000",
            "--gpu-hours",
            "50",
        )
    )
    ok(root("admin", "grant", "caen-climat", "--core-hours", "1000", "--reason", "call 2026"))
    return {name: as_user(user) for name, user in people.items()}


# --- myriagate quota ----------------------------------------------------------------------------------
def test_quota_shows_my_projects_balances_as_a_table(world: dict[str, As]) -> None:
    out = ok(world["alice"]("quota"))
    assert "caen-climat" in out and "2026" in out
    assert "1,000" in out  # granted and remaining, in core-hours
    assert "░" * 20 in out  # nothing used or held yet
    assert "caen-bio" not in out  # not alice's project


def test_quota_json_has_exact_seconds(world: dict[str, As]) -> None:
    [row] = json.loads(ok(world["alice"]("quota", "--json")))
    assert row["account"] == "caen-climat"
    assert row["granted"]["core_seconds"] == row["remaining"]["core_seconds"] == 1000 * H


def test_quota_bar_shows_what_is_used_and_held(
    world: dict[str, As],
    people: dict[str, User],
    web_session_factory: sessionmaker[Session],
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    ok(world["ursula"]("admin", "grant", "caen-bio", "--core-hours", "0.5", "--reason", "tiny"))
    bea = world["bea"]
    first = json.loads(ok(bea("submit", str(script), "--json")))
    ok(bea("submit", str(script), "--json"))  # stays held
    with web_session_factory() as session:  # the worker charges the first job 600 s
        SqlLedger(session, clock=clock).settle(job_id=uuid.UUID(first["id"]), actual=Cost(600, 0))
        session.commit()
    [row] = json.loads(ok(bea("quota", "--json")))
    # The second job holds 300: Slurm bills 1 CPU with DefMemPerCPU's 1000 MB on debug
    # ⌊1.244⌋ = 1 per second, for its 5 minutes (the old rule held ⌈1.488 × 300⌉ = 447).
    assert (row["charged"]["core_seconds"], row["held"]["core_seconds"]) == (600, 300)
    assert row["remaining"]["core_seconds"] == 1800 - 600 - 300
    out = ok(bea("quota"))
    # 600/1800 of 20 cells used, 300/1800 held, the rest remaining.
    assert "███████▒▒▒░░░░░░░░░░" in out


# --- admin grant, quota, periods ----------------------------------------------------------------
def test_a_university_admin_grants_within_the_quota(world: dict[str, As]) -> None:
    out = ok(
        world["ursula"]("admin", "grant", "caen-bio", "--core-hours", "250", "--reason", "mid-year call")
    )
    assert "250 CPU-h" in out and "caen-bio" in out
    [row] = json.loads(ok(world["bea"]("quota", "--json")))
    assert row["granted"]["core_seconds"] == 250 * H
    quotas = json.loads(ok(world["ursula"]("admin", "quota", "show", "unicaen", "--json")))
    assert quotas[0]["granted"]["core_seconds"] == 1250 * H


def test_cpu_hours_is_the_option_name_and_core_hours_still_works(world: dict[str, As]) -> None:
    """The pages, `quota` and the reports say CPU-h: the admin options say it too; the old
    `--core-hours` spelling still works in scripts."""
    ok(world["ursula"]("admin", "grant", "caen-bio", "--cpu-hours", "100", "--reason", "new name"))
    ok(world["ursula"]("admin", "grant", "caen-bio", "--core-hours", "50", "--reason", "old name"))
    [row] = json.loads(ok(world["bea"]("quota", "--json")))
    assert row["granted"]["core_seconds"] == 150 * H
    helps = [ok(world["ursula"](*cmd, "--help")) for cmd in (("admin", "grant"), ("admin", "quota", "set"))]
    assert all("--cpu-hours" in h and "CPU-hours" in h for h in helps)


def test_a_researcher_cannot_grant_exit_4(world: dict[str, As]) -> None:
    result = world["alice"]("admin", "grant", "caen-climat", "--core-hours", "100", "--reason", "me")
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: ")
    [row] = json.loads(ok(world["alice"]("quota", "--json")))
    assert row["granted"]["core_seconds"] == 1000 * H  # nothing changed


def test_a_grant_beyond_the_quota_exits_6_and_a_bad_amount_5(world: dict[str, As]) -> None:
    beyond = world["ursula"]("admin", "grant", "caen-bio", "--core-hours", "9001", "--reason", "too much")
    assert beyond.exit_code == 6 and "quota of unicaen" in beyond.stderr
    for amount in ("-1", "NaN", "lots", "0.0001"):
        bad = world["ursula"]("admin", "grant", "caen-bio", "--core-hours", amount, "--reason", "bad")
        assert bad.exit_code == 5, (amount, bad.stderr)


def test_periods_list_and_an_overlapping_period_is_refused(world: dict[str, As]) -> None:
    root = world["root"]
    assert "2026" in ok(root("admin", "periods", "list"))
    clash = root("admin", "periods", "create", "late-2026", "--start", "2026-06-01", "--end", "2027-06-01")
    assert clash.exit_code == 6 and "overlaps" in clash.stderr
    refused = world["ursula"](
        "admin", "periods", "create", "2030", "--start", "2030-01-01", "--end", "2031-01-01"
    )
    assert refused.exit_code == 4
    names = [p["name"] for p in json.loads(ok(root("admin", "periods", "list", "--json")))]
    assert names == ["2026"]


def test_quota_set_by_a_university_admin_is_refused(world: dict[str, As]) -> None:
    result = world["ursula"]("admin", "quota", "set", "unicaen", "--period", "2026", "--core-hours", "99999")
    assert result.exit_code == 4
    unknown = world["root"]("admin", "quota", "set", "unicaen", "--period", "1999", "--core-hours", "1")
    assert unknown.exit_code == 5 and "no single period named '1999'" in unknown.stderr


# --- admin report ---------------------------------------------------------------------------------------
def test_report_csv_parses_and_matches_the_json(
    world: dict[str, As], web_session_factory: sessionmaker[Session], clock: FakeClock, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    alice = world["alice"]
    for core in (300, 1200):
        job = json.loads(ok(alice("submit", str(script), "--json")))
        with web_session_factory() as session:
            SqlLedger(session, clock=clock).settle(job_id=uuid.UUID(job["id"]), actual=Cost(core, 0))
            session.commit()
    out = ok(world["ursula"]("admin", "report", "--month", "2026-01", "--by", "user", "--csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["user"], r["slurm_account"], r["jobs"], r["core_seconds"]) for r in rows] == [
        ("alice@unicaen.fr", "caen-climat", "2", "1500")
    ]
    report = json.loads(
        ok(world["ursula"]("admin", "report", "--month", "2026-01", "--by", "user", "--json"))
    )
    assert report["total"]["core_seconds"] == sum(int(r["core_seconds"]) for r in rows)
    table = ok(world["ursula"]("admin", "report", "--month", "2026-01"))
    assert "caen-climat" in table and "total" in table
    assert world["ursula"]("admin", "report", "--month", "2026-13").exit_code == 5


# --- submit --dry-run -----------------------------------------------------------------------------------
def test_submit_dry_run_shows_the_estimate(world: dict[str, As], tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    out = ok(world["alice"]("submit", str(script), "--dry-run"))
    # debug, 1 CPU and DefMemPerCPU's 1000 MB, 5 minutes: billing=1 × 300 s (was 447).
    assert "# this job will hold 0.08 CPU-h of the 1,000 remaining on caen-climat" in out
    plan = json.loads(ok(world["alice"]("submit", str(script), "--dry-run", "--json")))
    assert plan["estimate"]["hold_core_seconds"] == 300
    assert plan["estimate"]["remaining_after_core_seconds"] == 1000 * H - 300
    [row] = json.loads(ok(world["alice"]("quota", "--json")))
    assert row["held"]["core_seconds"] == 0  # a dry run holds nothing


def test_submit_dry_run_says_a_project_without_allocation_would_be_refused(
    world: dict[str, As], tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(SCRIPT)
    out = ok(world["bea"]("submit", str(script), "--dry-run"))
    assert "caen-bio has no allocation now: it would be refused" in out
    refused = world["bea"]("submit", str(script))
    assert refused.exit_code == 6 and "Error: " in refused.stderr
