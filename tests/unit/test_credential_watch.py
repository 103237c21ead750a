"""CredentialWatch: the logins of disabled users are forgotten once each, in every process."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from myriagate.services.people.credentials import CredentialWatch
from tests.conftest import FakeClock, make_user


def _disable(session: Session, *users: object, active: bool = False) -> None:
    for user in users:
        user.is_active = active  # type: ignore[attr-defined]
    session.commit()


def test_disabled_logins_are_forgotten_once_and_shared_logins_kept(
    session_factory: sessionmaker[Session], session: Session, clock: FakeClock
) -> None:
    """Catalog S19."""
    alice = make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)
    bob = make_user(session, "bob@univ-rouen.fr", "bob", ["rouen-chimie"], clock)
    # Two gateway users sharing one cluster login: disabling one must not cut the other.
    make_user(session, "carol@unicaen.fr", "carol", ["caen-climat"], clock)
    carol_too = make_user(session, "carol2@unicaen.fr", "carol", ["caen-bio"], clock)
    forgotten: list[str] = []
    watch = CredentialWatch(session_factory, forgotten.append, interval_s=60)

    assert watch.check() == set()
    _disable(session, alice, carol_too)
    assert watch.check() == {"alice"}
    assert watch.check() == set()  # once per disabling, not at every look
    _disable(session, bob)
    assert watch.check() == {"bob"}
    _disable(session, alice, active=True)
    assert watch.check() == set()
    _disable(session, alice)
    assert watch.check() == {"alice"}  # disabled again: forgotten again
    assert forgotten == ["alice", "bob", "alice"]


def test_the_watch_looks_on_its_own_and_survives_a_failing_look(
    session_factory: sessionmaker[Session], session: Session, clock: FakeClock
) -> None:
    alice = make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)
    calls: list[str] = []

    def forget(login: str) -> int:
        calls.append(login)
        if len(calls) == 1:
            raise RuntimeError("a pool that failed to close")
        return 1

    watch = CredentialWatch(session_factory, forget, interval_s=0.05)
    watch.start()
    try:
        _disable(session, alice)
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls[0] == "alice"
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert calls[:2] == ["alice", "alice"]  # the failed forget was tried again
        time.sleep(0.2)
        assert len(calls) == 2  # and then not again
    finally:
        watch.stop()
