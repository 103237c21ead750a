"""Issue #15, "The first command can be run again": demo seeding over a dev database that earlier
use has changed (a grant spent, users changed or added, demo jobs still running) puts the demo
back on its feet, says what it did, and leaves what is not the demo's alone.

The demo jobs go through the real Submission with allocations enforced, on the fake Slurm: the
second submission is what failed with "Insufficient allocation … only 0 core-seconds left".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate import demo
from myriagate.db.models.allocations import Allocation, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.demo import data as demo_data
from myriagate.domain.costs import Cost
from myriagate.domain.states import FINAL_STATES
from myriagate.errors import InsufficientAllocation
from myriagate.profiles.loader import load_profile
from myriagate.profiles.logins import gateway_logins
from myriagate.profiles.models import ClusterProfile
from myriagate.services.people.auth import check_password, set_password
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, Gateway, build_gateway
from tests.conftest import CLUSTER, FakeClock
from tests.db_templates import MigratedTemplates
from tests.fakes.fake_slurm import FakeSlurmBackendFactory

PASSWORD = "myriagate-demo"
HOUR = 3600


@pytest.fixture
def gateway(
    db_url: str, migrated_templates: MigratedTemplates, backends: FakeSlurmBackendFactory, clock: FakeClock
) -> Iterator[Gateway]:
    migrated_templates.clone_into(db_url)
    settings = Settings(
        dev_mode=True, database_url=db_url, default_cluster=CLUSTER, enforce_allocations=True,
        password_hash_cost=4,
    )  # fmt: skip
    engine = make_engine(db_url)

    def fake_slurm(profile: ClusterProfile, settings: Settings) -> FakeSlurmBackendFactory | ClusterBackends:
        return backends if profile.name == CLUSTER else ClusterBackends(profile, settings)

    built = build_gateway(
        settings, backend_factory=fake_slurm, clock=clock, session_factory=make_session_factory(engine)
    )
    yield built
    built.close()
    engine.dispose()


def _seed(gateway: Gateway, session: Session) -> demo.SeedReport:
    return demo.seed(session, cluster=CLUSTER, clock=gateway.clock, ledger=gateway.ledger, password=PASSWORD)


def _allocation(session: Session, account: str) -> Allocation:
    """The project's only allocation: the one the demo seeded."""
    project = projects_repo.get_project(session, CLUSTER, account)
    assert project is not None
    [allocation] = allocations_repo.allocations_of_project(session, project.id)
    session.refresh(allocation)
    return allocation


def _left(session: Session, account: str) -> int:
    a = _allocation(session, account)
    return a.granted_core_seconds - a.held_core_seconds - a.charged_core_seconds


def _spend_all(session: Session, account: str) -> None:
    """What hours spent by earlier runs look like: charged up to the grant (as SQL would)."""
    a = _allocation(session, account)
    a.charged_core_seconds = a.granted_core_seconds - a.held_core_seconds
    session.commit()


