"""Migrated databases for tests, made by copying one migration run instead of repeating it.

The Alembic migrations run once per test session (once per xdist worker) into a template;
each test then gets a copy: a file copy on SQLite, a replay of the template schema's
``pg_dump`` (DDL plus rows, with the schema renamed) on PostgreSQL. A copy takes a few
milliseconds on SQLite and about a third of a migration run on PostgreSQL. The migration tests
(``tests/unit/test_models_migration.py``, ``test_webhook_secrets_migration.py``) still migrate
empty databases for real on both backends.
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
        self._postgres_token = ""

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
    def _replay_postgres(self, schema: str) -> None:
        if self._postgres_script is None:
            self._postgres_script = self._dump_template()
        engine = sa.create_engine(self._postgres_url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                # A test database need not survive a server crash: no wait for the WAL flush.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                conn.exec_driver_sql(self._postgres_script.replace(self._postgres_token, schema))
        finally:
            engine.dispose()

    def _dump_template(self) -> str:
        """The template schema as SQL, its name a unique token; the schema is dropped after."""
        token = f"mgtmpl_{uuid.uuid4().hex}"
        admin = sa.create_engine(self._postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{token}"'))
            try:
                upgrade(schema_url(self._postgres_url, token))
                script = _pg_dump(self._postgres_url, token)
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{token}" CASCADE'))
        finally:
            admin.dispose()
        self._postgres_token = token
        # The test's schema exists already (db_url made it); the rest is created inside it.
        return script.replace(f"CREATE SCHEMA {token};", "")


def _pg_dump(server_url: str, schema: str) -> str:
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
    return "\n".join(parts)


def new_schema_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"
