"""Migration 0019 gives projects a suspension (``suspended_at``, ``suspended_by``,
``suspension_reason``): projects written before it are not suspended; downgrade drops the
columns and keeps the projects. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from myriagate.db.migrate import downgrade, upgrade
from myriagate.db.session import make_engine

COLUMNS = {"suspended_at", "suspended_by", "suspension_reason"}
_PROJECTS = sa.table(
    "projects",
    sa.column("id", sa.Uuid()),
    sa.column("cluster", sa.String()),
    sa.column("slurm_account", sa.String()),
    sa.column("institution", sa.String()),
    sa.column("name", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _columns(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in sa.inspect(conn).get_columns("projects")}


def test_0019_adds_the_suspension_to_existing_projects_and_downgrade_drops_it(db_url: str) -> None:
    upgrade(db_url, "0018")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO institutions (code, name) VALUES ('unicaen', 'Caen')"))
            when = datetime(2026, 1, 1, tzinfo=UTC)
            project = {"id": uuid.uuid4(), "cluster": "devcluster", "slurm_account": "caen-x",
                       "institution": "unicaen", "name": "X", "created_at": when}  # fmt: skip
            conn.execute(_PROJECTS.insert().values(**project))
        assert not COLUMNS & _columns(engine)
        upgrade(db_url, "0019")
        assert _columns(engine) >= COLUMNS
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT slurm_account, suspended_at, suspended_by, suspension_reason FROM projects")
            ).one()
        assert tuple(row) == ("caen-x", None, None, None)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE projects SET suspended_by = 'root', suspension_reason = 'misuse'"))
        downgrade(db_url, "0018")
        assert not COLUMNS & _columns(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT slurm_account FROM projects")).scalars().all() == ["caen-x"]
        upgrade(db_url)
        assert _columns(engine) >= COLUMNS
    finally:
        engine.dispose()
