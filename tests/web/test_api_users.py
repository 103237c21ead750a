"""``/users`` and memberships: the role matrix of docs/api.md, audit rows, no password leaks."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from myriagate.db.repos import audit as audit_repo
from myriagate.db.repos import users as users_repo
from tests.web.conftest import MakeUser, assert_problem

API = "/api/v1"
NEW_USER = {
    "username": "dave@univ-rouen.fr",
    "display_name": "Dave",
    "email": "dave@univ-rouen.fr",
    "cluster_login": "dave",
    "institution": "univ-rouen",
    "password": "another long passphrase",
}


def audit_actions(db: Session, user_id: Any) -> list[str]:
    db.expire_all()
    return [e.action for e in audit_repo.for_target(db, "user", str(user_id))]


# --- listing ---------------------------------------------------------------------------
def test_list_users_by_role(make_user: MakeUser, auth_client: Any) -> None:
    caen = make_user("researcher", institution="unicaen")
    rouen = make_user("researcher", institution="univ-rouen", accounts=["rouen-chimie"])
    lead = make_user("project_lead")
    caen_admin = make_user("university_admin", institution="unicaen")
    platform = make_user("platform_admin", institution="criann")

    assert_problem(auth_client(caen).get(API + "/users"), 403, "permission_denied")
    assert_problem(auth_client(lead).get(API + "/users"), 403, "permission_denied")
    seen_by_caen_admin = {u["username"] for u in auth_client(caen_admin).get(API + "/users").json()}
    assert seen_by_caen_admin == {caen.username, lead.username, caen_admin.username}
    everyone = {u["username"] for u in auth_client(platform).get(API + "/users").json()}
    assert everyone == {caen.username, rouen.username, lead.username, caen_admin.username, platform.username}


def test_roles_are_reported(make_user: MakeUser, auth_client: Any) -> None:
    lead = make_user("project_lead")
    admin = make_user("university_admin")
    body = auth_client(admin).get(API + f"/users/{lead.id}").json()
    assert body["roles"] == ["researcher", "project_lead"]
    assert body["memberships"] == [
        {"cluster": "devcluster", "slurm_account": "caen-climat", "role": "project_lead"}
    ]
    assert auth_client(admin).get(API + "/me").json()["roles"] == ["researcher", "university_admin"]


# --- one user ----------------------------------------------------------------------------
def test_who_sees_a_user(make_user: MakeUser, auth_client: Any) -> None:
    alice = make_user(institution="unicaen")
    bob = make_user(institution="univ-rouen", accounts=["rouen-chimie"])
    caen_admin = make_user("university_admin", institution="unicaen")
    rouen_admin = make_user("university_admin", institution="univ-rouen")
    platform = make_user("platform_admin")
    path = API + f"/users/{alice.id}"

    for allowed in (alice, caen_admin, platform):
        assert auth_client(allowed).get(path).json()["username"] == alice.username
    for refused in (bob, rouen_admin):
        # Exactly like an id that does not exist: nothing to learn by probing.
        assert_problem(auth_client(refused).get(path), 404, "not_found")
    assert_problem(auth_client(platform).get(API + f"/users/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(auth_client(platform).get(API + "/users/not-a-uuid"), 422, "invalid_request")


def test_password_is_never_returned(make_user: MakeUser, auth_client: Any, db: Session) -> None:
    platform = make_user("platform_admin")
    created = auth_client(platform).post(API + "/users", json=NEW_USER)
    assert created.status_code == 201
    user_id = created.json()["id"]
    stored = users_repo.get(db, uuid.UUID(user_id))
    assert stored is not None and stored.password_hash
    for response in (
        created,
        auth_client(platform).get(API + f"/users/{user_id}"),
        auth_client(platform).get(API + "/users"),
        auth_client(platform).patch(API + f"/users/{user_id}", json={"password": "yet another passphrase"}),
    ):
        assert "password" not in response.text and "scrypt" not in response.text
    events = audit_repo.for_target(db, "user", user_id)
    assert all("passphrase" not in str(e.detail) and "scrypt" not in str(e.detail) for e in events)


# --- create ------------------------------------------------------------------------------
def test_only_platform_admins_create_users(make_user: MakeUser, auth_client: Any, db: Session) -> None:
    for role in ("researcher", "project_lead", "university_admin"):
        assert_problem(
            auth_client(make_user(role)).post(API + "/users", json=NEW_USER), 403, "permission_denied"
        )
    assert users_repo.get_by_username(db, NEW_USER["username"]) is None

    platform = make_user("platform_admin")
    created = auth_client(platform).post(API + "/users", json=NEW_USER)
    assert created.status_code == 201
    body = created.json()
    assert body["username"] == NEW_USER["username"] and body["institution"] == "univ-rouen"
    assert body["roles"] == ["researcher"] and body["memberships"] == []
    assert audit_actions(db, body["id"]) == ["user.create"]


def test_created_user_can_log_in(make_user: MakeUser, auth_client: Any, client: TestClient) -> None:
    auth_client(make_user("platform_admin")).post(API + "/users", json=NEW_USER)
    credentials = base64.b64encode(f"{NEW_USER['username']}:{NEW_USER['password']}".encode()).decode()
    response = client.post(
        API + "/tokens", json={"name": "first"}, headers={"Authorization": f"Basic {credentials}"}
    )
    assert response.status_code == 201


def test_create_user_refusals(make_user: MakeUser, auth_client: Any) -> None:
    platform = auth_client(make_user("platform_admin"))
    assert platform.post(API + "/users", json=NEW_USER).status_code == 201
    assert_problem(platform.post(API + "/users", json=NEW_USER), 409, "already_exists")
    short = assert_problem(
        platform.post(API + "/users", json=NEW_USER | {"username": "e", "password": "short"}), 422
    )
    assert short["errors"][0]["loc"] == ["password"]
    bad_login = platform.post(
        API + "/users", json=NEW_USER | {"username": "f", "cluster_login": "f; rm -rf /"}
    )
    assert_problem(bad_login, 422, "unsafe_value")
    typo = assert_problem(platform.post(API + "/users", json=NEW_USER | {"username": "g", "emial": "x"}), 422)
    assert typo["errors"][0]["loc"] == ["emial"]


# --- patch -------------------------------------------------------------------------------
def test_only_platform_admins_change_users(make_user: MakeUser, auth_client: Any, db: Session) -> None:
    alice = make_user()
    other = make_user()
    caen_admin = make_user("university_admin")
    platform = make_user("platform_admin")
    path = API + f"/users/{alice.id}"
    change = {"display_name": "Alice Martin", "is_platform_admin": True}

    assert_problem(auth_client(alice).patch(path, json=change), 403, "permission_denied")  # sees herself
    assert_problem(auth_client(other).patch(path, json=change), 404, "not_found")
    assert_problem(auth_client(caen_admin).patch(path, json=change), 403, "permission_denied")
    assert audit_actions(db, alice.id) == []

    response = auth_client(platform).patch(path, json={"display_name": "Alice Martin"})
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice Martin"
    assert response.json()["roles"] == ["researcher"]  # fields left out are unchanged
    assert audit_actions(db, alice.id) == ["user.update"]
    event = audit_repo.for_target(db, "user", str(alice.id))[0]
    assert event.actor == str(platform.id)
    assert event.detail == {"display_name": {"from": "", "to": "Alice Martin"}}


def test_platform_admin_cannot_lock_themselves_out(make_user: MakeUser, auth_client: Any) -> None:
    platform = make_user("platform_admin")
    path = API + f"/users/{platform.id}"
    assert_problem(auth_client(platform).patch(path, json={"is_platform_admin": False}), 403)
    assert_problem(auth_client(platform).patch(path, json={"is_active": False}), 403)


def test_making_a_university_admin(make_user: MakeUser, auth_client: Any) -> None:
    alice = make_user(institution="unicaen")
    colleague = make_user(institution="unicaen")
    platform = make_user("platform_admin")
    assert_problem(auth_client(alice).get(API + "/users"), 403)
    auth_client(platform).patch(API + f"/users/{alice.id}", json={"university_admin_of": "unicaen"})
    listed = {u["username"] for u in auth_client(alice).get(API + "/users").json()}
    assert colleague.username in listed


# --- memberships -------------------------------------------------------------------------
def test_university_admin_manages_their_projects(make_user: MakeUser, auth_client: Any, db: Session) -> None:
    make_user(accounts=["caen-bio"])  # registers the caen-bio project (unicaen)
    alice = make_user(accounts=[])
    caen_admin = auth_client(make_user("university_admin", institution="unicaen"))
    path = API + f"/users/{alice.id}/memberships"

    added = caen_admin.post(
        path, json={"cluster": "devcluster", "slurm_account": "caen-bio", "role": "project_lead"}
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"cluster": "devcluster", "slurm_account": "caen-bio", "role": "project_lead"}
    me = auth_client(alice).get(API + "/me").json()
    assert me["roles"] == ["researcher", "project_lead"]
    assert_problem(caen_admin.post(path, json={"cluster": "devcluster", "slurm_account": "caen-bio"}), 409)

    removed = caen_admin.delete(path + "/devcluster/caen-bio")
    assert removed.status_code == 204
    assert auth_client(alice).get(API + "/me").json()["memberships"] == []
    assert_problem(caen_admin.delete(path + "/devcluster/caen-bio"), 404, "not_found")
    assert audit_actions(db, alice.id) == ["membership.add", "membership.remove"]
    events = audit_repo.for_target(db, "user", str(alice.id))
    assert events[0].detail == {"cluster": "devcluster", "slurm_account": "caen-bio", "role": "project_lead"}


def test_university_admin_cannot_grant_another_institutions_project(
    make_user: MakeUser, auth_client: Any, db: Session
) -> None:
    make_user(institution="univ-rouen", accounts=["rouen-chimie"])  # registers rouen-chimie
    alice = make_user(accounts=[])
    caen_admin = auth_client(make_user("university_admin", institution="unicaen"))
    response = caen_admin.post(
        API + f"/users/{alice.id}/memberships",
        json={"cluster": "devcluster", "slurm_account": "rouen-chimie"},
    )
    assert_problem(response, 403, "permission_denied")
    assert audit_actions(db, alice.id) == []


def test_membership_needs_a_known_project(make_user: MakeUser, auth_client: Any) -> None:
    alice = make_user(accounts=[])
    platform = auth_client(make_user("platform_admin"))
    path = API + f"/users/{alice.id}/memberships"
    unknown = assert_problem(
        platform.post(path, json={"cluster": "devcluster", "slurm_account": "nope"}), 422
    )
    assert "no project" in unknown["detail"] and unknown["errors"][0]["loc"] == ["slurm_account"]
    assert_problem(platform.post(path, json={"cluster": "elsewhere", "slurm_account": "caen-climat"}), 422)
    assert_problem(
        platform.post(path, json={"cluster": "devcluster", "slurm_account": "x", "role": "boss"}), 422
    )


def test_researchers_and_leads_cannot_manage_memberships(
    make_user: MakeUser, auth_client: Any, db: Session
) -> None:
    researcher = make_user()
    lead = make_user("project_lead")
    rouen_admin = make_user("university_admin", institution="univ-rouen")
    body = {"cluster": "devcluster", "slurm_account": "caen-climat"}
    target = make_user(accounts=[])
    for actor in (researcher, lead):
        own = auth_client(actor).post(
            API + f"/users/{actor.id}/memberships", json=body | {"slurm_account": "caen-bio"}
        )
        assert_problem(own, 403, "permission_denied")
        assert_problem(auth_client(actor).post(API + f"/users/{target.id}/memberships", json=body), 404)
        assert_problem(
            auth_client(actor).delete(API + f"/users/{actor.id}/memberships/devcluster/caen-climat"), 403
        )
    # A university admin does not see another institution's users at all.
    assert_problem(auth_client(rouen_admin).post(API + f"/users/{target.id}/memberships", json=body), 404)
    assert_problem(
        auth_client(rouen_admin).delete(API + f"/users/{researcher.id}/memberships/devcluster/caen-climat"),
        404,
    )
    assert audit_actions(db, target.id) == [] and audit_actions(db, researcher.id) == []


def test_platform_admin_manages_any_membership(make_user: MakeUser, auth_client: Any) -> None:
    make_user()  # registers caen-climat
    bob = make_user(institution="univ-rouen", accounts=["rouen-chimie"])
    platform = auth_client(make_user("platform_admin"))
    response = platform.delete(API + f"/users/{bob.id}/memberships/devcluster/rouen-chimie")
    assert response.status_code == 204
    added = platform.post(
        API + f"/users/{bob.id}/memberships", json={"cluster": "devcluster", "slurm_account": "caen-climat"}
    )
    assert added.status_code == 201


def test_a_person_cannot_be_given_the_gateways_own_cluster_login(
    make_user: MakeUser, auth_client: Any
) -> None:
    """The dev cluster's service login acts for the gateway; a person with it would browse its
    files and submit with its rights (a trial found the demo's admins seeded so)."""
    platform = make_user("platform_admin")
    client = auth_client(platform)
    body = assert_problem(
        client.post(API + "/users", json={**NEW_USER, "cluster_login": "myriagate"}), 422, "invalid_request"
    )
    assert "gateway's own cluster login" in body["detail"]
    assert [e["loc"] for e in body["errors"]] == [["cluster_login"]]
    assert all(u["cluster_login"] != "myriagate" for u in client.get(API + "/users").json())
    french = client.post(
        API + "/users", json={**NEW_USER, "cluster_login": "myriagate"}, headers={"Accept-Language": "fr"}
    )
    assert "l'identifiant de la passerelle elle-même" in french.json()["detail"]
