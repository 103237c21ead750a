"""No internals reach researchers (issue #15): a sweep of error responses.

Every API route is called the wrong way (bad JSON, wrong types, unknown fields, ids that are
not ids, hostile strings in the path and the query), and every page form is posted with
nonsense; no answer may carry what only the gateway's operators should see: a traceback, a
pydantic dump (``Input should be…``, ``Value error, …``, ``type=…``, ``Field required``), a
setting's name (``MYRIAGATE_…``), a database library's words, or a path of the gateway host
(the package, the virtualenv, the data and spool directories).
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

import myriagate
from myriagate.db.models.users import User
from myriagate.errors import ConfigError, StagingError
from myriagate.wiring import Gateway
from tests.web.conftest import MakeUser
from tests.web.french_check import app_routes
from tests.web.pages_helpers import logged_in, page_csrf

PYDANTIC_AND_TRACES = [
    re.compile(p)
    for p in (
        r"Input should be",
        r"Value error, ",
        r"Assertion failed, ",
        r"\btype=[a-z_]+",
        r"Field required",
        r"validation errors? for ",
        r"errors\.pydantic\.dev",
        r"Traceback \(most recent call last\)",
        r'File "[^"]+", line \d+',
        r"MYRIAGATE_[A-Z_]+",
        r"(?i)\bsqlalchemy\b|\bpsycopg|sqlite3\.",
    )
]
HOSTILE_IDS = ("not-an-id", "$(id)", "..%2F..%2Fetc%2Fpasswd", "-rf", str(uuid.uuid4()))
QUERY = {"limit": "-1", "cursor": "\x00", "state": "nope", "month": "2026-13", "cluster": "$(id)"}
JSON = {"content-type": "application/json"}
BODIES: tuple[Any, ...] = (
    b"{not json",
    [],
    {"unexpected": 1},
    {"script": 5, "options": {"ntasks_per_node": 0, "time": "forever", "partiton": "x"}},
    {"name": ["x"], "core_hours": "lots", "starts_at": "yesterday", "account": {"a": 1}},
)


@pytest.fixture
def settings_overrides(tmp_path: Path) -> dict[str, Any]:
    # The sweep sends a few hundred requests as one user: no bucket may answer for the routes.
    return {"rate_limit_enabled": False, "spool_dir": tmp_path / "spool", "enforce_allocations": True}


def host_paths(gateway: Gateway) -> list[str]:
    """Paths of the gateway host that must never be shown: where the code, the virtualenv and
    the data live."""
    settings = gateway.settings
    found = {str(Path(myriagate.__file__).resolve().parent), sys.prefix, str(settings.spool_dir)}
    database = settings.database_url.split("///", 1)
    if len(database) == 2 and database[1]:
        found.add(str(Path(database[1]).parent))
    return sorted(p for p in found if len(p) > 4)


def internals_in(text: str, paths: list[str]) -> list[str]:
    found = [p.pattern for p in PYDANTIC_AND_TRACES if p.search(text)]
    return found + [p for p in paths if p in text]


def api_calls(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, request keywords) for every API route, called the wrong ways."""
    for route in app_routes(app.routes):
        if not route.path.startswith("/api/"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            for value in HOSTILE_IDS if route.params else ("",):
                path = route.path
                for name in route.params:
                    path = re.sub(r"\{" + name + r"(:\w+)?\}", value, path)
                if method in ("POST", "PUT", "PATCH"):
                    for body in BODIES:
                        if isinstance(body, bytes):
                            yield method, path, {"content": body, "headers": JSON}
                        else:
                            yield method, path, {"json": body, "params": QUERY}
                else:
                    yield method, path, {"params": QUERY}


def test_no_error_answer_of_the_api_shows_internals(
    app: FastAPI, gateway: Gateway, make_user: MakeUser, auth_client: Callable[[User], TestClient]
) -> None:
    paths = host_paths(gateway)
    client = auth_client(make_user("researcher"))
    client = TestClient(app, headers=dict(client.headers), raise_server_exceptions=False)
    seen = 0
    leaks: dict[str, list[str]] = {}
    for method, path, kwargs in api_calls(app):
        response = client.request(method, path, **kwargs)
        if response.status_code < 400:
            continue
        seen += 1
        found = internals_in(response.text, paths)
        if found:
            leaks[f"{method} {path} {response.status_code}: {response.text[:300]}"] = found
    assert seen > 200  # the sweep did reach the routes' error answers
    assert leaks == {}


FORMS: dict[str, dict[str, str]] = {
    "/submit": {"mode": "template", "template": "hello", "action": "submit", "partition": "nope",
                "time": "forever", "ntasks": "-3", "mem": "lots", "param_name": "$(id)", "array": "1-x"},
    "/submit/estimate": {"mode": "script", "script": "#!/bin/bash\n#SBATCH --time=banana\n",
                         "cpus_per_task": "0"},
    "/tokens": {"name": "", "expires_days": "never"},
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_no_form_refusal_on_a_page_shows_internals(
    app: FastAPI, gateway: Gateway, make_user: MakeUser, lang: str
) -> None:
    paths = host_paths(gateway)
    client = logged_in(app, make_user("researcher"), lang=lang)
    for path, fields in FORMS.items():
        response = client.post(path, data={"csrf_token": page_csrf(client, "/submit"), **fields})
        assert response.status_code in (200, 303, 400, 403, 422), (path, response.status_code)
        assert internals_in(response.text, paths) == [], (path, response.text[:2000])
    for path in ("/jobs/not-an-id", f"/jobs/{uuid.uuid4()}", "/allocations/$(id)", "/datasets/-rf"):
        response = client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert internals_in(response.text, paths) == [], (path, response.text[:2000])


@pytest.mark.own_app  # adds routes
def test_a_set_up_problem_tells_the_caller_nothing_of_the_set_up_and_the_log_everything(app: FastAPI) -> None:
    """wiring's "data staging goes over SSH: set MYRIAGATE_SSH_CA_KEY_PATH" is for operators."""

    def not_set_up() -> None:
        raise ConfigError("data staging goes over SSH: set MYRIAGATE_SSH_CA_KEY_PATH (/etc/myriagate/env)")

    def names_a_setting() -> None:
        raise StagingError("no key to open the webhook's secret (MYRIAGATE_SECRET_KEY)")

    app.router.add_api_route("/api/v1/test-not-set-up", not_set_up)
    app.router.add_api_route("/api/v1/test-names-a-setting", names_a_setting)
    client = TestClient(app)
    for path, status in (("/api/v1/test-not-set-up", 500), ("/api/v1/test-names-a-setting", 502)):
        with structlog.testing.capture_logs() as logs:
            problem = client.get(path).json()
        assert problem["status"] == status
        assert "MYRIAGATE_" not in problem["detail"] and "/etc/" not in problem["detail"]
        assert "not set up for this" in problem["detail"] and problem["request_id"]
        assert any("MYRIAGATE_" in str(entry.get("detail", "")) for entry in logs)  # the operators' copy
