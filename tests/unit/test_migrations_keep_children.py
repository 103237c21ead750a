"""Rebuilding a table on SQLite (Alembic's batch mode) must not delete the rows that refer to it.

Batch mode copies a table, DROPs it and renames the copy; with foreign keys on, SQLite's DROP
deletes every row referring to it ON DELETE CASCADE. Migration 0013's downgrade rebuilds
``users``, 0012's ``jobs``: a user's webhooks and memberships, a job's history and its array
tasks would silently go (seen: a downgrade emptied the webhooks table).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.migrate import downgrade, upgrade
from myriagate.db.session import make_engine
from tests.conftest import FakeClock
from tests.fakes import old_rows


def _count(db_url: str, table: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_keep_the_rows_that_refer_to_rebuilt_tables(
    db_url: str, clock: FakeClock
) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            with Session(conn) as session:
                user_id = old_rows.add_user(session, "alice@unicaen.fr", "alice", clock)
            stored = user_id.hex if conn.dialect.name == "sqlite" else user_id
            conn.execute(
                sa.text(
                    "INSERT INTO webhooks (id, user_id, url, secret, description, created_at) "
                    "VALUES (:id, :user, 'https://hooks.example.org/a', 'x', '', :now)"
                ),
                {"id": uuid.uuid4().hex if conn.dialect.name == "sqlite" else uuid.uuid4(), "user": stored,
                 "now": clock.now()},
            )  # fmt: skip
    finally:
        engine.dispose()
    assert _count(db_url, "webhooks") == 1

    downgrade(db_url, "0011")  # rebuilds users (0013) and jobs (0012)
    assert _count(db_url, "webhooks") == 1
    assert _count(db_url, "users") == 1
    upgrade(db_url)
    assert _count(db_url, "webhooks") == 1
