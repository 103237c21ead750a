"""deploy/backup.sh and deploy/restore.sh: a backup of a working gateway database restored into a
fresh database holds exactly the same rows and schema revision (PostgreSQL and SQLite).

The PostgreSQL run builds its databases and roles with deploy/postgres/setup.sql, migrates as
the owner role and writes as the app role (the production split), with hostile characters in
the database, role and password names to prove the scripts quote everything.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db.ledger import SqlLedger
from myriagate.db.migrate import current, upgrade
from myriagate.db.models import Job
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.profiles.loader import load_profile
from myriagate.services.allocations import grants as allocations
from myriagate.services.runtime.worker import Worker, WorkerOptions, settle_step
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import worker_ledger
from tests.conftest import CLUSTER, POSTGRES_URL, FakeClock, add_project, make_user
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.hostile import CANARY

REPO = Path(__file__).resolve().parents[2]
BACKUP = REPO / "deploy" / "backup.sh"
RESTORE = REPO / "deploy" / "restore.sh"
SETUP_SQL = REPO / "deploy" / "postgres" / "setup.sql"
SCRIPT = "#!/bin/bash\nsrun ./model\n"


@dataclass(frozen=True)
class Written:
    """What the gateway wrote, to look for after the restore."""

    allocation_id: uuid.UUID
    finished_job_id: uuid.UUID
    pending_job_id: uuid.UUID


def write_gateway_data(url: str) -> Written:
    """Users, a project with an allocation, a settled job and a held one: through the services."""
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    backends = FakeSlurmBackendFactory(FakeCluster(name=CLUSTER, clock=clock.now))
    profile = load_profile(CLUSTER, Settings(dev_mode=True))
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            admin = make_user(session, "admin@criann.fr", "admin", [], clock)
            admin.is_platform_admin = True
            alice = make_user(session, "alice@unicaen.fr", "alice", ["caen-climat"], clock)
            projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
            add_project(
                session,
                cluster=CLUSTER,
                slurm_account="caen-climat",
                institution="unicaen",
                created_at=clock.now(),
            )
            session.commit()
            period = allocations.create_period(
                session,
                admin,
                cluster=CLUSTER,
                name="2026",
                starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                ends_at=datetime(2027, 1, 1, tzinfo=UTC),
                clock=clock,
            )
            allocations.set_quota(
                session,
                admin,
                institution="unicaen",
                period_id=period.id,
                amount=allocations.hours(100),
                clock=clock,
            )
            grant = allocations.grant(
                session,
                admin,
                cluster=CLUSTER,
                slurm_account="caen-climat",
                amount=allocations.hours(10),
                clock=clock,
                ledger=SqlLedger,
            )
            jobs = [_submit(session, backends, profile, alice, clock) for _ in range(2)]
        finished = jobs[0]
        assert finished.slurm_job_id is not None
        backends.cluster.set_state(finished.slurm_job_id, "RUNNING")
        clock.advance(300)
        backends.cluster.finish(finished.slurm_job_id)
        step = settle_step(
            cluster=CLUSTER,
            backends=backends,
            clock=clock,
            settings=Settings(dev_mode=True),
            profile=profile,
            ledger=SqlLedger,
        )
        options = WorkerOptions(cluster=CLUSTER)
        Worker(factory, backends, clock, options, ledger=worker_ledger(clock), settle=step).run_once()
        with factory() as session:
            balance = SqlLedger(session).balance(grant.allocation_id)
        assert balance.charged > Cost() and balance.held > Cost()  # one charged, one held
        return Written(grant.allocation_id, finished.id, jobs[1].id)
    finally:
        engine.dispose()


def _submit(
    session: Session, backends: FakeSlurmBackendFactory, profile: Any, user: Any, clock: FakeClock
) -> Job:
    request = SubmitRequest(
        script_text=SCRIPT, cluster=CLUSTER, overrides={"time": "00:10:00", "mem": "1000M"}
    )
    return submit_job(
        session, backends=backends, profile=profile, user=user, request=request, clock=clock, ledger=SqlLedger
    )


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    engine = make_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()


def run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=300, check=False
    )


def check_restored(source_url: str, restored_url: str, written: Written) -> None:
    before, after = snapshot(source_url), snapshot(restored_url)
    assert {"users", "jobs", "ledger_entries", "allocations", "alembic_version"} <= set(after)
    assert after == before
    assert len(after["ledger_entries"]) >= 4  # grant, two holds, a charge (and a release)
    assert current(restored_url) == current(source_url) is not None
    # The restored database works for the gateway: balances read through the ledger agree.
    for url in (source_url, restored_url):
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session:
                job = session.get(Job, written.pending_job_id)
                assert job is not None and job.slurm_job_id is not None
        finally:
            engine.dispose()


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_backup_while_open_restores_identically(tmp_path: Path) -> None:
    hostile_dir = tmp_path / "it's a dir $(touch pwned) `touch pwned`"
    hostile_dir.mkdir()
    source_url = f"sqlite:///{hostile_dir / 'myriagate.db'}"
    upgrade(source_url)
    written = write_gateway_data(source_url)
    # A writer holds the database open with committed rows still in the WAL: a file copy would
    # miss them, the backup API must not.
    engine = make_engine(source_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("PRAGMA wal_autocheckpoint=0"))
            conn.execute(
                sa.text("UPDATE users SET display_name = 'Alice (after)' WHERE username = 'alice@unicaen.fr'")
            )
        assert (hostile_dir / "myriagate.db-wal").stat().st_size > 0
        out = tmp_path / "backups"
        out.mkdir()
        made = run(BACKUP, "--out", str(out), source_url)
        assert made.returncode == 0, made.stderr
        backup = Path(made.stdout.strip().splitlines()[-1])
        assert backup.parent == out and backup.name.endswith(".sqlite3")
        assert backup.stat().st_mode & 0o077 == 0  # only the owner may read password hashes
        assert list(out.iterdir()) == [backup]  # no leftover .partial
    finally:
        engine.dispose()

    restored_path = tmp_path / "restored" / "myriagate.db"
    restored_path.parent.mkdir()
    restored_url = f"sqlite:///{restored_path}"
    done = run(RESTORE, str(backup), restored_url)
    assert done.returncode == 0, done.stderr
    check_restored(source_url, restored_url, written)
    assert snapshot(restored_url)["users"] and "Alice (after)" in repr(snapshot(restored_url)["users"])
    assert not (tmp_path / "pwned").exists() and not (REPO / "pwned").exists()

    # Never over an existing database.
    again = run(RESTORE, str(backup), restored_url)
    assert again.returncode != 0 and "exists" in again.stderr


def test_restore_refuses_a_backup_of_the_other_kind(tmp_path: Path) -> None:
    not_a_dump = tmp_path / "myriagate-x.pgdump"
    not_a_dump.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = run(RESTORE, str(not_a_dump), "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.returncode != 0 and "not a pg_dump custom-format archive" in result.stderr


def test_backup_of_a_missing_sqlite_file_fails_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    result = run(BACKUP, "--out", str(tmp_path), f"sqlite:///{missing}")
    assert result.returncode != 0 and "no SQLite database" in result.stderr
    assert not missing.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductionDatabases:
    source: str  # the owner role's URL of the database the gateway used
    target: str  # the owner role's URL of a fresh, empty database made by setup.sql
    source_app: str  # the app role's URL of the source
    target_app: str


def _psql_setup(admin_url: sa.URL, dbname: str, owner: str, app: str, password: str) -> None:
    argv = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        admin_url.host or "127.0.0.1",
        "-p",
        str(admin_url.port or 5432),
        "-U",
        admin_url.username or "postgres",
        "-d",
        "postgres",
        "-v",
        f"dbname={dbname}",
        "-v",
        f"owner={owner}",
        "-v",
        f"app={app}",
        "-v",
        f"owner_password={password}",
        "-v",
        f"app_password={password}",
        "-f",
        str(SETUP_SQL),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def production_databases() -> Iterator[ProductionDatabases]:
    for tool in ("psql", "pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install postgresql-client)")
    admin_url = sa.make_url(POSTGRES_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc.orig}")
    tag = uuid.uuid4().hex[:8]
    names = {
        "source": f"mg {tag} it's $(touch {CANARY})",
        "target": f"mg_restored_{tag}",
        "owner": f"mg_owner'{tag}",
        "app": f"mg_app {tag}",
    }
    password = f"p@ss:w/rd'$(touch {CANARY})"  # trust auth ignores it, but it must survive parsing

    def url(role: str, db: str) -> str:
        return sa.URL.create(
            "postgresql+psycopg",
            username=role,
            password=password,
            host=admin_url.host,
            port=admin_url.port,
            database=db,
        ).render_as_string(hide_password=False)

    try:
        for db in (names["source"], names["target"]):
            _psql_setup(admin_url, db, names["owner"], names["app"], password)
        yield ProductionDatabases(
            source=url(names["owner"], names["source"]),
            target=url(names["owner"], names["target"]),
            source_app=url(names["app"], names["source"]),
            target_app=url(names["app"], names["target"]),
        )
    finally:
        with admin.connect() as conn:
            for db in (names["source"], names["target"]):
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(db)} WITH (FORCE)"))
            for role in (names["app"], names["owner"]):
                conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(role)}"))
        admin.dispose()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.mark.postgres
def test_postgres_backup_restores_into_a_fresh_database(
    production_databases: ProductionDatabases, tmp_path: Path
) -> None:
    dbs = production_databases
    upgrade(dbs.source)  # migrations run as the owner ...
    written = write_gateway_data(dbs.source_app)  # ... the gateway writes as the app role
    # The app role cannot change the schema (least privilege).
    engine = make_engine(dbs.source_app)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE intruder (id int)"))
        with pytest.raises(sa.exc.ProgrammingError, match="must be owner"), engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE ledger_entries"))
    finally:
        engine.dispose()

    made = run(BACKUP, "--out", str(tmp_path), dbs.source)
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip().splitlines()[-1])
    assert backup.name.endswith(".pgdump") and backup.read_bytes()[:5] == b"PGDMP"
    assert backup.stat().st_mode & 0o077 == 0
    assert password_not_in_process_args(made)

    done = run(RESTORE, str(backup), dbs.target)
    assert done.returncode == 0, done.stderr
    assert f"schema revision {current(dbs.source)}" in done.stdout
    check_restored(dbs.source, dbs.target, written)
    assert not Path(CANARY).exists()

    # The restored grants let the services work as the app role on the new database.
    factory: sessionmaker[Session] = make_session_factory(dbs.target_app)
    try:
        with factory() as session:
            assert SqlLedger(session).balance(written.allocation_id).charged > Cost()
            session.execute(
                sa.text("UPDATE users SET display_name = 'restored' WHERE username = 'alice@unicaen.fr'")
            )
            session.commit()
    finally:
        factory.kw["bind"].dispose()

    # A second restore into the now non-empty database is refused before touching it.
    again = run(RESTORE, str(backup), dbs.target)
    assert again.returncode != 0 and "not empty" in again.stderr
    assert "restored" in repr(snapshot(dbs.target)["users"])


def password_not_in_process_args(result: subprocess.CompletedProcess[str]) -> bool:
    """The scripts hand libpq the password through PGPASSWORD; it never reaches stderr/stdout."""
    return "p@ss" not in result.stdout + result.stderr
