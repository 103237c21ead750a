"""Shared fixtures: a migrated database on SQLite and PostgreSQL, a fake clock, fake Slurm.

``db_url`` runs each test on a fresh SQLite file and, under the ``postgres`` marker, in a
fresh PostgreSQL schema (dropped afterwards), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.migrate import upgrade
from myriagate.db.models.users import User
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory

POSTGRES_URL = os.environ.get(
    "MYRIAGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLUSTER = "devcluster"


class FakeClock:
    """ports.Clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


def _postgres_schema_url() -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    try:
        # Every connection of this test sees only its own schema (tables and alembic_version).
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'myriagate.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database brought up to date by the Alembic migrations."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_cluster(clock: FakeClock) -> FakeCluster:
    return FakeCluster(name=CLUSTER, clock=clock.now)


@pytest.fixture
def backends(fake_cluster: FakeCluster) -> FakeSlurmBackendFactory:
    return FakeSlurmBackendFactory(fake_cluster)


def make_user(session: Session, username: str, login: str, accounts: list[str], clock: FakeClock) -> User:
    user = users_repo.add(session, username=username, cluster_login=login, created_at=clock.now())
    for account in accounts:
        users_repo.add_membership(session, user, cluster=CLUSTER, slurm_account=account)
    session.commit()
    return user


@pytest.fixture
def alice(session: Session, clock: FakeClock) -> User:
    return make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)


@pytest.fixture
def bob(session: Session, clock: FakeClock) -> User:
    return make_user(session, "bob@univ-rouen.fr", "bob", ["rouen-chimie"], clock)


@pytest.fixture
def carol(session: Session, clock: FakeClock) -> User:
    return make_user(session, "carol@unicaen.fr", "carol", ["caen-climat", "caen-bio"], clock)