def test_seeding_again_tops_up_a_spent_grant_restores_users_and_the_demo_runs(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        first = _seed(gateway, session)
        assert first.fresh
        assert first.summary().startswith("Demo data: new database:")
        running = demo.submit_demo_jobs(session, submission=gateway.submission, cluster=CLUSTER)
        assert all(not job.state.is_final for job in running)

        # Earlier use spent caen-bio: what the issue saw, the demo's second run stops at
        # carol's caen-bio job (alice's and bob's go through and still run).
        _spend_all(session, "caen-bio")
        with pytest.raises(InsufficientAllocation):
            demo.submit_demo_jobs(session, submission=gateway.submission, cluster=CLUSTER)
        session.rollback()
        unfinished = session.scalar(
            sa.select(sa.func.count()).select_from(Job).where(Job.state.not_in(FINAL_STATES))
        )
        assert unfinished is not None and unfinished > len(running)

        # More earlier use: alice renamed with another password, carol out of caen-bio, bob
        # deactivated, and a user of the admins' own.
        alice = users_repo.get_by_username(session, "alice")
        assert alice is not None
        alice.display_name = "Alice M."
        set_password(alice, "another password!", cost=4)
        carol = users_repo.get_by_username(session, "carol")
        assert carol is not None
        carol.memberships = [m for m in carol.memberships if m.slurm_account != "caen-bio"]
        bob = users_repo.get_by_username(session, "bob")
        assert bob is not None
        bob.is_active = False
        eve = users_repo.add(session, username="eve", cluster_login="alice", created_at=gateway.clock.now())
        users_repo.add_membership(session, eve, cluster=CLUSTER, slurm_account="caen-bio")
        session.commit()

        second = _seed(gateway, session)
        assert not second.fresh
        assert second.topped_up["caen-bio"] == 2_000 * HOUR
        assert _left(session, "caen-bio") == 2_000 * HOUR
        # alice's running jobs hold a few minutes of caen-climat: not worth a top-up (< 10 %).
        assert "caen-climat" not in second.topped_up
        assert 9_000 * HOUR < _left(session, "caen-climat") < 10_000 * HOUR
        assert second.restored == {
            "alice": ["password"],
            "bob": ["is active"],
            "carol": ["member of caen-bio"],
        }
        assert second.created_users == [] and second.new_grants == {}
        assert second.unfinished_jobs == unfinished
        line = second.summary()
        assert "\n" not in line
        kept = "Demo data: existing database kept: topped up caen-bio (+2,000 h CPU, back to 2,000 h left); "
        assert line.startswith(kept)
        assert f"{unfinished} job(s) of earlier runs not ended yet" in line

        session.expire_all()
        restored = users_repo.get_by_username(session, "alice")
        assert restored is not None and restored.password_hash is not None
        assert check_password(restored.password_hash, PASSWORD)
        assert restored.display_name == "Alice M."  # what a person changed for themselves stays
        other = users_repo.get_by_username(session, "eve")
        assert other is not None and other.accounts_on(CLUSTER) == ["caen-bio"]  # not the demo's: untouched

        again = demo.submit_demo_jobs(session, submission=gateway.submission, cluster=CLUSTER)
        assert len(again) == len(running)


def test_seeding_twice_in_a_row_changes_nothing_the_second_time(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        _seed(gateway, session)
        entries = session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
        second = _seed(gateway, session)
        assert second.created_users == [] and second.restored == {} and second.quotas_raised == []
        assert second.topped_up == {} and second.new_grants == {} and second.unfinished_jobs == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == entries
        enough = "Demo data: existing database kept: demo grants had enough left (over 90 %)."
        assert second.summary() == enough


def test_a_top_up_past_the_quota_raises_the_institution_quota(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        _seed(gateway, session)
        period = allocations_repo.current_period(session, CLUSTER, gateway.clock.now())
        assert period is not None
        # An admin brought Caen's quota down to what it had granted, then caen-climat was spent.
        granted = allocations_repo.granted_total(session, "unicaen", period.id)
        allocations_repo.set_quota(session, institution="unicaen", period_id=period.id, amount=granted)
        session.commit()
        _spend_all(session, "caen-climat")

        report = _seed(gateway, session)
        assert report.quotas_raised == ["unicaen"]
        assert report.topped_up == {"caen-climat": 10_000 * HOUR}
        quota = allocations_repo.get_quota(session, "unicaen", period.id)
        assert quota is not None and quota.core_seconds == granted.core_seconds + 10_000 * HOUR
        assert "raised the quota of unicaen" in report.summary()


def test_a_period_made_by_hand_later_in_the_year_leaves_the_demo_the_gap_before_it(
    gateway: Gateway, clock: FakeClock
) -> None:
    with gateway.session_factory() as session:
        spring = allocations_repo.create_period(
            session, cluster=CLUSTER, name="spring",
            starts_at=datetime(2026, 3, 1, tzinfo=UTC), ends_at=datetime(2026, 6, 1, tzinfo=UTC),
        )  # fmt: skip
        session.commit()
        assert clock.now() < spring.starts_at.replace(tzinfo=UTC)

        report = _seed(gateway, session)
        assert report.fresh
        period = allocations_repo.current_period(session, CLUSTER, clock.now())
        assert period is not None and period.id != spring.id
        assert period.ends_at.replace(tzinfo=UTC) == datetime(2026, 3, 1, tzinfo=UTC)
        balance = gateway.ledger(session).balance(_allocation(session, "rouen-chimie").id)
        assert balance.remaining == Cost(5_000 * HOUR, 0)


def test_every_demo_person_has_a_personal_cluster_login_never_the_service_login() -> None:
    """Issue #15: diane and admin were seeded with "myriagate", the gateway's service login on
    the dev cluster, so the demo showed them refusals (the gateway acts for nobody as it)."""
    profile = load_profile("devcluster", Settings(dev_mode=True))
    logins = [person.login for person in demo_data.ALL_PEOPLE]
    assert not set(logins) & gateway_logins(profile)
    assert len(set(logins)) == len(logins)  # each person their own
    assert {p.username: p.login for p in demo_data.ALL_PEOPLE} == {
        "alice": "alice", "bob": "bob", "carol": "carol", "diane": "diane", "admin": "admin",
    }  # fmt: skip


def test_seeding_again_gives_the_admins_seeded_with_the_service_login_their_own(gateway: Gateway) -> None:
    with gateway.session_factory() as session:
        _seed(gateway, session)
        for username in ("diane", "admin"):  # as an earlier version of the demo seeded them
            user = users_repo.get_by_username(session, username)
            assert user is not None
            user.cluster_login = "myriagate"
        session.commit()
        again = _seed(gateway, session)
        assert again.restored == {"diane": ["cluster login"], "admin": ["cluster login"]}
        for username in ("diane", "admin"):
            user = users_repo.get_by_username(session, username)
            assert user is not None and user.cluster_login == username
