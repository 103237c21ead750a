"""Authentication over HTTP: tokens, HTTP Basic, web sessions with CSRF, the trusted proxy."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, MakeUser, assert_problem

API = "/api/v1"


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


# --- anonymous -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/me"),
        ("GET", "/tokens"),
        ("POST", "/tokens"),
        ("DELETE", "/tokens/00000000-0000-0000-0000-000000000000"),
        ("DELETE", "/sessions"),
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/users/00000000-0000-0000-0000-000000000000"),
        ("PATCH", "/users/00000000-0000-0000-0000-000000000000"),
        ("POST", "/users/00000000-0000-0000-0000-000000000000/memberships"),
        ("DELETE", "/users/00000000-0000-0000-0000-000000000000/memberships/devcluster/caen-climat"),
    ],
)
def test_anonymous_is_refused_with_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, API + path, json={})
    body = assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"].endswith("/not_authenticated")


@pytest.mark.parametrize(
    "authorization", ["Bearer ", "Bearer mgt_nope", "Bearer ghp_x", "Token abc", "Basic !!!notbase64"]
)
def test_bad_credentials_are_401(client: TestClient, authorization: str) -> None:
    assert_problem(
        client.get(API + "/me", headers={"Authorization": authorization}), 401, "not_authenticated"
    )


# --- tokens ----------------------------------------------------------------------------
def test_token_lifecycle(client: TestClient, make_user: MakeUser) -> None:
    user = make_user("researcher", username="alice@unicaen.fr", login="alice")
    created = client.post(
        API + "/tokens",
        json={"name": "laptop", "expires_in_days": 30},
        headers=basic(user.username, PASSWORD),
    )
    assert created.status_code == 201, created.text
    token = created.json()
    secret = token["token"]
    assert secret.startswith("mgt_") and token["prefix"] == secret[4:12]
    bearer = {"Authorization": f"Bearer {secret}"}

    me = client.get(API + "/me", headers=bearer)
    assert me.status_code == 200
    assert me.json()["username"] == "alice@unicaen.fr"
    assert me.json()["cluster_login"] == "alice"
    assert me.json()["roles"] == ["researcher"]

    listed = client.get(API + "/tokens", headers=bearer)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["laptop"]
    assert "token" not in listed.json()[0]
    assert secret not in listed.text and secret[12:] not in listed.text
    assert listed.json()[0]["last_used_at"] is not None

    assert client.delete(API + f"/tokens/{token['id']}", headers=bearer).status_code == 204
    body = assert_problem(client.get(API + "/me", headers=bearer), 401, "not_authenticated")
    assert "revoked" in body["detail"]


def test_revoking_is_idempotent(client: TestClient, make_user: MakeUser, auth_client: Any) -> None:
    user = make_user()
    made = auth_client(user).post(API + "/tokens", json={"name": "spare"}).json()
    first = auth_client(user).delete(API + f"/tokens/{made['id']}")
    again = auth_client(user).delete(API + f"/tokens/{made['id']}")
    assert (first.status_code, again.status_code) == (204, 204)


def test_someone_elses_token_cannot_be_revoked(make_user: MakeUser, auth_client: Any) -> None:
    alice, bob = make_user(), make_user()
    made = auth_client(alice).post(API + "/tokens", json={"name": "mine"}).json()
    assert_problem(auth_client(bob).delete(API + f"/tokens/{made['id']}"), 404, "not_found")
    assert made["id"] in auth_client(alice).get(API + "/tokens").text
    me_with_it = auth_client(alice).get(API + "/me", headers={"Authorization": f"Bearer {made['token']}"})
    assert me_with_it.status_code == 200


def test_basic_with_wrong_or_unknown_credentials_is_one_401(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    wrong = client.post(API + "/tokens", json={"name": "x"}, headers=basic(user.username, "wrong password!"))
    unknown = client.post(API + "/tokens", json={"name": "x"}, headers=basic("ghost@nowhere.fr", PASSWORD))
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


def test_sso_only_user_has_no_password(client: TestClient, make_user: MakeUser) -> None:
    user = make_user(password=None)
    assert_problem(client.post(API + "/tokens", json={"name": "x"}, headers=basic(user.username, "")), 401)


def test_basic_is_refused_outside_login_routes(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    body = assert_problem(client.get(API + "/me", headers=basic(user.username, PASSWORD)), 401)
    assert "Bearer" in body["detail"]


def test_token_request_is_validated(make_user: MakeUser, auth_client: Any) -> None:
    body = assert_problem(
        auth_client(make_user()).post(API + "/tokens", json={"name": ""}), 422, "invalid_request"
    )
    assert body["errors"][0]["loc"] == ["name"]


@pytest.mark.parametrize("settings_overrides", [{"token_max_days": 30}])
def test_token_lifetime_is_capped_by_settings(make_user: MakeUser, auth_client: Any) -> None:
    response = auth_client(make_user()).post(API + "/tokens", json={"name": "long", "expires_in_days": 31})
    assert_problem(response, 422, "invalid_request")


def test_disabled_user_token_stops_working(
    make_user: MakeUser, auth_client: Any, token_for: Any, client: TestClient
) -> None:
    admin, user = make_user("platform_admin"), make_user()
    secret = token_for(user)
    assert auth_client(admin).patch(API + f"/users/{user.id}", json={"is_active": False}).status_code == 200
    assert_problem(client.get(API + "/me", headers={"Authorization": f"Bearer {secret}"}), 401)


# --- web sessions ----------------------------------------------------------------------
def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post(API + "/sessions", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_session_login_sets_a_safe_cookie(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post(API + "/sessions", json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 201
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("myriagate_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # dev mode: served over plain http
    assert response.json()["username"] == user.username and response.json()["csrf_token"]
    assert client.get(API + "/me").json()["username"] == user.username


@pytest.mark.parametrize("settings_overrides", [{"dev_mode": False, "secret_key": "x" * 40}])
def test_session_cookie_is_secure_outside_dev_mode(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post(API + "/sessions", json={"username": user.username, "password": PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


def test_session_login_refuses_a_wrong_password(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post(API + "/sessions", json={"username": user.username, "password": "wrong password!"})
    assert_problem(response, 401, "not_authenticated")
    assert "set-cookie" not in response.headers


def test_session_login_with_basic(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    response = client.post(API + "/sessions", headers=basic(user.username, PASSWORD))
    assert response.status_code == 201
    assert client.get(API + "/me").status_code == 200


def test_unsafe_requests_need_the_csrf_token(client: TestClient, make_user: MakeUser) -> None:
    user = make_user()
    csrf = login(client, user.username)["csrf_token"]
    missing = client.post(API + "/tokens", json={"name": "x"})
    assert_problem(missing, 403, "csrf_rejected")
    wrong = client.post(API + "/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert_problem(wrong, 403, "csrf_rejected")
    assert client.get(API + "/tokens").json() == []  # nothing was created
    ok = client.post(API + "/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_logout_with_form_csrf_field_ends_the_session(
    app: FastAPI, client: TestClient, make_user: MakeUser
) -> None:
    user = make_user()
    csrf = login(client, user.username)["csrf_token"]
    cookie = client.cookies["myriagate_session"]
    assert_problem(
        client.request("DELETE", API + "/sessions", data={"csrf_token": "nope"}), 403, "csrf_rejected"
    )
    response = client.request("DELETE", API + "/sessions", data={"csrf_token": csrf})
    assert response.status_code == 204
    assert 'myriagate_session=""' in response.headers["set-cookie"]
    # The server forgot the session: replaying the old cookie does not work.
    replay = TestClient(app, cookies={"myriagate_session": cookie})
    assert_problem(replay.get(API + "/me"), 401)


def test_a_session_from_another_user_csrf_does_not_pass(app: FastAPI, make_user: MakeUser) -> None:
    alice_client, bob_client = TestClient(app), TestClient(app)
    login(alice_client, make_user().username)
    bob_csrf = login(bob_client, make_user().username)["csrf_token"]
    response = alice_client.post(API + "/tokens", json={"name": "x"}, headers={"X-CSRF-Token": bob_csrf})
    assert_problem(response, 403, "csrf_rejected")


def test_logout_without_a_session_is_401(make_user: MakeUser, auth_client: Any) -> None:
    assert_problem(auth_client(make_user()).delete(API + "/sessions"), 401)


# --- trusted reverse proxy ---------------------------------------------------------------
PROXY = {"trusted_proxies": ["10.1.2.0/24", "::1"]}


def from_address(app: FastAPI, host: str) -> TestClient:
    return TestClient(app, client=(host, 40000))


@pytest.mark.parametrize("settings_overrides", [PROXY])
@pytest.mark.parametrize("host", ["10.1.2.3", "::1"])
def test_trusted_proxy_header_identifies_the_user(app: FastAPI, make_user: MakeUser, host: str) -> None:
    user = make_user()
    response = from_address(app, host).get(API + "/me", headers={"X-Remote-User": user.username})
    assert response.status_code == 200
    assert response.json()["username"] == user.username


@pytest.mark.parametrize("settings_overrides", [PROXY])
@pytest.mark.parametrize("host", ["10.1.3.3", "203.0.113.9", "testclient"])
def test_proxy_header_from_elsewhere_is_ignored(app: FastAPI, make_user: MakeUser, host: str) -> None:
    user = make_user()
    response = from_address(app, host).get(API + "/me", headers={"X-Remote-User": user.username})
    assert_problem(response, 401, "not_authenticated")


def test_proxy_header_is_ignored_when_no_proxy_is_trusted(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user("platform_admin")
    response = from_address(app, "127.0.0.1").get(API + "/users", headers={"X-Remote-User": user.username})
    assert_problem(response, 401)


@pytest.mark.parametrize("settings_overrides", [PROXY | {"remote_user_header": "X-Shib-EPPN"}])
def test_proxy_header_name_is_configurable(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user()
    proxy = from_address(app, "10.1.2.3")
    assert proxy.get(API + "/me", headers={"X-Shib-EPPN": user.username}).status_code == 200
    assert_problem(proxy.get(API + "/me", headers={"X-Remote-User": user.username}), 401)


@pytest.mark.parametrize("settings_overrides", [PROXY])
def test_proxy_user_must_exist_and_be_active(app: FastAPI, make_user: MakeUser) -> None:
    proxy = from_address(app, "10.1.2.3")
    body = assert_problem(proxy.get(API + "/me", headers={"X-Remote-User": "newcomer@unicaen.fr"}), 401)
    assert "no myriagate account" in body["detail"]
    disabled = make_user(active=False)
    assert_problem(proxy.get(API + "/me", headers={"X-Remote-User": disabled.username}), 401)


@pytest.mark.parametrize("settings_overrides", [PROXY])
def test_proxy_changes_need_a_session_and_its_csrf_token(app: FastAPI, make_user: MakeUser) -> None:
    user = make_user(password=None)  # an SSO-only user
    proxy = from_address(app, "10.1.2.3")
    sso = {"X-Remote-User": user.username}
    # A cross-site form posted through the SSO proxy carries the header but no CSRF token.
    assert_problem(proxy.post(API + "/tokens", json={"name": "x"}, headers=sso), 403, "csrf_rejected")
    opened = proxy.post(API + "/sessions", headers=sso)
    assert opened.status_code == 201
    csrf = opened.json()["csrf_token"]
    created = proxy.post(API + "/tokens", json={"name": "x"}, headers=sso | {"X-CSRF-Token": csrf})
    assert created.status_code == 201
