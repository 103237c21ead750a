"""Engines and session factories built from a database URL.

The caller owns the session lifecycle (``with factory() as session:``); the functions that
use a session never create one. SQLite gets WAL, a busy timeout and foreign keys, so several
processes (web, worker) can share one file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from myriagate.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
log = structlog.get_logger(__name__)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
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
    def from_settings(cls, settings: Settings) -> PoolOptions:
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
    engine = sa.create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_s,
    )
    sa.event.listen(engine, "checkout", _note_checkout)
    sa.event.listen(engine, "checkin", _report_long_hold)
    return engine


HELD_LONG_S = 2.0  # a connection kept longer starves the pool under load: say who kept it


def _note_checkout(
    _dbapi: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    record.info["checked_out"] = (time.monotonic(), structlog.contextvars.get_contextvars())


def _report_long_hold(_dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
    taken = record.info.pop("checked_out", None)
    if taken is None:
        return
    held_s = time.monotonic() - taken[0]
    if held_s >= HELD_LONG_S:
        # The request (or job) that took it: its log context at checkout time.
        log.warning("db.connection_held_long", held_s=round(held_s, 2), **taken[1])


def make_session_factory(engine_or_url: Engine | str) -> sessionmaker[Session]:
    """A session factory; objects stay readable after commit (services return them).

    Its sessions know whether their open transaction wrote anything (``only_read``).
    """
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    sa.event.listen(factory, "after_begin", _transaction_began)
    sa.event.listen(factory, "after_flush", _wrote)
    sa.event.listen(factory, "do_orm_execute", _maybe_wrote)
    sa.event.listen(factory, "after_transaction_end", _transaction_ended)
    return factory


_WRITES = "myriagate.writes"


def _transaction_began(session: Session, _transaction: SessionTransaction, _connection: Connection) -> None:
    session.info.setdefault(_WRITES, False)


def _wrote(session: Session, _context: UOWTransaction) -> None:
    session.info[_WRITES] = True


def _maybe_wrote(state: ORMExecuteState) -> None:
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WRITES] = True
    elif isinstance(statement, sa.TextClause) and str(statement).lstrip()[:6].upper() != "SELECT":
        state.session.info[_WRITES] = True  # raw SQL: a write unless it plainly reads


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one: committed or rolled back
        session.info.pop(_WRITES, None)


def only_read(session: Session) -> bool:
    """True when the session's open transaction has read and written nothing at all.

    False when it wrote (a flush, an INSERT/UPDATE/DELETE, raw SQL other than SELECT), has
    changes waiting for a flush, or when the session does not come from
    ``make_session_factory`` (it is not tracked: unknown is not "only read").
    """
    if session.info.get(_WRITES) is not False:
        return False
    return not (session.new or session.dirty or session.deleted)


def release_connection(session: Session) -> None:
    """End the session's transaction so its pooled connection goes back to the pool.

    Called before slow remote work (an SSH command, a transfer) on a request path: a request
    that kept its connection through seconds of SSH would starve the pool under load (the
    others then wait for a connection until the pool's timeout: 503). Commits what is pending
    (nothing, on the read paths that call this); loaded objects stay usable, as the factories
    here do not expire them on commit, and the session takes a new connection when next used.
    """
    session.commit()
