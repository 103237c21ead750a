"""The Alembic migrations build exactly the models' schema, and the models keep their promises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.migrate import current, downgrade, upgrade
from myriagate.db.models import Base, Job, User
from myriagate.db.repos import leases
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine
from myriagate.domain.states import JobState
from myriagate.errors import UnsafeValue
from tests.conftest import FakeClock, ensure_project
from tests.fakes.hostile import HOSTILE_STRINGS

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _job(user: User, **overrides: object) -> Job:
    job_id = uuid.uuid4()
    fields: dict[str, object] = {
        "id": job_id,
        "user_id": user.id,
        "cluster": "devcluster",
        "cluster_login": user.cluster_login,
        "tag": f"mg:{job_id}",
        "state": JobState.SUBMITTING,
        "script_text": "#!/bin/bash\necho hi\n",
        "sbatch_args": ["--partition=court"],
        "spec": {"partition": "court"},
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(overrides)
    return Job(**fields)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from myriagate.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_migrations_build_exactly_the_models_schema(db_url: str) -> None:
    upgrade(db_url)
    assert current(db_url) == head_revision()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    expected = {"users", "memberships", "jobs", "job_state_changes", "audit_events", "leases"}
    assert expected | {"institutions", "projects"} <= tables


def test_upgrade_is_idempotent_and_downgrade_removes_everything(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    assert current(db_url) == head_revision()
    downgrade(db_url, "base")
    assert current(db_url) is None
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_datetimes_come_back_aware_utc(session: Session, alice: User) -> None:
    paris = timezone(timedelta(hours=1))
    job = _job(alice, created_at=datetime(2026, 1, 5, 10, 30, tzinfo=paris))
    session.add(job)
    session.commit()
    session.expunge_all()
    loaded = session.get(Job, job.id)
    assert loaded is not None
    assert loaded.created_at == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert loaded.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session: Session, alice: User) -> None:
    session.add(_job(alice, created_at=datetime(2026, 1, 5, 10, 30)))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.commit()


def test_datetime_comparisons_follow_time_not_text(session: Session, alice: User) -> None:
    # 09:30+01:00 is 08:30 UTC, earlier than 09:00 UTC although its text sorts later.
    early = _job(alice, created_at=datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=1))))
    late = _job(alice, created_at=T0)
    session.add_all([early, late])
    session.commit()
    before = session.scalars(sa.select(Job.id).where(Job.created_at < T0)).all()
    assert before == [early.id]


def test_enums_are_stored_as_their_lowercase_value(session: Session, alice: User) -> None:
    job = _job(alice, state=JobState.OUT_OF_MEMORY)
    session.add(job)
    session.commit()
    raw = session.execute(sa.text("SELECT state FROM jobs WHERE tag = :tag"), {"tag": job.tag}).scalar_one()
    assert raw == "out_of_memory"


def test_json_columns_round_trip(session: Session, alice: User) -> None:
    args = ["--job-name=a b;$(x)", "--time=01:00:00"]
    job = _job(alice, sbatch_args=args, spec={"gres": [{"name": "gpu"}]})
    session.add(job)
    session.commit()
    session.expunge_all()
    loaded = session.get(Job, job.id)
    assert loaded is not None
    assert loaded.sbatch_args == args
    assert loaded.spec == {"gres": [{"name": "gpu"}]}


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS[:8])
def test_hostile_cluster_logins_are_refused(session: Session, hostile: str, clock: FakeClock) -> None:
    with pytest.raises(UnsafeValue):
        users_repo.add(session, username="mallory", cluster_login=hostile, created_at=clock.now())


def test_tags_are_unique(session: Session, alice: User) -> None:
    first = _job(alice)
    session.add_all([first, _job(alice, tag=first.tag)])
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_slurm_job_ids_are_unique_per_cluster_only(session: Session, alice: User) -> None:
    session.add_all([_job(alice, slurm_job_id="1000"), _job(alice, slurm_job_id="1000", cluster="myria")])
    session.commit()
    session.add(_job(alice, slurm_job_id="1000"))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_a_membership_is_unique(session: Session, alice: User, clock: FakeClock) -> None:
    ensure_project(session, "caen-bio", clock)
    users_repo.add_membership(session, alice, cluster="devcluster", slurm_account="caen-bio")
    session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        users_repo.add_membership(session, alice, cluster="devcluster", slurm_account="caen-bio")


def test_foreign_keys_are_enforced(session: Session) -> None:
    ghost = User(id=uuid.uuid4(), username="ghost", cluster_login="ghost", created_at=T0)
    session.add(_job(ghost))
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert session.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
    assert session.execute(sa.text("PRAGMA busy_timeout")).scalar_one() >= 5000
    assert session.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1


def test_a_lease_has_one_holder_until_it_expires(session_factory: sessionmaker[Session]) -> None:
    ttl = timedelta(seconds=30)
    with session_factory() as s:
        assert leases.acquire(s, "poll:devcluster", "a", now=T0, ttl=ttl)
        assert leases.acquire(s, "poll:devcluster", "a", now=T0 + timedelta(seconds=10), ttl=ttl)  # renewal
        assert not leases.acquire(s, "poll:devcluster", "b", now=T0 + timedelta(seconds=39), ttl=ttl)
        assert leases.holder_of(s, "poll:devcluster", now=T0 + timedelta(seconds=39)) == "a"
        assert leases.acquire(s, "poll:devcluster", "b", now=T0 + timedelta(seconds=41), ttl=ttl)
        assert not leases.acquire(s, "poll:devcluster", "a", now=T0 + timedelta(seconds=42), ttl=ttl)
        assert leases.acquire(s, "poll:other", "a", now=T0, ttl=ttl)  # leases are independent


def test_a_released_lease_is_free_at_once(session_factory: sessionmaker[Session]) -> None:
    ttl = timedelta(seconds=30)
    with session_factory() as s:
        assert leases.acquire(s, "poll:devcluster", "a", now=T0, ttl=ttl)
        assert not leases.release(s, "poll:devcluster", "b")  # not b's to release
        assert leases.release(s, "poll:devcluster", "a")
        assert leases.acquire(s, "poll:devcluster", "b", now=T0, ttl=ttl)
