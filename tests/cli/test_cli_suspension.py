# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate admin project show|suspend|resume`, in-process against the real app: what the
admin is told (the jobs a suspension leaves running), --json, refusals with their exit codes
and nothing changed, and a researcher's `quota` and `submit` once the project is suspended."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.ledger import SqlLedger
from myriagate.db.models import AuditEvent
from myriagate.db.models.users import User
from myriagate.services.allocations import grants as allocations
from tests.cli.member_cli import (  # noqa: F401 - fixtures by name
    As,
    CliFor,
    cli_for,
    db,
    quiet_server_logs,
    world,
)
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster
from tests.web.member_world import World


@pytest.fixture
def as_user(cli_for: CliFor) -> Callable[[User], As]:
    return lambda user: cli_for(user)


def _grant(db: Session, world: World, clock: FakeClock) -> None:
    """A current period and 10 CPU-hours for caen-climat (so `quota` has a row to show)."""
    now = clock.now()
    year = (now - timedelta(days=1), now + timedelta(days=365))
    period = allocations.create_period(db, world.platform, cluster="devcluster", name="now",
                                       starts_at=year[0], ends_at=year[1])  # fmt: skip
    allocations.set_quota(db, world.platform, institution="unicaen", period_id=period.id,
                          amount=allocations.hours(100))  # fmt: skip
    allocations.grant(db, world.platform, cluster="devcluster", slurm_account="caen-climat",
                      amount=allocations.hours(10), ledger=SqlLedger)  # fmt: skip


def _events(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("project.%"))))


def test_suspend_says_what_keeps_running_and_resume_lifts_it(
    world: World, as_user: Callable[[User], As], db: Session, fake_cluster: FakeCluster, tmp_path: Path,
    clock: FakeClock,
) -> None:  # fmt: skip
    _grant(db, world, clock)
    admin = as_user(world.caen_admin)
    done = admin("admin", "project", "suspend", "caen-climat", "--reason", "security incident #42")
    assert done.exit_code == 0, done.output
    assert "caen-climat (devcluster, unicaen) is suspended since" in done.stdout
    assert "Reason: security incident #42" in done.stdout
    assert "By: ursula@unicaen.fr" in done.stdout
    assert "Jobs queued: 1, running: 1 (a suspension does not touch them)." in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80

    alice = as_user(world.alice)
    quota = alice("quota")
    assert quota.exit_code == 0 and "caen-climat on devcluster is suspended" in quota.stderr
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH --time=00:10:00\nsrun hostname\n")
    refused = alice("submit", str(script))
    assert refused.exit_code == 6, refused.output
    assert "Project suspended" in refused.stderr and "security incident #42" in refused.stderr
    assert fake_cluster.calls["sbatch"] == 0

    again = admin("admin", "project", "suspend", "caen-climat", "--reason", "twice")
    assert again.exit_code == 6 and "already suspended" in again.stderr
    shown = json.loads(alice("admin", "project", "show", "caen-climat", "--json").stdout)
    assert (shown["suspended"], shown["reason"], shown["can_change"]) == (
        True,
        "security incident #42",
        False,
    )
    lifted = admin("admin", "project", "resume", "caen-climat", "--reason", "closed", "--json")
    assert lifted.exit_code == 0 and json.loads(lifted.stdout)["suspended"] is False
    assert _events(db) == ["project.suspend", "project.resume"]


def test_refusals_exit_non_zero_and_change_nothing(
    world: World, as_user: Callable[[User], As], db: Session
) -> None:
    for who in (world.rouen_admin, world.carol, world.alice):
        refused = as_user(who)("admin", "project", "suspend", "caen-climat", "--reason", "misuse")
        assert refused.exit_code == 4, refused.output
    admin = as_user(world.caen_admin)
    assert admin("admin", "project", "suspend", "nope", "--reason", "x").exit_code == 3
    blank = admin("admin", "project", "suspend", "caen-climat", "--reason", "  ")
    assert blank.exit_code == 5 and "reason" in blank.stderr
    missing = admin("admin", "project", "suspend", "caen-climat")
    assert missing.exit_code == 2  # --reason is required (a usage error)
    not_suspended = admin("admin", "project", "resume", "caen-climat", "--reason", "x")
    assert not_suspended.exit_code == 6 and "is not suspended" in not_suspended.stderr
    assert _events(db) == []
