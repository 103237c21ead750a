"""Credentials live no longer than they should: a disabled user's SSH connections are closed.

The gateway logs in to clusters and storage as a researcher's login with a short-lived
certificate and keeps the connection open for reuse (SSH pools, OpenSSH masters). sshd checks
a certificate only at login, so an open connection outlives both the certificate (the runners
close it when the certificate expires) and the user's right to it. When a user is disabled,
every process of the gateway (each API process, the worker) must close that login's
connections: ``CredentialWatch`` looks for newly disabled users every ``interval_s`` and calls
``forget(login)`` (``wiring.Gateway.forget_login``: pools, masters and cached certificates).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from sqlalchemy.orm import Session

from myriagate.db.repos import users as users_repo

log = structlog.get_logger(__name__)


class CredentialWatch:
    """A daemon thread forgetting the logins of users disabled since it last looked."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        forget: Callable[[str], object],
        interval_s: float,
    ) -> None:
        self._session_factory = session_factory
        self._forget = forget
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._known: set[str] = set()  # disabled logins already forgotten
        self._thread = threading.Thread(target=self._run, name="credential-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> set[str]:
        """One look: forget the logins disabled since the last one; returns them."""
        with self._session_factory() as session:
            disabled = users_repo.disabled_logins(session)
        # The first look forgets every disabled login: this process may have connected as one
        # before it started watching. Later looks only the new ones; a login re-enabled drops
        # out of the set, so disabling it again forgets it again.
        done = self._known & disabled
        fresh: set[str] = set()
        for login in sorted(disabled - done):
            try:
                closed = self._forget(login)
            except Exception:  # tried again at the next look
                log.exception("credentials.forget_failed", login=login)
                continue
            done.add(login)
            fresh.add(login)
            log.info("credentials.forgotten", login=login, closed=closed)
        self._known = done
        return fresh

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.check()
            except Exception:  # a database hiccup: look again next time
                log.exception("credentials.check_failed")
