"""Leases: a row that one holder owns until an expiry, taken by one conditional UPDATE.

Two tables carry leases. ``leases`` holds named ones (``poll:<cluster>``,
``settle:<cluster>``…), made on first use; ``job_staging`` carries the claim on one job's
transfer (``claimed_by``/``claimed_until``) on a row that exists already. Both are described
by a ``LeaseTable`` and go through the same statements:

- acquire: ``UPDATE … SET holder=:me, expires=:until WHERE key=:k AND (holder=:me OR expires
  IS NULL OR expires < :now)`` checked by rowcount, plus, for named leases, ``INSERT … ON
  CONFLICT DO NOTHING RETURNING key`` the very first time;
- renew: the same UPDATE limited to ``holder=:me``;
- release: the row is deleted (named leases) or its holder and expiry cleared (claims), only
  when ``holder=:me``.

Each is a single statement the database serialises, so a lease holds across threads and
processes on SQLite and PostgreSQL alike. Each call commits: a lease must be visible to the
other workers at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from myriagate.db.models.leases import Lease
from myriagate.db.models.staging import JobStaging

LeaseKey = str | uuid.UUID


@dataclass(frozen=True)
class LeaseTable:
    """Where one kind of lease lives: its table and the key, holder and expiry columns."""

    table: sa.Table
    key: str
    holder: str
    expires: str
    # Named leases are made on first use; a claim lies on a row that must exist already.
    create: bool

    @property
    def key_c(self) -> sa.Column[object]:
        return cast("sa.Column[object]", self.table.c[self.key])

    @property
    def holder_c(self) -> sa.Column[str | None]:
        return cast("sa.Column[str | None]", self.table.c[self.holder])

    @property
    def expires_c(self) -> sa.Column[datetime | None]:
        return cast("sa.Column[datetime | None]", self.table.c[self.expires])


NAMED = LeaseTable(cast(sa.Table, Lease.__table__), "name", "holder", "expires_at", create=True)
STAGING_CLAIMS = LeaseTable(
    cast(sa.Table, JobStaging.__table__), "job_id", "claimed_by", "claimed_until", create=False
)


def acquire(
    session: Session, key: LeaseKey, holder: str, *, now: datetime, ttl: timedelta, table: LeaseTable = NAMED
) -> bool:
    """Take or renew the lease ``key`` for ``holder`` until ``now + ttl``; True when held."""
    until = now + ttl
    free = sa.or_(table.holder_c == holder, table.expires_c.is_(None), table.expires_c < now)
    updated = session.execute(
        sa.update(table.table)
        .where(table.key_c == key, free)
        .values({table.holder: holder, table.expires: until})
    )
    # rowcount is read before commit: some drivers (psycopg) reset it with the cursor.
    if updated.rowcount == 1:  # type: ignore[attr-defined]
        session.commit()
        return True
    if not table.create:
        session.commit()
        return False
    # INSERT rowcounts are unreliable across drivers; RETURNING says whether the row went in.
    inserted = session.execute(_insert_if_absent(session, table, key, holder, until)).scalar_one_or_none()
    session.commit()
    return inserted is not None


def renew(
    session: Session, key: LeaseKey, holder: str, *, now: datetime, ttl: timedelta, table: LeaseTable = NAMED
) -> bool:
    """Move the expiry of ``holder``'s lease to ``now + ttl``; False when it is not ``holder``'s."""
    mine = sa.and_(table.key_c == key, table.holder_c == holder)
    updated = session.execute(sa.update(table.table).where(mine).values({table.expires: now + ttl}))
    renewed = bool(updated.rowcount == 1)  # type: ignore[attr-defined]
    session.commit()
    return renewed


def release(session: Session, key: LeaseKey, holder: str, *, table: LeaseTable = NAMED) -> bool:
    """Give the lease up now (only if ``holder`` has it), so another worker takes over at once."""
    mine = sa.and_(table.key_c == key, table.holder_c == holder)
    if table.create:
        done = session.execute(sa.delete(table.table).where(mine))
    else:
        cleared = {table.holder: None, table.expires: None}
        done = session.execute(sa.update(table.table).where(mine).values(cleared))
    released = bool(done.rowcount == 1)  # type: ignore[attr-defined]
    session.commit()
    return released


def holder_of(session: Session, key: LeaseKey, *, now: datetime, table: LeaseTable = NAMED) -> str | None:
    """Who holds the lease right now (None when free or expired)."""
    query = sa.select(table.holder_c, table.expires_c).where(table.key_c == key)
    row = session.execute(query).one_or_none()
    if row is None:
        return None
    holder, expires = row
    if holder is None or expires is None or expires < now:
        return None
    return holder


def _insert_if_absent(
    session: Session, table: LeaseTable, key: LeaseKey, holder: str, until: datetime
) -> sa.Executable:
    values = {table.key: key, table.holder: holder, table.expires: until}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table.table).values(**values)
        return pg.on_conflict_do_nothing(index_elements=[table.key]).returning(table.key_c)
    if dialect == "sqlite":
        lite = sqlite.insert(table.table).values(**values)
        return lite.on_conflict_do_nothing(index_elements=[table.key]).returning(table.key_c)
    raise NotImplementedError(f"leases are not implemented for {dialect}")
