"""services.people.auth: passwords, personal tokens, web sessions, proxy-asserted identities."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.models.auth import ApiToken, WebSession
from myriagate.db.models.users import User
from myriagate.errors import InvalidRequest, NotAuthenticated, NotFound
from myriagate.services.people import auth
from tests.conftest import FakeClock

PASSWORD = "a long enough passphrase"  # test value


@pytest.fixture
def local_user(session: Session, alice: User) -> User:
    auth.set_password(alice, PASSWORD)
    session.commit()
    return alice


# --- passwords -------------------------------------------------------------------------
def test_password_hash_is_salted_scrypt_and_checks() -> None:
    first, second = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert re.fullmatch(r"scrypt\$16384\$8\$1\$[0-9a-f]{32}\$[0-9a-f]{128}", first)
    assert first != second  # a fresh salt each time
    assert auth.check_password(first, PASSWORD)
    assert not auth.check_password(first, PASSWORD + "x")
    assert not auth.check_password("garbage", PASSWORD)


def test_short_password_is_refused(alice: User) -> None:
    with pytest.raises(InvalidRequest, match="12 characters"):
        auth.set_password(alice, "short")
    assert alice.password_hash is None


def test_right_password_authenticates(session: Session, local_user: User) -> None:
    assert auth.authenticate_password(session, local_user.username, PASSWORD).id == local_user.id


def _failure(call: Callable[[], object]) -> str:
    with pytest.raises(NotAuthenticated) as info:
        call()
    return info.value.detail


def test_every_password_failure_looks_the_same(session: Session, local_user: User, bob: User) -> None:
    wrong = _failure(lambda: auth.authenticate_password(session, local_user.username, "not the password!"))
    unknown = _failure(lambda: auth.authenticate_password(session, "nobody@nowhere.fr", PASSWORD))
    sso_only = _failure(lambda: auth.authenticate_password(session, bob.username, PASSWORD))
    local_user.is_active = False
    session.commit()
    disabled = _failure(lambda: auth.authenticate_password(session, local_user.username, PASSWORD))
    assert wrong == unknown == sso_only == disabled == "wrong username or password"


def test_unknown_user_costs_as_much_as_a_wrong_password(session: Session, local_user: User) -> None:
    def timed(username: str) -> float:
        started = time.perf_counter()
        with pytest.raises(NotAuthenticated):
            auth.authenticate_password(session, username, "not the password!")
        return time.perf_counter() - started

    timed("warm-up@nowhere.fr")  # the dummy hash is built on first use
    wrong = statistics.median(timed(local_user.username) for _ in range(5))
    unknown = statistics.median(timed("nobody@nowhere.fr") for _ in range(5))
    # Without the dummy scrypt an unknown user answers ~100x faster; allow for a noisy machine.
    assert unknown > wrong / 3


# --- tokens ----------------------------------------------------------------------------
def test_token_is_shown_once_and_stored_hashed(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_token(session, alice, name="laptop", clock=clock)
    assert re.fullmatch(r"mgt_[A-Za-z0-9_-]{43}", new.secret)
    assert new.token.prefix == new.secret[4:12]
    assert new.token.expires_at == clock.now() + timedelta(days=90)
    stored = session.execute(sa.select(ApiToken.__table__)).mappings().one()
    assert new.secret not in {str(v) for v in stored.values()}
    assert auth.authenticate_token(session, new.secret, clock=clock).id == alice.id


def test_token_expires(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_token(session, alice, name="ci", expires_in_days=1, clock=clock)
    clock.advance(86400 - 1)
    assert auth.authenticate_token(session, new.secret, clock=clock).id == alice.id
    clock.advance(1)
    with pytest.raises(NotAuthenticated, match="expired"):
        auth.authenticate_token(session, new.secret, clock=clock)


def test_token_lifetime_is_capped(session: Session, alice: User, clock: FakeClock) -> None:
    with pytest.raises(InvalidRequest, match="between 1 and 30 days") as info:
        auth.create_token(session, alice, name="x", expires_in_days=31, max_days=30, clock=clock)
    assert info.value.fields[0].loc == ("body", "expires_in_days")


@pytest.mark.parametrize("secret", ["", "mgt_", "mgt_" + "A" * 43, "ghp_abcdef", "mgt_' OR 1=1 --"])
def test_unknown_tokens_are_refused(session: Session, alice: User, clock: FakeClock, secret: str) -> None:
    auth.create_token(session, alice, name="real", clock=clock)
    with pytest.raises(NotAuthenticated):
        auth.authenticate_token(session, secret, clock=clock)


def test_revoke_is_idempotent_and_owner_only(
    session: Session, alice: User, bob: User, clock: FakeClock
) -> None:
    new = auth.create_token(session, alice, name="laptop", clock=clock)
    with pytest.raises(NotFound):
        auth.revoke_token(session, bob, new.token.id, clock=clock)
    assert auth.authenticate_token(session, new.secret, clock=clock).id == alice.id  # still valid
    auth.revoke_token(session, alice, new.token.id, clock=clock)
    revoked_at = new.token.revoked_at
    clock.advance(60)
    auth.revoke_token(session, alice, new.token.id, clock=clock)
    assert new.token.revoked_at == revoked_at
    with pytest.raises(NotAuthenticated, match="revoked"):
        auth.authenticate_token(session, new.secret, clock=clock)
    with pytest.raises(NotFound):
        auth.revoke_token(session, alice, uuid.uuid4(), clock=clock)


def test_token_of_disabled_user_is_refused(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_token(session, alice, name="laptop", clock=clock)
    alice.is_active = False
    session.commit()
    with pytest.raises(NotAuthenticated, match="disabled"):
        auth.authenticate_token(session, new.secret, clock=clock)


def test_last_used_is_written_at_most_once_a_minute(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_token(session, alice, name="laptop", clock=clock)
    first_use = clock.now()
    auth.authenticate_token(session, new.secret, clock=clock)

    def last_used() -> object:
        session.expire_all()
        return session.get(ApiToken, new.token.id).last_used_at  # type: ignore[union-attr]

    assert last_used() == first_use
    clock.advance(30)
    auth.authenticate_token(session, new.secret, clock=clock)
    assert last_used() == first_use
    clock.advance(31)
    auth.authenticate_token(session, new.secret, clock=clock)
    assert last_used() == clock.now()


def test_list_tokens_is_per_user(session: Session, alice: User, bob: User, clock: FakeClock) -> None:
    auth.create_token(session, alice, name="one", clock=clock)
    clock.advance(1)
    auth.create_token(session, alice, name="two", clock=clock)
    auth.create_token(session, bob, name="bob's", clock=clock)
    assert [t.name for t in auth.list_tokens(session, alice)] == ["two", "one"]


# --- web sessions ----------------------------------------------------------------------
def test_web_session_lifecycle(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_web_session(session, alice, ttl_s=3600, clock=clock)
    assert session.scalars(sa.select(WebSession.id_hash)).one() != new.cookie_value
    found = auth.authenticate_web_session(session, new.cookie_value, clock=clock)
    assert found.user.id == alice.id
    auth.check_csrf(found, new.csrf_token)
    for wrong in (None, "", new.csrf_token[:-1], new.csrf_token + "x"):
        with pytest.raises(auth.CsrfRejected):
            auth.check_csrf(found, wrong)
    auth.end_web_session(session, new.cookie_value)
    with pytest.raises(NotAuthenticated):
        auth.authenticate_web_session(session, new.cookie_value, clock=clock)


def test_web_session_expires_and_is_swept(session: Session, alice: User, clock: FakeClock) -> None:
    new = auth.create_web_session(session, alice, ttl_s=3600, clock=clock)
    clock.advance(3600)
    with pytest.raises(NotAuthenticated, match="expired"):
        auth.authenticate_web_session(session, new.cookie_value, clock=clock)
    assert session.scalars(sa.select(WebSession)).all() == []


# --- trusted proxy -----------------------------------------------------------------------
def test_remote_user_must_exist_and_be_active(session: Session, alice: User) -> None:
    assert auth.authenticate_remote_user(session, alice.username).id == alice.id
    with pytest.raises(NotAuthenticated, match="no myriagate account"):
        auth.authenticate_remote_user(session, "stranger@unicaen.fr")
    alice.is_active = False
    session.commit()
    with pytest.raises(NotAuthenticated, match="disabled"):
        auth.authenticate_remote_user(session, alice.username)
