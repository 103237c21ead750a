"""The PostgreSQL connection pool follows the settings; the gateway builds its engine with them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from myriagate.db.session import PoolOptions, make_engine
from myriagate.settings import Settings
from myriagate.wiring import build_gateway
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.postgres


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


def test_an_exhausted_pool_times_out_after_the_setting() -> None:
    engine = make_engine(POSTGRES_URL, pool=PoolOptions(size=1, max_overflow=0, timeout_s=0.2))
    try:
        with engine.connect(), pytest.raises(sa.exc.TimeoutError):  # the API answers it 503
            engine.connect()
    finally:
        engine.dispose()
