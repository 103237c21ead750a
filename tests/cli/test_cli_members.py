# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""`myriagate admin members list|add|remove`, in-process against the real app: tables at 80
columns, --json, clear errors with their exit codes, and removing a member with jobs queued or
running only after showing them and confirming (--yes, or a "y" at a terminal)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from myriagate.cli import admin_members
from myriagate.db.models.users import User
from tests.cli.member_cli import (  # noqa: F401 - fixtures by name
    As,
    CliFor,
    cli_for,
    db,
    quiet_server_logs,
    world,
)
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.member_world import World, audit_of


@pytest.fixture
def as_user(cli_for: CliFor) -> Callable[[User], As]:
    return lambda user: cli_for(user, "admin", "members")


def test_list_as_a_table_at_80_columns_and_as_json(world: World, as_user: Callable[[User], As]) -> None:
    result = as_user(world.caen_admin)("list", "caen-climat")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Members of caen-climat (devcluster, unicaen)" in result.stdout
    alice = next(line for line in lines if "alice@unicaen.fr" in line)
    assert alice.split() == ["alice@unicaen.fr", "researcher", "alice", "1", "1"]  # queued, running
    body = json.loads(as_user(world.carol)("list", "caen-climat", "--json").stdout)
    assert [m["username"] for m in body["members"]] == [
        "alice@unicaen.fr",
        "bob@unicaen.fr",
        "carol@unicaen.fr",
    ]
    assert body["members"][0]["jobs"][0]["slurm_job_id"] == "4101"


def test_add_by_username(world: World, as_user: Callable[[User], As], db: Session) -> None:
    result = as_user(world.caen_admin)("add", "caen-climat", "dave@unicaen.fr", "--role", "project_lead")
    assert result.exit_code == 0, result.output
    assert "dave@unicaen.fr (dave) is now a project lead of caen-climat on devcluster." in result.stdout
    assert [a for a, _ in audit_of(db, world.dave)] == ["membership.add"]
    again = as_user(world.caen_admin)("add", "caen-climat", "dave@unicaen.fr", "--json")
    assert again.exit_code == 6 and "already a member" in again.stderr


def test_refusals_exit_non_zero_and_change_nothing(
    world: World, as_user: Callable[[User], As], db: Session
) -> None:
    admin = as_user(world.caen_admin)
    missing = admin("add", "caen-climat", "erin@univ-rouen.fr")
    assert missing.exit_code == 3 and "no user named erin@univ-rouen.fr" in missing.stderr
    for name in HOSTILE_STRINGS:
        assert admin("add", "caen-climat", "--", name).exit_code in (3, 5), name  # "--": "-J evil" is a name
    assert as_user(world.rouen_admin)("list", "caen-climat").exit_code == 4
    assert as_user(world.alice)("add", "caen-climat", "dave@unicaen.fr").exit_code == 4
    # The lead reads the list, but a user they may not see is a 404 to the memberships API.
    assert as_user(world.carol)("remove", "caen-climat", "bob@unicaen.fr", "--yes").exit_code == 3
    assert admin("list", "nope").exit_code == 3
    not_member = admin("remove", "caen-climat", "dave@unicaen.fr")
    assert not_member.exit_code == 3 and "dave@unicaen.fr is not a member of caen-climat" in not_member.stderr
    assert audit_of(db, world.dave) == [] and audit_of(db, world.bob) == [] and audit_of(db, world.erin) == []


def test_remove_with_jobs_not_at_a_terminal_shows_them_and_changes_nothing(
    world: World, as_user: Callable[[User], As], db: Session
) -> None:
    result = as_user(world.caen_admin)("remove", "caen-climat", "alice@unicaen.fr")
    assert result.exit_code == 6
    assert "keep running and are charged to the project unless cancelled" in result.stderr
    assert world.pending.id.hex[:8] in result.stderr and "4102" in result.stderr
    assert "add --yes" in result.stderr
    assert audit_of(db, world.alice) == []


def test_remove_with_jobs_asks_at_a_terminal(
    world: World, as_user: Callable[[User], As], db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_members, "_at_terminal", lambda: True)
    kept = as_user(world.caen_admin)("remove", "caen-climat", "alice@unicaen.fr", input="n\n")
    assert kept.exit_code == 0 and "alice@unicaen.fr kept: nothing changed." in kept.stdout
    assert audit_of(db, world.alice) == []
    done = as_user(world.caen_admin)("remove", "caen-climat", "alice@unicaen.fr", input="y\n")
    assert done.exit_code == 0, done.output
    assert "2 job(s) of theirs keep running, charged to caen-climat" in done.stdout
    # Said to a university admin, who may not cancel jobs herself: who can (found in a trial).
    assert "The member, the project's lead or a platform admin can cancel them" in done.stdout
    assert audit_of(db, world.alice)[-1][0] == "membership.remove"


def test_remove_with_yes_and_json(world: World, as_user: Callable[[User], As], db: Session) -> None:
    result = as_user(world.caen_admin)("remove", "caen-climat", "alice@unicaen.fr", "--yes", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [j["slurm_job_id"] for j in body["jobs_left_running"]] == ["4101", "4102"]
    assert audit_of(db, world.alice)[-1][1]["jobs_left_running"] == [
        str(world.pending.id),
        str(world.running.id),
    ]
    bob = as_user(world.platform)("remove", "caen-climat", "bob@unicaen.fr")
    assert (
        bob.exit_code == 0
        and "bob@unicaen.fr is no longer a member of caen-climat on devcluster." in bob.stdout
    )
