"""Suspending a project over the API (``/projects/{cluster}/{account}/suspension``): the
Caen admin and a platform admin suspend and resume; another university's admin, the lead and
a researcher are refused and nothing changes; while suspended a submission (and its dry run)
answers 409 ``project_suspended`` with the reason, in English and French, and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models import AuditEvent
from myriagate.db.models.interactive import InteractiveSession
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster
from tests.web.conftest import MakeUser, assert_problem
from tests.web.member_world import World, build

API = "/api/v1"
SUSPENSION = API + "/projects/devcluster/caen-climat/suspension"
SCRIPT = "#!/bin/bash\n#SBATCH --job-name=from-script\n#SBATCH --time=00:10:00\nsrun hostname\n"


@pytest.fixture
def world(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    return build(make_user, db, clock)


def _events(db: Session) -> list[str]:
    db.expire_all()
    return list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("project.%"))))


def test_the_caen_admin_suspends_researchers_are_refused_with_the_reason_and_resume_lifts_it(
    world: World, auth_client: Any, fake_cluster: FakeCluster
) -> None:
    admin = auth_client(world.caen_admin)
    made = admin.post(SUSPENSION, json={"reason": "security incident #42"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["suspended"], body["suspended_by"], body["reason"]) == (True, "ursula@unicaen.fr",
                                                                         "security incident #42")  # fmt: skip
    assert (body["queued_jobs"], body["running_jobs"]) == (1, 1)  # alice's: not touched
    alice = auth_client(world.alice)
    assert alice.get(SUSPENSION).json()["reason"] == "security incident #42"
    for dry_run in (False, True):
        refused = alice.post(API + "/jobs", json={"script": SCRIPT, "dry_run": dry_run})
        problem = assert_problem(refused, 409, "project_suspended")
        assert problem["reason"] == "security incident #42" and "security incident #42" in problem["detail"]
    french = alice.post(API + "/jobs", json={"script": SCRIPT}, headers={"Accept-Language": "fr"})
    assert "est suspendu par ses administrateurs" in assert_problem(french, 409)["detail"]
    assert fake_cluster.calls["sbatch"] == 0
    assert_problem(admin.post(SUSPENSION, json={"reason": "again"}), 409, "conflict")

    lifted = admin.post(SUSPENSION + "/lift", json={"reason": "closed"})
    assert lifted.status_code == 200 and lifted.json()["suspended"] is False
    assert alice.post(API + "/jobs", json={"script": SCRIPT}).status_code == 202
    assert_problem(admin.post(SUSPENSION + "/lift", json={"reason": "closed"}), 409, "conflict")


def test_a_platform_admin_may_too(world: World, auth_client: Any) -> None:
    root = auth_client(world.platform)
    assert root.post(SUSPENSION, json={"reason": "misuse"}).status_code == 201
    assert root.post(SUSPENSION + "/lift", json={"reason": "ok"}).status_code == 200


@pytest.mark.parametrize("who", ["rouen_admin", "carol", "alice"])
def test_others_are_refused_and_nothing_changes(
    world: World, auth_client: Any, db: Session, who: str
) -> None:
    client = auth_client(getattr(world, who))
    assert_problem(client.post(SUSPENSION, json={"reason": "misuse"}), 403, "permission_denied")
    assert auth_client(world.platform).get(SUSPENSION).json()["suspended"] is False
    auth_client(world.platform).post(SUSPENSION, json={"reason": "misuse"})
    assert_problem(client.post(SUSPENSION + "/lift", json={"reason": "x"}), 403, "permission_denied")
    assert auth_client(world.platform).get(SUSPENSION).json()["suspended"] is True
    assert _events(db) == ["project.suspend"]


def test_bad_reasons_and_unknown_projects(world: World, auth_client: Any) -> None:
    admin = auth_client(world.caen_admin)
    assert_problem(admin.post(SUSPENSION, json={"reason": "  "}), 422, "invalid_request")
    assert_problem(admin.post(SUSPENSION, json={"reason": "a\nb"}), 422)
    assert_problem(admin.post(SUSPENSION, json={}), 422)
    assert_problem(admin.post(API + "/projects/devcluster/nope/suspension", json={"reason": "x"}), 404)
    assert admin.get(SUSPENSION).json()["suspended"] is False


def test_the_balance_shows_the_suspension(world: World, auth_client: Any, db: Session) -> None:
    auth_client(world.platform).post(SUSPENSION, json={"reason": "agreement expired"})
    rows = auth_client(world.alice).get(API + "/allocations").json()
    assert all(r["suspension_reason"] == "agreement expired" for r in rows if r["account"] == "caen-climat")


def test_an_interactive_session_is_refused_too_and_nothing_is_written(
    world: World, auth_client: Any, fake_cluster: FakeCluster, db: Session
) -> None:
    auth_client(world.caen_admin).post(SUSPENSION, json={"reason": "agreement expired"})
    body = {"app": "jupyter", "options": {"time": "00:30:00", "partition": "debug"}}
    refused = auth_client(world.alice).post(API + "/interactive/sessions", json=body)
    assert assert_problem(refused, 409, "project_suspended")["reason"] == "agreement expired"
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(InteractiveSession)) == 0
    assert fake_cluster.calls["sbatch"] == 0
