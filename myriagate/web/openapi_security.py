"""The API's ways to authenticate, declared in the OpenAPI document (issue #17).

Authentication itself is done by ``web.auth`` through the ``current_identity`` and
``login_identity`` dependencies; FastAPI cannot see that, so the served document declared no
security scheme: Swagger UI offered no Authorize button and generated clients did not know to
send a Bearer token. Here the document is told afterwards: a ``bearerAuth`` scheme (the
personal ``mgt_…`` tokens) on every operation whose dependencies authenticate, plus
``basicAuth`` where a login is also accepted (creating a token or a session). Nothing about how
requests are authenticated changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from myriagate.web.deps import current_identity, login_identity

BEARER = "bearerAuth"
BASIC = "basicAuth"
SCHEMES: dict[str, dict[str, str]] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "mgt_… personal token",
        "description": "A personal token (web page Tokens, or POST /api/v1/tokens): "
        "`Authorization: Bearer mgt_…`.",
    },
    BASIC: {
        "type": "http",
        "scheme": "basic",
        "description": "Username and password: only to create a token or a session.",
    },
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def security_of(route: APIRoute) -> list[dict[str, list[str]]]:
    """The OpenAPI ``security`` requirement of one route (empty: open to anyone)."""
    calls = set(_calls(route.dependant))
    if login_identity in calls:
        return [{BEARER: []}, {BASIC: []}]
    if current_identity in calls:
        return [{BEARER: []}]
    return []


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path: FastAPI keeps an included router as a branch that
    points at the router it includes, with the prefix it was included under."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(original.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def declare_security(document: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """``document`` with the schemes declared and each authenticated operation requiring them."""
    document.setdefault("components", {})["securitySchemes"] = SCHEMES
    paths = document.get("paths", {})
    for path, route in _api_routes(routes):
        security = security_of(route)
        if not security or path not in paths:
            continue
        for method in route.methods or ():
            operation = paths[path].get(method.lower())
            if operation is not None:
                operation["security"] = security
    return document
