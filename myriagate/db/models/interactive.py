"""Interactive sessions (issue #18): an app (JupyterLab) running as a job, reached through
the gateway's proxy at ``/interactive/<session id>/``.

The job is an ordinary job row (held and charged through the ledger, tracked by the worker);
this row adds what the proxy needs: the app, where its connection file is, and once read, the
host and port it listens on and its secret (sealed: a copy of the database does not open it).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from myriagate.db.base import Base


class InteractiveSession(Base):
    """One interactive session of one user, and its job."""

    __tablename__ = "interactive_sessions"
    __table_args__ = (sa.Index("ix_interactive_sessions_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id"), unique=True)
    app: Mapped[str] = mapped_column(sa.String(64))
    cluster: Mapped[str] = mapped_column(sa.String(64))
    cluster_login: Mapped[str] = mapped_column(sa.String(64))
    # Absolute path of the connection file on the cluster (the login's home, read at start).
    connection_path: Mapped[str] = mapped_column(sa.String(1100))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    port: Mapped[int | None]
    sealed_secret: Mapped[str | None] = mapped_column(sa.Text)
    # The SHA-256 of the app's TLS certificate, from its connection file: the proxy connects
    # to no server that does not hold it (a freed port may be taken by another login).
    tls_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    connected_at: Mapped[datetime | None]
    # The idle timeout the app was started with (None: the app has none); why its connection
    # file was refused, if it was (the owner sees it; the file is the login's to write).
    idle_timeout_s: Mapped[int | None]
    problem: Mapped[str | None] = mapped_column(sa.String(300))
    stop_requested_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
