"""Fixtures of the corpus's real-cluster tests: the integration fixtures, and a gateway
database and backends that live for a whole module (one submission per script)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import User
from myriagate.db.session import make_engine, make_session_factory
from myriagate.profiles.loader import load_profile
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends
from tests.conftest import FakeClock, make_user
from tests.corpus.pipeline import CLUSTER, USERS
from tests.db_templates import MigratedTemplates

# The integration tests' fixtures (the dev cluster check, the gateway's settings), reused.
from tests.integration.conftest import devcluster, gateway_settings  # noqa: F401


@pytest.fixture(scope="module")
def corpus_db(
    tmp_path_factory: pytest.TempPathFactory, migrated_templates: MigratedTemplates
) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('corpus')) / 'gateway.db'}"
    migrated_templates.clone_into(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def corpus_people(corpus_db: sessionmaker[Session]) -> dict[str, User]:
    """alice and bob as gateway users, with their addresses (``--mail-user`` is checked on them)."""
    people: dict[str, User] = {}
    with corpus_db() as session:
        for login, (address, account) in USERS.items():
            user = make_user(session, address, login, [account], FakeClock())
            user.email = address
            session.commit()
            people[login] = user
    return people


@pytest.fixture(scope="module")
def corpus_backends(gateway_settings: Settings) -> Iterator[ClusterBackends]:  # noqa: F811
    """The gateway's real wiring for the dev cluster, over SSH, as in production."""
    backends = ClusterBackends(load_profile(CLUSTER, gateway_settings), gateway_settings)
    yield backends
    backends.close()
