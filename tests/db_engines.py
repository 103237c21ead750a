"""Engines for the tests' SQLite files that share one dialect and one statement cache.

A new engine brings a new dialect and an empty statement cache, and the cache is keyed by the
dialect: so each test compiled again every statement it ran, and looked up again each type's
processors. That took about a sixth of the unit tier's CPU (py-spy over the whole tier). The
tests' engines are still their own (``make_engine`` on the test's file: their own pool, their
own listeners, disposed after the test), but they run statements through the dialect of the
process's first SQLite engine and keep what they compile in one cache: a statement compiled
by one test is found by the next.

Nothing of a database reaches the dialect or the cache: a compiled statement is SQL text with
its parameter processing, the same for every file (the SQLite library, hence the dialect's
settings, is the process's). PostgreSQL engines are left as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.util import LRUCache

from myriagate.db.session import make_engine

STATEMENTS_KEPT = 20_000  # every statement the unit tier runs, with room (one engine keeps 500)


class SharedSqliteStatements:
    """The dialect and statement cache of the process's test engines for SQLite files."""

    def __init__(self) -> None:
        self._dialect: Dialect | None = None
        self.compiled: LRUCache[object, object] = LRUCache(STATEMENTS_KEPT)

    def engine(self, database_url: str) -> Engine:
        """``make_engine(database_url)``, on the shared dialect and cache when it is SQLite."""
        engine = make_engine(database_url)
        if sa.make_url(database_url).get_backend_name() != "sqlite":
            return engine
        if self._dialect is None:
            with engine.connect():  # the dialect learns the SQLite library on a first connection
                pass
            self._dialect = engine.dialect
        engine.dialect = self._dialect
        engine.update_execution_options(compiled_cache=self.compiled)
        return engine
