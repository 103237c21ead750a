"""`myriagate admin slurm-sync --dry-run` and `admin reconcile` on the REAL dev cluster.

The dry run reads the real associations with sacctmgr and prints the exact commands, and
changes nothing in Slurm. Only an account created for this test (``mgtest-…``) is named.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myriagate.cli.main import app
from myriagate.db.migrate import upgrade
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.settings import get_settings
from tests.integration.conftest import DevCluster

pytestmark = pytest.mark.slurm


@pytest.fixture
def gateway_env(tmp_path: Path, devcluster: DevCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A scratch gateway database knowing one test project, and the settings pointing at it."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = make_engine(url)
    account = f"mgtest-{uuid.uuid4().hex[:8]}"
    with make_session_factory(engine)() as session:
        if projects_repo.get_institution(session, "unicaen") is None:
            projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        projects_repo.add_project(
            session,
            cluster="devcluster",
            slurm_account=account,
            institution="unicaen",
            created_at=datetime.now(UTC),
        )
        session.commit()
    engine.dispose()
    for name, value in {
        "MYRIAGATE_DEV_MODE": "true",
        "MYRIAGATE_DATABASE_URL": url,
        "MYRIAGATE_SSH_CA_KEY_PATH": str(devcluster.ca_key),
        "MYRIAGATE_DEFAULT_CLUSTER": "devcluster",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # settings are read once per process; these are new ones
    yield account
    get_settings.cache_clear()


def slurm_knows(account: str) -> bool:
    out = subprocess.run(["sacctmgr", "-n", "-P", "show", "account", account], capture_output=True, text=True)
    return account in out.stdout


def test_dry_run_prints_the_commands_and_changes_nothing(gateway_env: str) -> None:
    account = gateway_env
    result = CliRunner().invoke(app, ["admin", "slurm-sync", "--dry-run", "--json", "-A", account])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["applied"] is False
    commands = [step["command"] for step in plan["steps"]]
    assert any("add account" in c and account in c for c in commands), commands
    # No allocation for the current period: the project is paused in Slurm.
    assert any(account in c and "GrpSubmitJobs=0" in c for c in commands), commands
    assert not slurm_knows(account)


def test_reconcile_report_lists_the_project(gateway_env: str) -> None:
    result = CliRunner().invoke(app, ["admin", "reconcile", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cluster"] == "devcluster"
    assert gateway_env in {row["slurm_account"] for row in report["rows"]}


def test_dry_run_finds_no_difference_between_the_devcluster_profile_and_slurm(gateway_env: str) -> None:
    result = CliRunner().invoke(app, ["admin", "slurm-sync", "--dry-run", "--json", "-A", gateway_env])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["profile_checked"] is True
    assert report["profile_mismatches"] == []
    text = CliRunner().invoke(app, ["admin", "slurm-sync", "--dry-run", "-A", gateway_env])
    assert "the cluster profile matches Slurm's partitions, nodes and licenses" in text.stdout


def test_dry_run_lists_where_a_site_profile_differs_from_slurm(
    gateway_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = Path(__file__).resolve().parents[2] / "cluster_profiles" / "devcluster.toml"
    text = bundled.read_text(encoding="utf-8")
    site = tmp_path / "profiles"
    site.mkdir()
    changed = text.replace('max_walltime = "04:00:00"', 'max_walltime = "08:00:00"', 1)
    changed = changed.replace('qos = ["normal", "short"]', 'qos = ["normal", "short", "long"]', 1)
    (site / "devcluster.toml").write_text(changed, encoding="utf-8")
    monkeypatch.setenv("MYRIAGATE_PROFILES_DIR", str(site))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["admin", "slurm-sync", "--dry-run", "--json", "-A", gateway_env])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["profile_mismatches"]
    assert rows == [
        {"partition": "court", "key": "max_walltime", "profile": "08:00:00", "slurm": "04:00:00",
         "note": "MaxTime"},
        {"partition": "court", "key": "qos", "profile": "long,normal,short", "slurm": "normal,short",
         "note": "Slurm refuses long here"},
    ]  # fmt: skip
    table = CliRunner().invoke(app, ["admin", "slurm-sync", "--dry-run", "-A", gateway_env])
    assert "2 difference(s) between the profile and Slurm" in table.stdout
    assert "max_walltime" in table.stdout and "08:00:00" in table.stdout
