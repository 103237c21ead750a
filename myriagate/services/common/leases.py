"""One way to hold a lease or a claim: ``Lease`` (acquire, renew, release) and ``holder_id()``.

Every task that must run in one worker at a time goes through here: polling a cluster
(``poll:<cluster>``), settling it (``settle:<cluster>``), the sweep's rate limit
(``sweep:<cluster>``), the balance watch, and the claim on one job's transfer. A lease has a
holder and an expiry; once it has expired any other holder may take it over (a worker that
died gives its work up after the TTL). The statements, and why they are safe on SQLite and
PostgreSQL across processes, are in ``myriagate.db.repos.leases``.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from myriagate.db.repos import leases as repo
from myriagate.db.repos.leases import NAMED, STAGING_CLAIMS, LeaseKey, LeaseTable
from myriagate.ports import Clock


def holder_id() -> str:
    """Who holds a lease or claim: host, process and a random part (two holders in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lease:
    """The lease ``key`` as ``holder`` sees it; each call commits on the session it is given."""

    key: LeaseKey
    holder: str
    ttl: timedelta
    clock: Clock
    table: LeaseTable = NAMED

    @classmethod
    def named(cls, name: str, *, holder: str, ttl_s: float, clock: Clock) -> Lease:
        """A named lease on the ``leases`` table (made on first use)."""
        return cls(name, holder, timedelta(seconds=ttl_s), clock)

    @classmethod
    def staging_claim(cls, job_id: uuid.UUID, *, holder: str, ttl_s: float, clock: Clock) -> Lease:
        """The claim on one job's transfer, on its ``job_staging`` row."""
        return cls(job_id, holder, timedelta(seconds=ttl_s), clock, STAGING_CLAIMS)

    def acquire(self, session: Session, *, ttl: timedelta | None = None) -> bool:
        """Take it, or extend it when already held, until now + ``ttl``; True when held."""
        return repo.acquire(
            session, self.key, self.holder, now=self.clock.now(), ttl=ttl or self.ttl, table=self.table
        )

    def renew(self, session: Session, *, ttl: timedelta | None = None) -> bool:
        """Extend it if still held (never takes it over); False when it was lost."""
        return repo.renew(
            session, self.key, self.holder, now=self.clock.now(), ttl=ttl or self.ttl, table=self.table
        )

    def release(self, session: Session) -> bool:
        """Give it up at once so another worker can take over; False when it was not held."""
        return repo.release(session, self.key, self.holder, table=self.table)

    def current_holder(self, session: Session) -> str | None:
        """Who holds it right now (None when free or expired)."""
        return repo.holder_of(session, self.key, now=self.clock.now(), table=self.table)
