"""The served OpenAPI document matches docs/api.md, and documents every error as problem+json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|", re.MULTILINE)


def _shape(path: str) -> str:
    """``/jobs/{job_id}`` and ``/jobs/{id}`` are the same route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def documented_routes() -> set[tuple[str, str]]:
    routes = {(method, _shape("/api/v1" + path)) for method, path in _ROW.findall(API_MD.read_text())}
    assert len(routes) >= 20, "docs/api.md endpoint table not found"
    return routes


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_every_route_of_the_api_doc_is_served(openapi: dict[str, Any]) -> None:
    served = {(method.upper(), _shape(path)) for path, ops in openapi["paths"].items() for method in ops}
    missing = documented_routes() - served
    assert not missing, f"in docs/api.md but not served: {sorted(missing)}"
    undocumented = {r for r in served if r[1].startswith("/api/v1/")} - documented_routes()
    assert not undocumented, f"served but not in docs/api.md: {sorted(undocumented)}"


def test_every_error_response_is_problem_json(openapi: dict[str, Any]) -> None:
    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= set(
        openapi["components"]["schemas"]["Problem"]["properties"]
    )
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "500" in responses and "401" in responses, (method, path)
            errors = {status: r for status, r in responses.items() if status[0] in "45"}
            for status, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_routes_with_input_document_422(openapi: dict[str, Any]) -> None:
    jobs = openapi["paths"]["/api/v1/jobs"]
    assert "422" in jobs["post"]["responses"] and "422" in jobs["get"]["responses"]
    assert {"202", "200"} <= set(jobs["post"]["responses"])  # submitted, or dry run
    output = openapi["paths"]["/api/v1/jobs/{job_id}/output"]["get"]["responses"]["200"]
    assert "text/plain" in output["content"]


def test_interactive_docs_are_served(client: TestClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and "/api/v1/openapi.json" in response.text
