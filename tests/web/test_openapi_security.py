"""The OpenAPI document declares how to authenticate (issue #17: Swagger UI had no Authorize
button and generated clients did not know Bearer tokens)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_bearer_token_scheme_is_declared(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"


def test_routes_that_authenticate_require_it_and_open_ones_do_not(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    assert paths["/api/v1/jobs"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/jobs"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/jobs/{job_id}"]["get"]["security"] == [{"bearerAuth": []}]
    # Creating a token also takes a username and password (HTTP Basic).
    assert {"basicAuth": []} in paths["/api/v1/tokens"]["post"]["security"]
    # Logging in with a password stays open.
    assert "security" not in paths["/api/v1/sessions"]["post"]
    secured = [
        (path, method) for path, ops in paths.items() for method, op in ops.items() if "security" in op
    ]
    assert len(secured) >= 20


def test_a_secured_route_still_refuses_a_request_without_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
