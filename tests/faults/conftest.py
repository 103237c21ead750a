"""Fault suite fixtures: a gateway on a fresh PostgreSQL schema and the real dev cluster, the
daemons restored after every test, and the report written to docs/reliability.md.

These tests stop and restart shared daemons (slurmctld, sshd, PostgreSQL): they refuse to
start while another pytest or bench process uses the machine (CI runs the suite sequentially).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.ledger import SqlLedger
from myriagate.db.migrate import upgrade
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import jobs as jobs_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.errors import MyriagateError
from myriagate.services.allocations import settlement
from myriagate.services.common.leases import holder_id
from myriagate.services.runtime import worker as worker_service
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.wiring import Gateway, build_gateway, worker_ledger
from tests.conftest import POSTGRES_URL
from tests.faults import consistency
from tests.faults.recorder import RECORDER
from tests.faults.recorder import pytest_runtest_makereport as pytest_runtest_makereport
from tests.faults.recorder import pytest_sessionfinish as pytest_sessionfinish
from tests.integration.conftest import STATE_DIR, DevCluster
from tests.integration.conftest import devcluster as devcluster

REPO = Path(__file__).resolve().parents[2]
UP_SH = REPO / "deploy" / "devcluster" / "up.sh"
STATUS_SH = REPO / "deploy" / "devcluster" / "status.sh"
RUN_DIR = Path("/run/myriagate-devcluster")
CLUSTER, LOGIN, ACCOUNT = "devcluster", "alice", "caen-climat"
CLOCK = SystemClock()


def _others_running() -> list[str]:
    """pytest or bench processes that are not this one nor its ancestors/children."""
    mine = {os.getpid(), os.getppid()}
    # -ww: the whole command line (ps cuts it at $COLUMNS otherwise, and the tier's marker with it).
    argv = ["ps", "-ww", "-eo", "pid,ppid,args"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    others = []
    for line in out.splitlines()[1:]:
        pid, ppid, args = line.split(None, 2)
        if int(pid) in mine or int(ppid) in mine:
            continue
        # The unit and db tiers use no daemon of the cluster: deploy/test.sh runs them beside us.
        if "-m unit " in args or "-m db " in args:
            continue
        if ("pytest" in args or "bench/" in args) and "grep" not in args:
            others.append(args[:120])
    return others


@pytest.fixture(scope="session")
def exclusive_machine(devcluster: DevCluster) -> DevCluster:
    deadline = time.monotonic() + float(os.environ.get("MYRIAGATE_FAULTS_WAIT_S", "200"))
    while others := _others_running():
        if time.monotonic() > deadline:
            pytest.skip(f"other tests use the cluster, faults would break them: {others[:3]}")
        time.sleep(5)
    return devcluster


def cluster_up() -> None:
    """Bring every dev cluster daemon back (idempotent) and PostgreSQL."""
    ensure_postgres()
    ok = subprocess.run(["bash", str(STATUS_SH), "-q"], capture_output=True, timeout=120, check=False)
    if ok.returncode != 0:
        subprocess.run(["bash", str(UP_SH)], capture_output=True, timeout=300, check=True)


def ensure_postgres() -> None:
    for _ in range(60):
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0:
            return
        subprocess.run(["pg_ctlcluster", "15", "main", "start"], capture_output=True, check=False)
        time.sleep(1)


def stop_daemon(name: str) -> None:
    """Stop one dev cluster daemon through its PID file, as down.sh does."""
    pidfile = RUN_DIR / f"{name}.pid"
    exe = "/usr/sbin/sshd" if name.startswith("sshd") else f"/usr/sbin/{name}"
    subprocess.run(
        ["start-stop-daemon", "--stop", "--oknodo", "--pidfile", str(pidfile), "--exec", exe,
         "--retry", "TERM/20/KILL/5"], capture_output=True, check=False,
    )  # fmt: skip
    pidfile.unlink(missing_ok=True)


def start_cluster() -> None:
    subprocess.run(["bash", str(UP_SH)], capture_output=True, timeout=300, check=True)


@pytest.fixture
def restore_daemons(exclusive_machine: DevCluster) -> Iterator[None]:
    """Whatever a test stopped is running again afterwards, even when the test failed."""
    try:
        yield
    finally:
        cluster_up()


@dataclass
class World:
    """A gateway (in-process services, real adapters) on its own schema, alice with a grant."""

    settings: Settings
    gateway: Gateway
    user_id: uuid.UUID
    run: str = field(default_factory=lambda: f"mg-fault-{uuid.uuid4().hex[:8]}")
    accepted: list[uuid.UUID] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    names: int = 0
    # One holder for every in-process worker of the test: they stand for the gateway's one
    # worker process carrying on after the fault (a worker built to drive the jobs home after a
    # tick with a broken backend must not wait for an earlier one's 30 s poll lease to expire;
    # taking a dead worker's lease over is test_worker_kill.py's subject, with real processes).
    worker_holder: str = field(default_factory=holder_id)
    started_at: float = field(default_factory=time.time)

    @property
    def factory(self) -> sessionmaker[Session]:
        return self.gateway.session_factory

    def submit(self, script: str = "#!/bin/bash\nsleep 1\n", backends: Any = None) -> uuid.UUID | None:
        """One submission as the API makes it; the job id when accepted."""
        self.names += 1
        overrides = {
            "partition": "debug",
            "time": "2",
            "job-name": f"{self.run}-{self.names}",
            "account": ACCOUNT,
        }
        with self.factory() as session:
            user = users_repo.get(session, self.user_id)
            assert user is not None
            try:
                job = submit_job(
                    session, backends=backends or self.gateway.backends(CLUSTER),
                    profile=self.gateway.profile(CLUSTER), user=user,
                    request=SubmitRequest(script_text=script, cluster=CLUSTER, overrides=overrides),
                    clock=CLOCK, ledger=self.gateway.allocations.hold_ledger(),
                )  # fmt: skip
            except MyriagateError as exc:
                self.refused.append(f"{exc.code}: {exc.detail}")
                return None
            self.accepted.append(job.id)
            return job.id

    def worker(self, backends: Any = None, lease_s: float = 30.0) -> worker_service.Worker:
        backends = backends or self.gateway.backends(CLUSTER)

        def step(session: Session) -> settlement.SettleResult:
            # worker_service.settle_step's settlement, but its outside-jobs sweep looks back over
            # this test's lifetime, not the default two days: on the shared dev cluster those
            # hold a thousand and more of other tests' jobs, none of them this test's, and
            # charging them cost 4-5 s at the first settlement of every fault test.
            return settlement.settle(
                session, cluster=CLUSTER, profile=self.gateway.profile(CLUSTER), backends=backends,
                ledger=worker_ledger(CLOCK), clock=CLOCK, lease_s=self.settings.lease_s,
                outside_confirm_core_seconds=self.settings.outside_confirm_core_seconds,
                sweep_window_s=time.time() - self.started_at + 5,
            )  # fmt: skip

        # The dev cluster's slurmdbd records a job within a second: a 5 s accounting lag keeps
        # the two-lookups rule without making every resend wait the default 120 s.
        options = worker_service.WorkerOptions(
            cluster=CLUSTER, poll_min_s=0.5, poll_max_s=2.0, lease_s=lease_s, uncertain_after_s=0,
            accounting_lag_s=5.0,
        )  # fmt: skip
        return worker_service.Worker(self.factory, backends, CLOCK, options, ledger=worker_ledger(CLOCK),
                                     holder=self.worker_holder, settle=step)  # fmt: skip

    def drive(self, timeout_s: float = 90.0, backends: Any = None) -> int:
        """Tick (reconcile, poll, settle) until every accepted job is final and settled."""
        w = self.worker(backends)
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(MyriagateError):  # a failed tick is retried, as the loop does
                w.run_once()
            left = consistency.wait_settled(self.factory, self.accepted, timeout_s=0)
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(1)

    def job(self, job_id: uuid.UUID) -> Any:
        with self.factory() as session:
            return jobs_repo.get(session, job_id)

    def check(self, name: str, what: str, **extra: Any) -> consistency.Report:
        time.sleep(2)  # slurmdbd records a job a moment after slurmctld
        report = consistency.check(
            self.factory, self.accepted, since="now-1hours", dirs=extra.pop("dirs", ())
        )
        RECORDER.record(name, what, report, **extra)
        assert report.ok, "\n".join(report.problems[:20])
        assert report.jobs_lost == 0 and report.jobs_duplicated == 0
        return report

    def cancel_leftovers(self) -> None:
        out = subprocess.run(["squeue", "-h", "-a", "-o", "%j"], capture_output=True, text=True, check=False)
        for name in sorted({n for n in out.stdout.split() if n.startswith(self.run)}):
            subprocess.run(["scancel", f"--name={name}"], check=False)


def _schema() -> tuple[str, Callable[[], None]]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"fault_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        ensure_postgres()
        admin.dispose()  # its pooled connection may predate a PostgreSQL restart
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def seed_alice(url: str) -> uuid.UUID:
    engine = make_engine(url)
    now = datetime.now(UTC)
    with make_session_factory(engine)() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        project = projects_repo.add_project(
            session, cluster=CLUSTER, slurm_account=ACCOUNT, institution="unicaen", created_at=now
        )
        period = allocations_repo.create_period(
            session, cluster=CLUSTER, name="faults", starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )  # fmt: skip
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=now
        )
        SqlLedger(session).grant(
            allocation.id, Cost(10**9, 0), author="faults", reason="faults", enforce_quota=False
        )
        alice = users_repo.add(session, username="alice@unicaen.fr", cluster_login=LOGIN, created_at=now)
        users_repo.add_membership(session, alice, cluster=CLUSTER, slurm_account=ACCOUNT)
        session.commit()
        user_id = alice.id
    engine.dispose()
    return user_id


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    d = tmp_path / "profiles"
    d.mkdir()
    return d


@pytest.fixture
def world(restore_daemons: None, profiles_dir: Path, tmp_path: Path) -> Iterator[World]:
    url, drop = _schema()
    upgrade(url)
    user_id = seed_alice(url)
    # Private, as `myriagate worker` requires (and creates it): the worker processes refuse a
    # spool the test's own umask 022 would leave open to others.
    (tmp_path / "spool").mkdir(mode=0o700)
    settings = Settings(
        dev_mode=True, database_url=url, ssh_ca_key_path=STATE_DIR / "ssh_user_ca", default_cluster=CLUSTER,
        profiles_dir=profiles_dir, spool_dir=tmp_path / "spool", notifications_enabled=False,
    )  # fmt: skip
    gateway = build_gateway(settings)
    w = World(settings=settings, gateway=gateway, user_id=user_id)
    try:
        yield w
    finally:
        w.cancel_leftovers()
        gateway.close()
        drop()


def write_profile(profiles_dir: Path, **connection: Any) -> None:
    """The devcluster profile with some [connection] values replaced (e.g. a proxy's port)."""
    text = (REPO / "cluster_profiles" / "devcluster.toml").read_text()
    for key, value in connection.items():
        lines = []
        for line in text.splitlines():
            if line.split("=")[0].strip() == key:
                line = f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
                line = line.replace("'", '"')
            lines.append(line)
        text = "\n".join(lines) + "\n"
    (profiles_dir / "devcluster.toml").write_text(text)
