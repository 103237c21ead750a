"""Run the Alembic migrations shipped inside the package; no alembic.ini is needed."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config

from myriagate.state_permissions import create_private_file, sqlite_file

MIGRATIONS = files("myriagate.db") / "migrations"


def alembic_config(database_url: str, secret_key: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations and at ``database_url``.

    ``secret_key`` is what migrations that encrypt stored secrets (0009) derive their key
    from; without it they read ``MYRIAGATE_SECRET_KEY`` from the settings, when they need it.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not a main option, so '%' in a password needs no escaping.
    config.attributes["database_url"] = database_url
    if secret_key is not None:
        config.attributes["secret_key"] = secret_key
    return config


def upgrade(database_url: str, revision: str = "head", *, secret_key: str | None = None) -> None:
    """Bring the database at ``database_url`` up to ``revision`` (idempotent).

    A SQLite file that does not exist yet is created 0600 first, whatever the umask.
    """
    database = sqlite_file(database_url)
    if database is not None:
        create_private_file(database)
    command.upgrade(alembic_config(database_url, secret_key), revision)


def downgrade(database_url: str, revision: str, *, secret_key: str | None = None) -> None:
    command.downgrade(alembic_config(database_url, secret_key), revision)


def current(database_url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from myriagate.db.session import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
