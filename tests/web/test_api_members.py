"""Project members over the API: the list a lead and the admins see (with each member's jobs
still queued or running), adding by username, and removing a member with such jobs only once
confirmed (409 ``member_has_active_jobs`` listing them). The rules are the memberships API's:
a university admin of another institution and a plain researcher are refused, nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from myriagate.db.repos import jobs as jobs_repo
from myriagate.domain.states import JobState
from tests.conftest import FakeClock
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.web.conftest import MakeUser, assert_problem
from tests.web.member_world import World, audit_of, build

API = "/api/v1"
MEMBERS = API + "/projects/devcluster/caen-climat/members"


@pytest.fixture
def world(make_user: MakeUser, db: Session, clock: FakeClock) -> World:
    return build(make_user, db, clock)


def membership(world: World, who: Any) -> str:
    return API + f"/users/{who.id}/memberships/devcluster/caen-climat"


def test_the_caen_admin_sees_members_their_roles_and_their_active_jobs(
    world: World, auth_client: Any
) -> None:
    body = auth_client(world.caen_admin).get(MEMBERS).json()
    assert (body["account"], body["institution"], body["can_add"]) == ("caen-climat", "unicaen", True)
    rows = {m["username"]: m for m in body["members"]}
    assert list(rows) == ["alice@unicaen.fr", "bob@unicaen.fr", "carol@unicaen.fr"]
    alice = rows["alice@unicaen.fr"]
    assert (alice["cluster_login"], alice["role"], alice["queued_jobs"], alice["running_jobs"]) == (
        "alice", "researcher", 1, 1)  # fmt: skip
    assert [(j["slurm_job_id"], j["state"]) for j in alice["jobs"]] == [
        ("4101", "pending"),
        ("4102", "running"),
    ]
    assert alice["jobs"][0]["short_id"] == world.pending.id.hex[:8]  # what `jobs cancel` takes
    assert (rows["bob@unicaen.fr"]["queued_jobs"], rows["bob@unicaen.fr"]["jobs"]) == (0, [])
    assert rows["carol@unicaen.fr"]["role"] == "project_lead"
    assert all(m["removable"] for m in body["members"])


def test_the_lead_sees_the_members_read_only(world: World, auth_client: Any) -> None:
    body = auth_client(world.carol).get(MEMBERS).json()
    assert body["can_add"] is False and not any(m["removable"] for m in body["members"])
    assert len(body["members"]) == 3


def test_others_may_not_see_the_members(world: World, auth_client: Any) -> None:
    for who in (world.alice, world.dave, world.rouen_admin):
        assert_problem(auth_client(who).get(MEMBERS), 403, "permission_denied")
    assert_problem(auth_client(world.platform).get(API + "/projects/devcluster/nope/members"), 404)


def test_the_caen_admin_adds_a_member_by_username_audited(
    world: World, auth_client: Any, db: Session
) -> None:
    added = auth_client(world.caen_admin).post(
        MEMBERS, json={"username": " dave@unicaen.fr ", "role": "project_lead"}
    )
    assert added.status_code == 201, added.text
    assert (added.json()["username"], added.json()["role"]) == ("dave@unicaen.fr", "project_lead")
    assert audit_of(db, world.dave) == [
        ("membership.add", {"cluster": "devcluster", "slurm_account": "caen-climat", "role": "project_lead"})
    ]
    again = auth_client(world.caen_admin).post(MEMBERS, json={"username": "dave@unicaen.fr"})
    assert_problem(again, 409, "already_exists")


def test_adding_refusals_change_nothing(world: World, auth_client: Any, db: Session) -> None:
    admin = auth_client(world.caen_admin)
    # Another institution's user is unknown to a university admin, exactly like nobody.
    for name in ("erin@univ-rouen.fr", "nobody@unicaen.fr", *HOSTILE_STRINGS):
        refused = admin.post(MEMBERS, json={"username": name})
        assert refused.status_code in (404, 422), (name, refused.text)
    # A NUL reached PostgreSQL and failed there (500): control characters are refused first.
    for name in ("\x00nul", "tab\there", "x\ny", "x" * 256, "  "):
        body = assert_problem(admin.post(MEMBERS, json={"username": name}), 422)
        assert body["errors"][0]["loc"][-1] == "username"
    body = assert_problem(admin.post(MEMBERS, json={"username": "x" * 256}), 422)
    assert body["errors"][0]["loc"][-1] == "username"
    assert_problem(admin.post(MEMBERS, json={"username": "dave@unicaen.fr", "role": "boss"}), 422)
    for who in (world.rouen_admin, world.carol, world.alice):
        assert_problem(auth_client(who).post(MEMBERS, json={"username": "dave@unicaen.fr"}), 403)
    assert audit_of(db, world.dave) == [] and audit_of(db, world.erin) == []
    assert len(auth_client(world.platform).get(MEMBERS).json()["members"]) == 3


def test_removing_a_member_with_jobs_needs_confirmation_and_lists_them(
    world: World, auth_client: Any, db: Session
) -> None:
    admin = auth_client(world.caen_admin)
    refused = assert_problem(admin.delete(membership(world, world.alice)), 409, "member_has_active_jobs")
    assert [j["slurm_job_id"] for j in refused["jobs"]] == ["4101", "4102"]
    assert refused["jobs"][1]["short_id"] == world.running.id.hex[:8]
    assert (
        "1 job(s) queued and 1 running" in refused["detail"] and "charged to the project" in refused["detail"]
    )
    assert audit_of(db, world.alice) == []
    assert "alice@unicaen.fr" in [m["username"] for m in admin.get(MEMBERS).json()["members"]]

    assert admin.delete(membership(world, world.alice) + "?confirm=true").status_code == 204
    action, detail = audit_of(db, world.alice)[-1]
    assert action == "membership.remove"
    assert detail["jobs_left_running"] == [str(world.pending.id), str(world.running.id)]
    # Nothing was cancelled: the jobs run on (and are charged to the project).
    db.expire_all()
    assert jobs_repo.get(db, world.running.id).state is JobState.RUNNING  # type: ignore[union-attr]


def test_a_member_without_active_jobs_is_removed_at_once_as_before(world: World, auth_client: Any) -> None:
    assert auth_client(world.caen_admin).delete(membership(world, world.bob)).status_code == 204


def test_removal_refusals_change_nothing(world: World, auth_client: Any, db: Session) -> None:
    # Permission is checked before the jobs are shown: a refused caller learns none of them.
    for who in (world.rouen_admin, world.alice, world.carol):
        response = auth_client(who).delete(membership(world, world.bob) + "?confirm=true")
        assert response.status_code in (403, 404), response.text
        assert "jobs" not in response.json()
    assert audit_of(db, world.bob) == []
