"""How often a request waits for a worker thread (FastAPI's thread pool, anyio's 40 threads).

Under load every thread may be busy with an sbatch or waiting for a pooled connection, so each
pass through the pool is a wait in the queue: ``/healthz`` takes none (a busy but healthy
process must answer its load balancer), an API request one for authentication and one for
its endpoint. Dependencies that do no I/O and the check of the endpoint's answer stay on the
event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient

from myriagate.db.models.users import User
from tests.web.conftest import MakeUser

JOBS = "/api/v1/jobs"
SCRIPT = "#!/bin/bash\n#SBATCH --time=00:10:00\necho hello\n"
T = TypeVar("T")


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to the thread pool, in order."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        sent.append(getattr(func, "__qualname__", type(func).__name__))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return sent


@pytest.mark.parametrize(
    ("name", "expected"),
    [("healthz", 0), ("list", 2), ("show", 2), ("submit", 2)],
)
def test_thread_pool_passes_per_request(
    name: str,
    expected: int,
    passes: list[str],
    make_user: MakeUser,
    auth_client: Callable[[User], TestClient],
) -> None:
    client = auth_client(make_user())
    job_id = client.post(JOBS, json={"script": SCRIPT}).raise_for_status().json()["id"]
    calls: dict[str, Callable[[], httpx.Response]] = {
        "healthz": lambda: client.get("/healthz"),
        "list": lambda: client.get(JOBS, params={"limit": 50}),
        "show": lambda: client.get(f"{JOBS}/{job_id}"),
        "submit": lambda: client.post(JOBS, json={"script": SCRIPT}),
    }
    passes.clear()

    calls[name]().raise_for_status()

    assert len(passes) == expected, passes
