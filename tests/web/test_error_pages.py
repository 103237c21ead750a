"""One error path: a failure on a page route shows the same normal form as the API's problem.

The same exception raised under ``/api/`` and on a page route gives the same status, code,
title, detail, field list and headers, as ``application/problem+json`` or as the HTML error
page; the routes programs read (``/readyz``, ``/metrics``) answer problem details whatever
their client accepts.
"""

from __future__ import annotations

import html

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from myriagate.errors import ALL_ERRORS, FieldError, MyriagateError, NotAuthenticated
from tests.web.conftest import assert_problem

# boom_app adds routes that fail on purpose: an app of their own, not the shared one.
pytestmark = pytest.mark.own_app

BY_NAME = {cls.__name__: cls for cls in ALL_ERRORS}
BROWSER = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "en"}
# Headers a failure calls for; the rest (dates, lengths, security policy) differ by rendering.
FAILURE_HEADERS = ("retry-after", "www-authenticate", "allow")


@pytest.fixture
def boom_app(app: FastAPI) -> FastAPI:
    """The app plus the same failing routes under /api/v1 and as pages."""

    def raise_error(name: str) -> None:
        raise BY_NAME[name]("it went wrong", fields=[FieldError(("options", "time"), "too long")])

    def crash() -> None:
        raise RuntimeError("secret database password in a stack trace")

    def pool_exhausted() -> None:
        raise sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out")

    for prefix in ("/api/v1/test", "/test"):
        app.router.add_api_route(f"{prefix}-error/{{name}}", raise_error, methods=["GET", "POST"])
        app.router.add_api_route(f"{prefix}-crash", crash)
        app.router.add_api_route(f"{prefix}-busy", pool_exhausted)
    return app


def _same_failure_headers(page_headers: dict[str, str], problem_headers: dict[str, str]) -> None:
    for name in FAILURE_HEADERS:
        assert page_headers.get(name) == problem_headers.get(name), name


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_each_error_of_the_tree_shows_the_same_report_on_a_page(
    error: type[MyriagateError], boom_app: FastAPI
) -> None:
    client = TestClient(boom_app)
    api = client.post(f"/api/v1/test-error/{error.__name__}")
    problem = assert_problem(api, error.http_status)
    page = client.post(f"/test-error/{error.__name__}", headers=BROWSER)
    assert page.status_code == error.http_status
    assert page.headers["content-type"].startswith("text/html")
    for value in (problem["code"], problem["title"], problem["detail"], "options.time", "too long"):
        assert html.escape(value) in page.text, value
    assert page.headers["x-request-id"] in page.text
    _same_failure_headers(dict(page.headers), dict(api.headers))


def test_not_signed_in_on_a_page_goes_to_the_login_page_and_back(boom_app: FastAPI) -> None:
    client = TestClient(boom_app)
    name = NotAuthenticated.__name__
    response = client.get(f"/test-error/{name}?x=1", headers=BROWSER, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Ftest-error%2FNotAuthenticated%3Fx%3D1"


def test_a_bug_on_a_page_is_a_generic_500_page_logged_with_its_traceback(boom_app: FastAPI) -> None:
    with structlog.testing.capture_logs() as logs:
        page = TestClient(boom_app).get("/test-crash", headers={**BROWSER, "X-Request-ID": "req-7"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "internal_error" in page.text and "req-7" in page.text and "secret" not in page.text
    crash = next(entry for entry in logs if entry["event"] == "http.unhandled")
    assert isinstance(crash["exc_info"], RuntimeError) and crash["request_id"] == "req-7"


def test_an_exhausted_database_pool_is_a_503_page_too(boom_app: FastAPI) -> None:
    page = TestClient(boom_app).get("/test-busy", headers=BROWSER)
    assert page.status_code == 503 and "service_busy" in page.text
    assert page.headers["retry-after"] == "5" and "QueuePool" not in page.text


def test_routing_errors_show_the_same_code_on_pages_without_the_apis_hint(client: TestClient) -> None:
    page = client.get("/nowhere", headers=BROWSER)
    problem = assert_problem(client.get("/nowhere", headers={"Accept": "application/json"}), 404, "not_found")
    assert page.status_code == 404 and "not_found" in page.text
    # The API's detail sends programs to /api/v1/docs: a reader of the page gets its title only.
    assert "/api/v1/docs" in problem["detail"] and html.escape(problem["detail"]) not in page.text


def test_a_missing_page_reads_in_french_for_a_french_reader(client: TestClient) -> None:
    page = client.get("/nowhere", headers={**BROWSER, "Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status_code == 404 and "Page introuvable" in page.text
    assert "nothing is here" not in page.text


@pytest.mark.parametrize("path", ["/readyz?cluster=no-such-cluster", "/metrics"])
def test_routes_read_by_programs_answer_problems_to_a_browser_too(client: TestClient, path: str) -> None:
    response = client.get(path, headers=BROWSER)
    assert_problem(response, 404 if path.startswith("/readyz") else 403)
