"""Problem details (RFC 9457) for every kind of failure, and the request id that ties them to logs."""

from __future__ import annotations

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from myriagate.errors import ALL_ERRORS, ConfigError, FieldError, MyriagateError
from myriagate.web.problems import NOT_SET_UP
from tests.web.conftest import assert_problem

# boom_app adds routes that fail on purpose: an app of their own, not the shared one.
pytestmark = pytest.mark.own_app

BY_NAME = {cls.__name__: cls for cls in ALL_ERRORS}


@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    """The app plus routes that fail on purpose (added after create_app, like any router)."""

    def raise_error(name: str) -> None:
        raise BY_NAME[name]("it went wrong", fields=[FieldError(("options", "time"), "too long")])

    def crash() -> None:
        raise RuntimeError("secret database password in a stack trace")

    app.router.add_api_route("/api/v1/test-error/{name}", raise_error)

    def pool_exhausted() -> None:
        raise sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out")

    app.router.add_api_route("/api/v1/test-crash", crash)
    app.router.add_api_route("/api/v1/test-busy", pool_exhausted)
    return app


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_each_error_of_the_tree_renders_as_problem_details(
    error: type[MyriagateError], boom_app: FastAPI
) -> None:
    response = TestClient(boom_app).get(f"/api/v1/test-error/{error.__name__}")
    body = assert_problem(response, error.http_status, error.code)
    assert body["type"] == f"https://myriagate.criann.fr/problems/{error.code}"
    # A set-up problem's detail is for the operators (logged): callers read that it is not theirs.
    expected = NOT_SET_UP if error is ConfigError else "it went wrong"
    assert body["title"] == error.title and body["detail"] == expected
    assert body["errors"] == [{"loc": ["options", "time"], "message": "too long"}]
    assert body["request_id"] == response.headers["x-request-id"]
    assert ("retry-after" in response.headers) == error.transient
    if error.http_status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_bug_is_a_generic_500_logged_with_its_traceback(boom_app: FastAPI) -> None:
    with structlog.testing.capture_logs() as logs:
        response = TestClient(boom_app).get("/api/v1/test-crash", headers={"X-Request-ID": "req-42"})
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text
    assert body["request_id"] == "req-42" == response.headers["x-request-id"]
    crash = next(entry for entry in logs if entry["event"] == "http.unhandled")
    assert isinstance(crash["exc_info"], RuntimeError) and crash["request_id"] == "req-42"


def test_an_exhausted_database_pool_is_a_transient_503_not_a_bug(boom_app: FastAPI) -> None:
    response = TestClient(boom_app).get("/api/v1/test-busy")
    body = assert_problem(response, 503, "service_busy")
    assert response.headers["retry-after"] == "5" and "QueuePool" not in body["detail"]


def test_request_validation_lists_the_fields(client: TestClient, make_user, auth_client) -> None:  # type: ignore[no-untyped-def]
    response = auth_client(make_user()).post(
        "/api/v1/jobs", json={"script": 12, "options": {"nodes": "many", "colour": "red"}}
    )
    body = assert_problem(response, 422, "invalid_request")
    locs = [e["loc"] for e in body["errors"]]
    assert ["script"] in locs and ["options", "nodes"] in locs and ["options", "colour"] in locs
    assert all(e["message"] for e in body["errors"])
    not_json = auth_client(make_user()).post(
        "/api/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(not_json, 422, "invalid_request")


def test_routing_404_and_405_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")
    # Outside /api/v1 a browser gets the HTML error page, a JSON client the problem document.
    assert_problem(client.get("/nowhere", headers={"Accept": "application/json"}), 404, "not_found")
    page = client.get("/nowhere", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    response = client.get("/api/v1/jobs/00000000-0000-4000-8000-000000000000/cancel")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123_x.y:z", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("<script>", False),
        ("a b", False),
        ("", False),
    ],
)
def test_request_id_is_kept_only_when_sane(client: TestClient, sent: str, kept: bool) -> None:
    response = client.get("/api/v1/me", headers={"X-Request-ID": sent})
    body = assert_problem(response, 401)
    echoed = response.headers["x-request-id"]
    assert body["request_id"] == echoed
    assert (echoed == sent) is kept
    if not kept:
        assert len(echoed) == 32 and echoed.isalnum()


def test_request_id_is_bound_into_the_logs(client: TestClient) -> None:
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    assert any(entry.get("request_id") == "trace-me" and entry["event"] == "http.request" for entry in logs)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.headers["x-request-id"]
