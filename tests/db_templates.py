"""Migrated databases for tests, made by copying one migration run instead of repeating it.

The Alembic migrations run once per test session (once per xdist worker) into a template;
each test then gets a copy: a file copy on SQLite, a replay of the template schema's
``pg_dump`` (DDL plus rows, with the schema renamed) on PostgreSQL. A copy takes a few
milliseconds on SQLite and about a third of a migration run on PostgreSQL. The migration tests
(``tests/unit/test_models_migration.py``, ``test_webhook_secrets_migration.py``) still migrate
empty databases for real on both backends.

On PostgreSQL a copy is also recycled: when its test ends, a schema whose tables are still
the template's has its rows put back as the template had them (every row deleted, the
template's rows and sequence values replayed: ~20 ms) and waits, renamed, for the worker's
next test, which takes it by renaming it to its own schema's name (~2 ms) instead of replaying
the DDL (~300 ms) and dropping it after (~90 ms). A schema whose tables a test changed, or
one that cannot be emptied, is dropped as before.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from myriagate.db.migrate import upgrade
from myriagate.state_permissions import create_private_file, sqlite_file


def schema_url(server_url: str, schema: str) -> str:
    """``server_url`` whose every connection sees only ``schema`` (tables and alembic_version)."""
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _schema_of(url: sa.URL) -> str:
    options = url.query.get("options", "")
    assert isinstance(options, str) and options.startswith("-csearch_path="), url
    return options.removeprefix("-csearch_path=")


class MigratedTemplates:
    """Copies of a freshly migrated database; each backend's template is made on first use."""

    def __init__(self, workdir: Path, postgres_url: str) -> None:
        self._workdir = workdir
        self._postgres_url = postgres_url
        self._sqlite_template: Path | None = None
        self._postgres_script: str | None = None
        self._postgres_rows: str | None = None  # the template's rows and sequence values
        self._postgres_token = ""
        self._postgres_tables: list[str] = []
        self._postgres_fingerprint = ""
        self._recycled: list[str] = []  # emptied copies waiting for a test
        self._engine: sa.Engine | None = None  # one connection, kept: a new one costs ~15 ms
        self._cloned: set[str] = set()  # this worker's copies in use by a test

    def clone_into(self, database_url: str) -> None:
        """Fill the empty database at ``database_url`` with the migrated schema and its rows."""
        url = sa.make_url(database_url)
        if url.get_backend_name() == "sqlite":
            target = sqlite_file(database_url)
            assert target is not None, database_url
            self._copy_sqlite(target)
        else:
            self._replay_postgres(_schema_of(url))

    # --- SQLite: one migrated file, copied ------------------------------------------------
    def _copy_sqlite(self, target: Path) -> None:
        if self._sqlite_template is None:
            template = self._workdir / "template.db"
            upgrade(f"sqlite:///{template}")
            # Everything into the main file, so a plain copy of it is the whole database.
            with sqlite3.connect(template) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._sqlite_template = template
        create_private_file(target)  # 0600 like a migrated database; copyfile keeps the mode
        shutil.copyfile(self._sqlite_template, target)

    # --- PostgreSQL: one migrated schema, dumped once and replayed under each test's name ---
    def _postgres(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self._postgres_url, pool_size=1, max_overflow=0)
        return self._engine

    def _replay_postgres(self, schema: str) -> None:
        if self._postgres_script is None:
            self._postgres_script, self._postgres_rows = self._dump_template()
        with self._postgres().begin() as conn:
            # A test database need not survive a server crash: no wait for the WAL flush.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            if self._recycled:  # the test's empty schema gives its name to a waiting copy
                waiting = self._recycled.pop()
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}"')
                conn.exec_driver_sql(f'ALTER SCHEMA "{waiting}" RENAME TO "{schema}"')
            else:
                conn.exec_driver_sql(self._postgres_script.replace(self._postgres_token, schema))
                if not self._postgres_fingerprint:
                    self._postgres_tables = _tables(conn, schema)
                    self._postgres_fingerprint = _fingerprint(conn, schema)
        self._cloned.add(schema)

    def release_postgres(self, schema: str) -> bool:
        """The test of ``schema`` ended: keep it for the next test if it can be put back as the
        template was (True), else leave it to the caller to drop (False)."""
        if schema not in self._cloned:
            return False
        self._cloned.discard(schema)
        assert self._postgres_rows is not None
        waiting = new_schema_name().replace("t_", "recycled_", 1)
        try:
            with self._postgres().begin() as conn:
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                conn.exec_driver_sql("SET LOCAL lock_timeout TO '2s'")  # a connection left open
                if _fingerprint(conn, schema) != self._postgres_fingerprint:
                    return False  # the test changed the tables themselves
                # One round trip: foreign keys unchecked while the rows are deleted and put back.
                deletes = [sa.delete(sa.table(table, schema=schema)) for table in self._postgres_tables]
                script = [
                    "SET LOCAL session_replication_role TO replica",
                    *(str(delete.compile(dialect=conn.dialect)) for delete in deletes),
                    self._postgres_rows.replace(self._postgres_token, schema),
                    f'ALTER SCHEMA "{schema}" RENAME TO "{waiting}"',
                ]
                conn.exec_driver_sql(";\n".join(script))
        except sa.exc.DBAPIError:
            return False
        self._recycled.append(waiting)
        return True

    def close(self) -> None:
        """At the end of the session: drop the copies no test took, close the connection."""
        if self._engine is None:
            return
        with self._engine.begin() as conn:
            for schema in self._recycled:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self._recycled.clear()
        self._engine.dispose()
        self._engine = None

    def _dump_template(self) -> tuple[str, str]:
        """The template schema as SQL (its DDL and rows; its rows alone), its name a unique
        token; the schema is dropped after."""
        token = f"mgtmpl_{uuid.uuid4().hex}"
        admin = sa.create_engine(self._postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{token}"'))
            try:
                upgrade(schema_url(self._postgres_url, token))
                ddl, rows = _pg_dump(self._postgres_url, token)
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{token}" CASCADE'))
        finally:
            admin.dispose()
        self._postgres_token = token
        # The test's schema exists already (db_url made it); the rest is created inside it.
        return f"{ddl}\n{rows}".replace(f"CREATE SCHEMA {token};", ""), rows


def _tables(conn: sa.Connection, schema: str) -> list[str]:
    found = conn.execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"), {"s": schema}
    )
    return list(found.scalars())


