"""The tests' PostgreSQL copies are recycled (tests/db_templates.py): a copy handed to the next
test must be exactly the template again, and a copy whose tables a test changed is never reused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.conftest import POSTGRES_URL
from tests.db_templates import MigratedTemplates, new_schema_name, schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def templates(tmp_path: Path) -> Iterator[MigratedTemplates]:
    made = MigratedTemplates(tmp_path, POSTGRES_URL)
    yield made
    made.close()


@pytest.fixture
def admin() -> Iterator[sa.Engine]:
    engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    yield engine
    engine.dispose()


def _fresh(admin: sa.Engine, templates: MigratedTemplates) -> str:
    schema = new_schema_name()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    templates.clone_into(schema_url(POSTGRES_URL, schema))
    return schema


def _in(schema: str) -> sa.Engine:
    return sa.create_engine(
        schema_url(POSTGRES_URL, schema), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def _state(schema: str) -> tuple[int, int, int]:
    with _in(schema).connect() as conn:
        institutions = conn.execute(sa.text("SELECT count(*) FROM institutions")).scalar_one()
        versions = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one()
        next_id = conn.execute(sa.text("SELECT nextval('ledger_entries_id_seq')")).scalar_one()
    return institutions, versions, next_id


def test_a_recycled_copy_is_the_template_again(admin: sa.Engine, templates: MigratedTemplates) -> None:
    first = _fresh(admin, templates)
    pristine = _state(first)
    with _in(first).connect() as conn:
        conn.execute(sa.text("INSERT INTO institutions (code, name) VALUES ('x', 'X')"))
        conn.execute(sa.text("SELECT setval('ledger_entries_id_seq', 500)"))
    assert templates.release_postgres(first)
    second = _fresh(admin, templates)  # takes the recycled copy under its own name
    with admin.connect() as conn:
        names = set(conn.execute(sa.text("SELECT nspname FROM pg_namespace")).scalars())
    assert second in names and first not in names
    assert _state(second) == pristine
    assert templates.release_postgres(second)


def test_a_copy_whose_tables_a_test_changed_is_not_reused(
    admin: sa.Engine, templates: MigratedTemplates
) -> None:
    schema = _fresh(admin, templates)
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER TABLE "{schema}".institutions ADD COLUMN surprise integer'))
    assert not templates.release_postgres(schema)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_a_schema_not_made_from_the_template_is_not_reused(
    admin: sa.Engine, templates: MigratedTemplates
) -> None:
    schema = new_schema_name()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    assert not templates.release_postgres(schema)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
