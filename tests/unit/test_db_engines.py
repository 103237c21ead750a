"""The tests' SQLite engines share one dialect and statement cache (tests/db_engines.py): a
statement compiled for one test's file is found for the next, and nothing else is shared."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.db_engines import SharedSqliteStatements

ROWS = sa.table("rows", sa.column("test"))


def _url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def _tests_in(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(ROWS.c.test)).scalars())


def _write(engine: sa.Engine, test: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS rows (test TEXT)")
        conn.execute(sa.insert(ROWS).values(test=test))


def test_a_statement_compiled_for_one_file_is_found_for_the_next(tmp_path: Path) -> None:
    shared = SharedSqliteStatements()
    first = shared.engine(_url(tmp_path, "a.db"))
    _write(first, "a")
    assert _tests_in(first) == ["a"]
    first.dispose()
    second = shared.engine(_url(tmp_path, "b.db"))
    assert second.dialect is first.dialect
    _write(second, "b")
    with second.connect() as conn:
        result = conn.execute(sa.select(ROWS.c.test))
        assert result.context.cache_hit == second.dialect.CACHE_HIT
        assert list(result.scalars()) == ["b"]
    second.dispose()


def test_each_engine_keeps_its_own_file_pool_and_listeners(tmp_path: Path) -> None:
    shared = SharedSqliteStatements()
    first, second = shared.engine(_url(tmp_path, "a.db")), shared.engine(_url(tmp_path, "b.db"))
    assert (str(first.url), str(second.url)) == (_url(tmp_path, "a.db"), _url(tmp_path, "b.db"))
    assert first.pool is not second.pool
    seen: list[str] = []
    sa.event.listen(first, "before_cursor_execute", lambda *args: seen.append(args[2]))
    _write(first, "a")
    _write(second, "b")
    assert (_tests_in(first), _tests_in(second)) == (["a"], ["b"])
    assert seen and all("rows" in statement for statement in seen)
    count = len(seen)
    _tests_in(second)
    assert len(seen) == count  # the listener is the first engine's only
    with second.connect() as conn:  # SQLite's settings, on every engine's connections
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    first.dispose()
    second.dispose()


def test_a_postgresql_engine_is_left_as_make_engine_built_it() -> None:
    shared = SharedSqliteStatements()
    engine = shared.engine("postgresql+psycopg://tests@127.0.0.1:1/none")
    assert engine.dialect.name == "postgresql"
    assert "compiled_cache" not in engine.get_execution_options()
    engine.dispose()
