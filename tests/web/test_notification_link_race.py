"""One confirmation link a minute, even when the requests arrive together.

Each link is a mail to an address nobody has vouched for. The minute was checked on the user
row as the request had read it, then written: ten PUT /me/email sent at once by one account
(curl in parallel, on a live gateway) each passed the check and the gateway mailed nine
different addresses. The check and the write are now one conditional UPDATE.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from myriagate.db.models.users import User
from myriagate.domain.email_verification import verification_key
from myriagate.errors import RateLimited
from myriagate.services.notifications import addresses
from tests.conftest import FakeClock
from tests.fakes.fake_notifications import FakeMailer
from tests.web.conftest import MakeUser

KEY = verification_key("x" * 40)


def _ask(session: Session, user: User, address: str, clock: FakeClock, mailer: FakeMailer) -> object:
    return addresses.request_verification(
        session, user, address, clock=clock, key=KEY, mailer=mailer,
        link_for=lambda token: f"https://myriagate.example/verify?token={token}",
    )  # fmt: skip


def test_a_request_that_read_the_user_before_another_link_went_sends_nothing(
    make_user: MakeUser, web_session_factory: sessionmaker[Session], clock: FakeClock
) -> None:
    user = make_user()
    mailer = FakeMailer()
    with web_session_factory() as first, web_session_factory() as second:
        mine = first.get(User, user.id)
        theirs = second.get(User, user.id)
        assert mine is not None and theirs is not None
        assert _ask(first, mine, "victim1@example.org", clock, mailer) is not None
        # The second request read the row before the first one wrote it.
        set_committed_value(theirs, "email_pending_at", None)
        set_committed_value(theirs, "email_pending", None)
        with pytest.raises(RateLimited, match="wait 61 s"):
            _ask(second, theirs, "victim2@example.org", clock, mailer)

    assert [to for to, _subject, _body in mailer.sent] == ["victim1@example.org"]
    with web_session_factory() as check:
        stored = check.get(User, user.id)
        assert stored is not None and stored.email_pending == "victim1@example.org"


def test_a_minute_later_a_new_link_goes(
    make_user: MakeUser, web_session_factory: sessionmaker[Session], clock: FakeClock
) -> None:
    user = make_user()
    mailer = FakeMailer()
    with web_session_factory() as session:
        me = session.get(User, user.id)
        assert me is not None
        _ask(session, me, "a@example.org", clock, mailer)
        clock.current += timedelta(seconds=30)
        with pytest.raises(RateLimited, match="wait 31 s"):
            _ask(session, me, "b@example.org", clock, mailer)
        clock.current += timedelta(seconds=30)
        assert _ask(session, me, "b@example.org", clock, mailer) is not None
        assert me.email_pending == "b@example.org"
    assert [to for to, _subject, _body in mailer.sent] == ["a@example.org", "b@example.org"]
