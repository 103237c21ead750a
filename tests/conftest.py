"""Shared fixtures: a migrated database on SQLite and PostgreSQL, a fake clock, fake Slurm.

``db_url`` runs each test on a fresh SQLite file and, under the ``postgres`` marker, in a
fresh PostgreSQL schema (dropped afterwards), so tests never see each other's rows; it is empty.
``session_factory`` fills it with a copy of the session's one migration run
(``tests/db_templates.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.models.users import Project, User
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_session_factory
from tests.db_engines import SharedSqliteStatements
from tests.db_templates import MigratedTemplates, new_schema_name, schema_url
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory

POSTGRES_URL = os.environ.get(
    "MYRIAGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLUSTER = "devcluster"


TESTS = Path(__file__).resolve().parent
# Each test runs in one tier (deploy/test.sh runs them fastest first): where it lives decides
# first, then what it needs (its markers, the fixtures it uses); whatever is left is ``unit``.
TIERS = ("unit", "db", "slurm", "browser", "faults")
_DIRECTORY_TIERS = {"faults": "faults", "browser": "browser", "integration": "slurm"}
_SLURM_FIXTURES = frozenset({"devcluster", "ssh_pool"})


def tier_of(item: pytest.Item) -> str:
    """``unit`` (no I/O beyond SQLite), ``db`` (PostgreSQL), ``slurm`` (the dev cluster and the
    other real daemons: sshd, storage, nginx, SMTP), ``browser`` or ``faults``."""
    top = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
    if top in _DIRECTORY_TIERS:
        return _DIRECTORY_TIERS[top]
    for marker in ("faults", "browser", "slurm"):
        if item.get_closest_marker(marker) is not None:
            return marker
    if _SLURM_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "slurm"
    if item.get_closest_marker("postgres") is not None:
        return "db"
    return "unit"


# Test modules using something of the dev cluster that only one test at a time may use: with
# ``--dist loadgroup`` (deploy/test.sh's slurm tier) the tests of one group run on one xdist
# worker, one after the other; every other test is a unit of its own. (xdist's ``xdist_group``
# marker does not reach its scheduler under pytest 9: xdist 3.8 renames ``item._nodeid``, which
# pytest no longer reads.)
ONE_WORKER: dict[str, str] = {
    # Each test rewrites mallory's start-up files and login shell.
    "tests/integration/test_hostile_login.py": "mallory",
    # bob's job with a line-breaking comment makes his tag lookups ask again job by job, and the
    # batched-reconcile test counts bob's squeue calls.
    "tests/integration/test_forged_slurm_records.py": "bob-line-breaking-comment",
    "tests/integration/test_reconcile_batched_real.py": "bob-line-breaking-comment",
    # Not a shared state but a shared cost: the module's virtualenv (a wheel built and installed
    # with pip, ~80 s of CPU) is built once for its six tests, not once per worker that runs one.
    "tests/integration/test_client_install.py": "client-install",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` for the unit tier: one worker more than the CPUs. A good part of its tests'
    time is spent waiting (sockets given up on after a timeout, watched helpers, leases), not
    computing: on 2 CPUs a third worker computes meanwhile (docs/performance.md, fifth
    round). Other tiers, or PYTEST_XDIST_AUTO_NUM_WORKERS set: xdist's own count."""
    if config.getoption("markexpr", "") != "unit" or os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus + 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``: xdist's group scheduling, with the groups of ONE_WORKER."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class OneWorkerGroups(LoadGroupScheduling):  # type: ignore[misc]  # xdist's scheduler is untyped
        def _split_scope(self, nodeid: str) -> str:
            group = ONE_WORKER.get(nodeid.split("::", 1)[0])
            return f"one-worker:{group}" if group else str(super()._split_scope(nodeid))

    return OneWorkerGroups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(tier_of(item))
    # ``-m <tier>`` selects that tier and nothing else: a module may carry several of these
    # markers (the fault and browser tests are marked ``slurm`` too, since they need the
    # cluster), and the slurm tier must not run them a second time.
    wanted = config.getoption("markexpr", "")
    if wanted in TIERS:
        kept = [item for item in items if tier_of(item) == wanted]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[item for item in items if tier_of(item) != wanted])
            items[:] = kept
    _select_whole_node(config, items)
    # The longest waits first (a stable sort keeps the rest in order): xdist hands tests out in
    # this order, so the tier does not end with one worker waiting on Slurm's time limit.
    items.sort(key=lambda item: item.get_closest_marker("long_wait") is None)


