"""The app fixture lends each test one of the process's two apps (``lent_app``): what a test
adds to one must not reach the next test, and a changed shared app is not lent again."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from myriagate.wiring import Gateway
from tests.web.conftest import lent_app

ADDED = "/api/v1/test-lent-app"


def _added() -> dict[str, str]:
    return {"added": "yes"}


def _add_route(app: FastAPI) -> None:
    app.router.add_api_route(ADDED, _added)


def test_routes_an_own_app_test_added_are_gone_for_the_next_one(gateway: Gateway) -> None:
    with lent_app(gateway, own=True) as first:
        _add_route(first)
        assert TestClient(first).get(ADDED).json() == {"added": "yes"}
        assert ADDED in first.openapi()["paths"]
    with lent_app(gateway, own=True) as second:
        assert second is first  # lent again, not rebuilt
        assert TestClient(second).get(ADDED).status_code == 404
        assert ADDED not in second.openapi()["paths"]


def test_an_own_app_with_an_error_handler_added_is_not_lent_again(gateway: Gateway) -> None:
    def handler(_request: Request, _exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("handled", status_code=418)

    with lent_app(gateway, own=True) as first:
        first.add_exception_handler(LookupError, handler)
    with lent_app(gateway, own=True) as second:
        assert second is not first
        assert LookupError not in second.exception_handlers


def test_the_shared_app_refuses_added_routes_and_is_built_again(gateway: Gateway) -> None:
    with pytest.raises(AssertionError, match="own_app"), lent_app(gateway, own=False) as changed:
        _add_route(changed)
    with lent_app(gateway, own=False) as shared:
        assert shared is not changed
        assert TestClient(shared).get(ADDED).status_code == 404


def test_each_test_gets_a_fresh_state_on_the_same_app(gateway: Gateway) -> None:
    with lent_app(gateway, own=False) as first:
        first.state.left_by_a_test = True
    with lent_app(gateway, own=False) as second:
        assert second is first and not hasattr(second.state, "left_by_a_test")
        assert second.state.gateway is gateway
