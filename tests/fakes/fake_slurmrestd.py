"""A slurmrestd for unit tests: ``httpx.MockTransport`` answering with the real answers captured
from the dev cluster (``tests/data/slurm/rest/``, see ``capture_rest.py``), and faults on demand.

Each route answers one captured file; a test swaps a route's answer (``answer``), makes the
next requests fail (``fail``: a connection refused, a timeout, a lost answer after the request
was received), and reads what was asked (``requests``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm" / "rest"
KEY = b"k" * 32  # the unit tests' cluster key


def captured(name: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a captured answer."""
    saved = json.loads((DATA / f"{name}.json").read_text())
    return int(saved["status"]), saved["body"]


ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/slurm/v0.0.38/ping"): "ping",
    ("GET", "/slurm/v0.0.38/partitions"): "partitions",
    ("GET", "/slurm/v0.0.38/jobs"): "jobs",
    ("GET", "/slurmdb/v0.0.38/jobs"): "db_jobs",
    ("GET", "/slurmdb/v0.0.38/user/alice"): "db_user_ok",
    ("POST", "/slurm/v0.0.38/job/submit"): "submit_ok",
}


@dataclass
class FakeSlurmrestd:
    """Routes to captured answers; ``fail`` raises an httpx error (``after_receiving``: the
    request counts as received, as when the reply is lost on its way back)."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    received: list[httpx.Request] = field(default_factory=list)
    faults: list[tuple[Callable[[httpx.Request], bool], Exception, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for route, name in ROUTES.items():
            self.answers.setdefault(route, captured(name))

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        self.answers[(method, path)] = (status, body)

    def fail(
        self,
        exc: Exception,
        *,
        when: Callable[[httpx.Request], bool] = lambda r: True,
        after_receiving: bool = False,
    ) -> None:
        self.faults.append((when, exc, after_receiving))

    def heal(self) -> None:
        self.faults.clear()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for when, exc, after_receiving in self.faults:
            if when(request):
                if after_receiving:
                    self.received.append(request)
                raise exc
        self.received.append(request)
        key = (request.method, request.url.path)
        if key not in self.answers and request.method == "DELETE":
            key = ("DELETE", "/slurm/v0.0.38/job/*")
        status, body = self.answers.get(key, (404, None))
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        if body is None:
            return httpx.Response(status, text="Not found")
        return httpx.Response(status, json=body)