def _select_whole_node(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--whole-node=exclude`` leaves out the ``whole_node`` tests, ``only`` keeps just them."""
    choice = config.getoption("whole_node")
    if choice == "include":
        return
    only = choice == "only"
    kept = [item for item in items if (item.get_closest_marker("whole_node") is not None) == only]
    if len(kept) != len(items):
        left_out = set(items) - set(kept)
        config.hook.pytest_deselected(items=[item for item in items if item in left_out])
        items[:] = kept


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--whole-node",
        choices=("include", "exclude", "only"),
        default="include",
        help="the whole_node tests (a job taking the dev cluster's one node): with the others "
        "(default), left out (the parallel slurm pass), or alone (the serial pass after it)",
    )
    parser.addoption(
        "--write-reliability-doc",
        action="store_true",
        default=False,
        help="after the fault tests ran, rewrite their section of docs/reliability.md "
        "(also MYRIAGATE_WRITE_RELIABILITY_DOC=1); without it the tracked file is left alone",
    )


@contextmanager
def kept_logging() -> Iterator[None]:
    """The root logger's handlers and level and structlog's configuration as they were before
    the block, whatever it configured."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that runs ``serve``, ``worker`` or an operator command in-process configures
    logging (at INFO, to whatever ``sys.stderr`` is): left so, the API's and httpx's lines went
    into later tests' captured output, and CLI tests failed in a random order."""
    with kept_logging():
        yield


class FakeClock:
    """ports.Clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


def _postgres_schema_url(templates: MigratedTemplates) -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = new_schema_name()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    try:
        yield schema_url(POSTGRES_URL, schema)
    finally:
        if not templates.release_postgres(schema):  # kept for the next test, or dropped
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'myriagate.db'}"
    else:
        yield from _postgres_schema_url(migrated_templates)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    """Copies of one migration run per session (and xdist worker), for every database fixture."""
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"), POSTGRES_URL)
    yield templates
    templates.close()


@pytest.fixture(scope="session")
def sqlite_statements() -> SharedSqliteStatements:
    """One dialect and statement cache for the tests' SQLite engines (tests/db_engines.py)."""
    return SharedSqliteStatements()


@pytest.fixture
def session_factory(
    db_url: str, migrated_templates: MigratedTemplates, sqlite_statements: SharedSqliteStatements
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database at the Alembic head (a copy of the session's migrated template)."""
    migrated_templates.clone_into(db_url)
    engine = sqlite_statements.engine(db_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_cluster(clock: FakeClock) -> FakeCluster:
    return FakeCluster(name=CLUSTER, clock=clock.now)


@pytest.fixture
def backends(fake_cluster: FakeCluster) -> FakeSlurmBackendFactory:
    return FakeSlurmBackendFactory(fake_cluster)


TEST_INSTITUTION = "tests"


def ensure_project(session: Session, account: str, clock: FakeClock, *, cluster: str = CLUSTER) -> None:
    """The project ``account`` on ``cluster``, made under the ``tests`` institution if missing."""
    if projects_repo.get_project(session, cluster, account) is not None:
        return
    if projects_repo.get_institution(session, TEST_INSTITUTION) is None:
        projects_repo.add_institution(session, code=TEST_INSTITUTION, name="Test institution")
    projects_repo.add_project(
        session, cluster=cluster, slurm_account=account, institution=TEST_INSTITUTION, created_at=clock.now()
    )


def add_project(
    session: Session,
    *,
    cluster: str,
    slurm_account: str,
    institution: str,
    created_at: datetime,
    name: str = "",
) -> Project:
    """The project under ``institution``: a new one, or the one ``make_user`` made for the account.

    ``make_user`` makes the projects of its members' accounts; a test that sets up the project
    afterwards gets that row, moved under its institution with its name.
    """
    project = projects_repo.get_project(session, cluster, slurm_account)
    if project is None:
        return projects_repo.add_project(
            session,
            cluster=cluster,
            slurm_account=slurm_account,
            institution=institution,
            created_at=created_at,
            name=name,
        )
    project.institution = institution
    project.name = name
    session.flush()
    return project


def make_user(session: Session, username: str, login: str, accounts: list[str], clock: FakeClock) -> User:
    """A committed user, member of ``accounts`` on the dev cluster (their projects made if missing)."""
    user = users_repo.add(session, username=username, cluster_login=login, created_at=clock.now())
    for account in accounts:
        ensure_project(session, account, clock)
        users_repo.add_membership(session, user, cluster=CLUSTER, slurm_account=account)
    session.commit()
    return user


@pytest.fixture
def alice(session: Session, clock: FakeClock) -> User:
    return make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)


@pytest.fixture
def bob(session: Session, clock: FakeClock) -> User:
    return make_user(session, "bob@univ-rouen.fr", "bob", ["rouen-chimie"], clock)


@pytest.fixture
def carol(session: Session, clock: FakeClock) -> User:
    return make_user(session, "carol@unicaen.fr", "carol", ["caen-climat", "caen-bio"], clock)
