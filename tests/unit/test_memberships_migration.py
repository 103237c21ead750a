"""Migration 0010 turns memberships' (cluster, account) into a reference to their project.

Memberships written before it keep their user, role, cluster and account; an account no
project described gets its project (under its members' home institution, or ``unassigned``);
downgrade writes the two columns back. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from myriagate.db.migrate import downgrade, upgrade
from myriagate.db.models.users import Institution, Membership, Project
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from tests.conftest import FakeClock
from tests.fakes import old_rows

# The memberships table as 0001 made it and 0009 left it.
_OLD_MEMBERSHIPS = sa.table(
    "memberships",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("cluster", sa.String()),
    sa.column("slurm_account", sa.String()),
    sa.column("role", sa.String()),
)

Row = tuple[str, str, str, str]  # username, cluster, account, role


def _seed_0009(session: Session, clock: FakeClock) -> set[Row]:
    """Users of a known, an unknown and no institution, one registered project, and memberships
    of it and of accounts no project describes (one shared by members of two institutions)."""
    projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
    # Not through the Project model: it has the columns of later revisions (0019's suspension).
    old_rows.add_project(
        session, cluster="devcluster", slurm_account="caen-climat", institution="unicaen", clock=clock
    )
    homes = {"alice": "unicaen", "bob": "univ-rouen", "carol": "unicaen", "dave": None}
    ids: dict[str, uuid.UUID] = {}
    for login, home in homes.items():
        ids[login] = old_rows.add_user(session, f"{login}@example.org", login, clock, institution=home)
    rows: set[Row] = {
        ("alice", "devcluster", "caen-climat", "project_lead"),  # its project exists
        ("alice", "devcluster", "caen-orphan", "researcher"),  # home institution exists
        ("alice", "austral", "caen-climat", "researcher"),  # same account, another cluster
        ("bob", "devcluster", "rouen-orphan", "project_lead"),  # home institution unknown
        ("carol", "devcluster", "shared-orphan", "researcher"),  # members disagree
        ("dave", "devcluster", "shared-orphan", "researcher"),
    }
    for login, cluster, account, role in sorted(rows):
        session.execute(
            _OLD_MEMBERSHIPS.insert().values(
                id=uuid.uuid4(), user_id=ids[login], cluster=cluster, slurm_account=account, role=role
            )
        )
    session.commit()
    return {(f"{login}@example.org", cluster, account, role) for login, cluster, account, role in rows}


def _memberships(session: Session) -> set[Row]:
    """(username, cluster, account, role) of every membership, without the User model: the
    users table of 0010 has fewer columns than the models' (later revisions add some)."""
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("username", sa.String()))
    rows = session.execute(
        sa.select(users.c.username, Project.cluster, Project.slurm_account, Membership.role)
        .join(Membership, Membership.user_id == users.c.id)
        .join(Project, Project.id == Membership.project_id)
    )
    return {(username, cluster, account, role.value) for username, cluster, account, role in rows}


def test_0010_gives_every_membership_its_project_and_downgrade_gives_the_columns_back(
    db_url: str, clock: FakeClock
) -> None:
    upgrade(db_url, "0009")
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            before = _seed_0009(session, clock)

        upgrade(db_url, "0010")
        with factory() as session:
            after = _memberships(session)
            homes = {
                (cluster, account): institution
                for cluster, account, institution in session.execute(
                    sa.select(Project.cluster, Project.slurm_account, Project.institution)
                )
            }
            unassigned = session.scalar(sa.select(Institution.name).where(Institution.code == "unassigned"))
        assert after == before
        assert homes == {
            ("devcluster", "caen-climat"): "unicaen",
            ("devcluster", "caen-orphan"): "unicaen",
            ("austral", "caen-climat"): "unicaen",
            ("devcluster", "rouen-orphan"): "unassigned",
            ("devcluster", "shared-orphan"): "unassigned",
        }
        assert unassigned == "Unassigned — move me"

        downgrade(db_url, "0009")
        with engine.connect() as conn:
            users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("username", sa.String()))
            restored = {
                (username, cluster, account, role)
                for username, cluster, account, role in conn.execute(
                    sa.select(
                        users.c.username,
                        _OLD_MEMBERSHIPS.c.cluster,
                        _OLD_MEMBERSHIPS.c.slurm_account,
                        _OLD_MEMBERSHIPS.c.role,
                    ).join(users, users.c.id == _OLD_MEMBERSHIPS.c.user_id)
                )
            }
            columns = {c["name"] for c in sa.inspect(conn).get_columns("memberships")}
        assert restored == before
        assert columns == {"id", "user_id", "cluster", "slurm_account", "role"}

        # Up again: the projects the first run made are found, not made twice.
        upgrade(db_url)
        with factory() as session:
            again = _memberships(session)
            projects = session.scalar(sa.select(sa.func.count()).select_from(Project))
        assert again == before and projects == len(homes)
    finally:
        engine.dispose()


def test_0010_on_an_empty_database_creates_no_institution(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM institutions")).scalar_one() == 0
    finally:
        engine.dispose()
