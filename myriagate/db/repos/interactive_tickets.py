"""Interactive sessions' tickets are single-use: each nonce is claimed once, for every process.

A claim is a named lease (``leases``: a name held until an expiry) that is never renewed
nor released: ``interactive-ticket:<nonce>``, inserted once. A second insert of the same
name fails on the primary key, on SQLite and PostgreSQL alike, whichever process tries.
Claims past their expiry are deleted as new ones are made.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from myriagate.db.models.leases import Lease

_PREFIX = "interactive-ticket:"


def claim_once(session: Session, nonce: str, *, now: datetime, until: datetime) -> bool:
    """True the first time ``nonce`` is claimed, False ever after (until ``until`` has passed
    and the claim was swept; the ticket itself expires before). Commits."""
    session.execute(
        sa.delete(Lease).where(Lease.name.startswith(_PREFIX, autoescape=True), Lease.expires_at < now)
    )
    session.commit()
    session.add(Lease(name=f"{_PREFIX}{nonce}", holder="redeemed", expires_at=until))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
