"""Engines and session factories built from a database URL.

The caller owns the session lifecycle (``with factory() as session:``); the functions that
use a session never create one. SQLite gets WAL, a busy timeout and foreign keys, so several
processes (web, worker) can share one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool bounds of a server database (ignored for SQLite: one file, no server)."""

    size: int = 5
    max_overflow: int = 10
    timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> PoolOptions:
        return cls(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s)


def make_engine(database_url: str, *, echo: bool = False, pool: PoolOptions | None = None) -> Engine:
    """An engine for ``database_url`` (``sqlite:///…`` or ``postgresql+psycopg://…``)."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # Connections move between threads through the pool (web handlers, worker threads).
        engine = sa.create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pool = pool or PoolOptions()
    return sa.create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
    )


def make_session_factory(engine_or_url: Engine | str) -> sessionmaker[Session]:
    """A session factory; objects stay readable after commit (services return them)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def release_connection(session: Session) -> None:
    """End the session's transaction so its pooled connection goes back to the pool.

    Called before slow remote work (an SSH command, a transfer) on a request path: a request
    that kept its connection through seconds of SSH would starve the pool under load (the
    others then wait for a connection until the pool's timeout: 503). Commits what is pending
    (nothing, on the read paths that call this); loaded objects stay usable, as the factories
    here do not expire them on commit, and the session takes a new connection when next used.
    """
    session.commit()
