"""Named leases taken by one conditional UPDATE, so two workers never hold one at once.

Acquiring is ``UPDATE leases SET holder=:me, expires_at=:until WHERE name=:n AND
(holder=:me OR expires_at < :now)`` checked by rowcount, plus ``INSERT … ON CONFLICT DO
NOTHING RETURNING name`` the very first time. Both are single statements the database serialises, so this
holds across threads and processes on SQLite and PostgreSQL alike. Each call commits: a
lease must be visible to the other workers at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from myriagate.db.models.leases import Lease

_LEASES = cast(sa.Table, Lease.__table__)


def acquire(session: Session, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; True when held."""
    until = now + ttl
    updated = session.execute(
        sa.update(_LEASES)
        .where(
            _LEASES.c.name == name,
            sa.or_(_LEASES.c.holder == holder, _LEASES.c.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
    )
    # rowcount is read before commit: some drivers (psycopg) reset it with the cursor.
    if updated.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    # INSERT rowcounts are unreliable across drivers; RETURNING says whether the row went in.
    inserted = session.execute(_insert_if_absent(session, name, holder, until)).scalar_one_or_none()
    session.commit()
    return inserted is not None


def release(session: Session, name: str, holder: str) -> bool:
    """Give the lease up now (only if ``holder`` has it), so another worker takes over at once."""
    deleted = session.execute(sa.delete(_LEASES).where(_LEASES.c.name == name, _LEASES.c.holder == holder))
    released = bool(deleted.rowcount == 1)  # type: ignore[attr-defined]
    session.commit()
    return released


def holder_of(session: Session, name: str, *, now: datetime) -> str | None:
    """Who holds the lease right now (None when free or expired)."""
    row = session.execute(
        sa.select(_LEASES.c.holder, _LEASES.c.expires_at).where(_LEASES.c.name == name)
    ).one_or_none()
    if row is None or row.expires_at < now:
        return None
    return str(row.holder)


def _insert_if_absent(session: Session, name: str, holder: str, until: datetime) -> sa.Executable:
    values = {"name": name, "holder": holder, "expires_at": until}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(_LEASES).values(**values).on_conflict_do_nothing(index_elements=["name"])
        return pg.returning(_LEASES.c.name)
    if dialect == "sqlite":
        lite = sqlite.insert(_LEASES).values(**values).on_conflict_do_nothing(index_elements=["name"])
        return lite.returning(_LEASES.c.name)
    raise NotImplementedError(f"leases are not implemented for {dialect}")
