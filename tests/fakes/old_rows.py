"""Rows written as an old schema revision holds them, for migration tests.

The ORM models describe the head revision: a test that stops at an older one and adds a
user through them names columns that revision does not have yet. These helpers write through
the table the database has now (reflected), so they keep working as the models grow.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import FakeClock


def add_user(
    session: Session, username: str, login: str, clock: FakeClock, *, institution: str | None = None
) -> uuid.UUID:
    """A user row with the columns every revision has (and ``institution`` where it exists)."""
    users = sa.Table("users", sa.MetaData(), autoload_with=session.connection())
    user_id = uuid.uuid4()
    # Reflected, the id column is the storage type: 32 hex digits on SQLite, a UUID elsewhere.
    stored_id: object = user_id.hex if session.get_bind().dialect.name == "sqlite" else user_id
    values = {"id": stored_id, "username": username, "display_name": "", "cluster_login": login,
              "is_active": True, "is_platform_admin": False, "institution": institution,
              "created_at": clock.now()}  # fmt: skip
    session.execute(users.insert().values({k: v for k, v in values.items() if k in users.c}))
    return user_id


def add_project(
    session: Session, *, cluster: str, slurm_account: str, institution: str, clock: FakeClock
) -> None:
    """A project row with the columns every revision since 0001 has (later ones add some)."""
    projects = sa.Table("projects", sa.MetaData(), autoload_with=session.connection())
    project_id = uuid.uuid4()
    stored_id: object = project_id.hex if session.get_bind().dialect.name == "sqlite" else project_id
    values = {"id": stored_id, "cluster": cluster, "slurm_account": slurm_account,
              "institution": institution, "name": "", "created_at": clock.now()}  # fmt: skip
    session.execute(projects.insert().values({k: v for k, v in values.items() if k in projects.c}))
