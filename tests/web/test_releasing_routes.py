"""Sync endpoints give their pooled connection back before FastAPI validates their answer.

FastAPI validates a sync endpoint's answer in another worker thread and closes the request's
session only after that: a request holding a connection while it waits for a thread, with
every thread waiting for a connection, stalled the API until the pool's timeout (503s at 200
clients in bench/load.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import User
from myriagate.web.routing import ReleasingRoute, releasing

seen: dict[str, Any] = {}


class Answer(BaseModel):
    users: int

    @field_validator("users")
    @classmethod
    def note_the_session(cls, value: int) -> int:
        seen["in_transaction_at_validation"] = seen["session"].in_transaction()
        return value


def get_db() -> Iterator[Session]:
    with seen["factory"]() as session:
        seen["session"] = session
        yield session


Db = Annotated[Session, Depends(get_db)]


@pytest.fixture
def client(session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    router = APIRouter(route_class=ReleasingRoute)

    @router.get("/count", response_model=Answer)
    def count(db: Db) -> dict[str, int]:
        return {"users": db.scalar(sa.select(sa.func.count()).select_from(User)) or 0}

    @router.post("/dirty")
    def dirty(db: Db) -> dict[str, bool]:
        db.add(User(username="never-committed", cluster_login="x", created_at=datetime.now(UTC)))
        db.flush()
        return {"in_transaction": db.in_transaction()}

    @router.get("/fails")
    def fails(db: Db) -> None:
        db.execute(sa.text("SELECT 1"))
        raise RuntimeError("boom")

    app = FastAPI()
    app.include_router(router)
    seen.clear()
    seen["factory"] = session_factory
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_connection_is_back_in_the_pool_before_the_answer_is_validated(client: TestClient) -> None:
    response = client.get("/count")
    assert response.status_code == 200
    assert seen["in_transaction_at_validation"] is False


def test_uncommitted_changes_are_not_committed_but_rolled_back_as_before(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    assert client.post("/dirty").json() == {"in_transaction": True}
    with session_factory() as session:
        assert session.scalar(sa.select(User).where(User.username == "never-committed")) is None


def test_a_failing_endpoint_is_left_to_the_dependency(client: TestClient) -> None:
    assert client.get("/fails").status_code == 500
    assert seen["session"].in_transaction() is False  # closed by get_db's exit


async def coroutine_endpoint() -> None:
    return None


def generator_endpoint() -> Iterator[int]:
    yield 1


def test_coroutines_and_generators_are_left_as_they_are() -> None:
    assert releasing(coroutine_endpoint) is coroutine_endpoint
    assert releasing(generator_endpoint) is generator_endpoint