def _fingerprint(conn: sa.Connection, schema: str) -> str:
    """What a test could change of a schema's shape: a relation created or dropped changes the
    count or the highest oid, a column added or dropped the columns' count, a table rewritten
    (ALTER … TYPE, TRUNCATE) its file node."""
    query = sa.text(
        "SELECT count(*) || '/' || max(c.oid::int8) || '/' || sum(c.relnatts)"
        " || '/' || sum(c.relfilenode::int8)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"
    )
    return str(conn.execute(query, {"s": schema}).scalar_one())


def _pg_dump(server_url: str, schema: str) -> tuple[str, str]:
    """The schema's DDL, and its rows (with its sequences' values)."""
    if shutil.which("pg_dump") is None:
        raise RuntimeError("pg_dump is not installed (apt-get install postgresql-client)")
    libpq_url = sa.make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    parts = []
    common = [f"--dbname={libpq_url}", f"--schema={schema}", "--no-owner", "--no-privileges"]
    for what in (["--schema-only"], ["--data-only", "--inserts"]):
        dumped = subprocess.run(
            ["pg_dump", *common, *what],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        # psql meta-commands (\restrict …) are for psql only; the rest is plain SQL.
        parts.append("\n".join(line for line in dumped.splitlines() if not line.startswith("\\")))
    return parts[0], parts[1]


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"
