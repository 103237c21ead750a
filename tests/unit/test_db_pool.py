"""The PostgreSQL connection pool follows the settings; the gateway builds its engine with them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models import User
from myriagate.db.session import PoolOptions, make_engine, only_read
from myriagate.settings import Settings
from myriagate.wiring import build_gateway
from tests.conftest import POSTGRES_URL


@pytest.mark.postgres
def test_pool_bounds_come_from_the_settings() -> None:
    settings = Settings(dev_mode=True, database_url=POSTGRES_URL, db_pool_size=3, db_max_overflow=2,
                        db_pool_timeout_s=0.5)  # fmt: skip
    gateway = build_gateway(settings)
    try:
        engine = gateway.session_factory.kw["bind"]
        pool = engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 2, 0.5)
    finally:
        gateway.close()


@pytest.mark.postgres
def test_an_exhausted_pool_times_out_after_the_setting() -> None:
    engine = make_engine(POSTGRES_URL, pool=PoolOptions(size=1, max_overflow=0, timeout_s=0.2))
    try:
        with engine.connect(), pytest.raises(sa.exc.TimeoutError):  # the API answers it 503
            engine.connect()
    finally:
        engine.dispose()


def test_a_session_knows_whether_its_transaction_only_read(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert not only_read(session)  # no transaction yet: nothing to release
        session.execute(sa.select(sa.literal(1)))
        session.execute(sa.text("SELECT 1"))
        assert only_read(session)
        session.execute(sa.update(User).where(User.username == "nobody").values(display_name="x"))
        assert not only_read(session)  # a Core UPDATE, even of no row
        session.rollback()
        session.execute(sa.text("DELETE FROM users WHERE username = 'nobody'"))
        assert not only_read(session)  # raw SQL other than SELECT
        session.commit()
        session.execute(sa.select(sa.literal(1)))
        assert only_read(session)  # a new transaction starts clean
