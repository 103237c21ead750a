"""The ledger at scale, side by side with its anchors, on PostgreSQL.

    python bench/ledger.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                           [--entries 1000000] [--holds 2000] [--jobs 100000]

1. ``hold``: latency of ``SqlLedger.hold`` + commit (one job submission's share) against an
   allocation whose table holds 1,000,000 ledger entries, versus an empty ledger. Both run in
   one process, interleaved in rounds, each in a fresh schema. Target
   ``ratio_hold_1m_vs_empty <= 1.5`` (a hold touches one allocation row and appends one entry:
   it must not depend on the history's length).
2. ``settle``: 100,000 finished jobs (sacct lines) settled by **the worker's own settlement
   step** (``services.runtime.worker.settle_step`` -> ``services.allocations.settlement.settle``:
   open holds read from the jobs and ledger tables, ``SlurmCliBackend.accounting`` on a runner that answers
   each ``sacct --duplicates --jobs=…`` call with the realistic lines of exactly those jobs,
   costing with the partition weights of the ``myria`` profile, ``SqlLedger.close_many`` and a
   commit per chunk), called until it has nothing left, versus parsing all the lines alone
   with ``slurm.parse.parse_sacct_usage``. One gateway job in ten is an array (2..40 tasks),
   one run in fifty was requeued (an extra ``REQUEUED`` line). ``--rounds`` rounds (the
   settlement undone between them), each parse right before its settle: the ratio is the
   median of the rounds' ratios, so load from others on a shared machine hits both sides
   alike. Target ``ratio_settle_vs_parse <= 2``.

Schemas are created for the run and dropped afterwards. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db import migrate
from myriagate.db.ledger import SqlLedger
from myriagate.db.models.allocations import Allocation, LedgerEntry
from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.domain.states import JobState
from myriagate.ports import CommandResult
from myriagate.profiles.loader import load_profile
from myriagate.services.runtime.worker import settle_step
from myriagate.settings import Settings
from myriagate.slurm import parse
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.commands import SACCT_USAGE_FIELDS, SEP
from myriagate.wiring import worker_ledger

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PROJECTS = 50
CLUSTER = "myria"  # the production profile: its partitions and billing weights
HOLD = Cost(48 * 3600 * 256, 48 * 3600 * 4)  # every job's worst case, held at submit


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, migrated schema; dropped on the way out."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        scoped_url = scoped.render_as_string(hide_password=False)
        migrate.upgrade(scoped_url)
        yield scoped_url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(factory: sessionmaker[Session]) -> dict[str, uuid.UUID]:
    """PROJECTS projects of one institution, each with a generous 2026 allocation."""
    with factory() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen")
        period = allocations_repo.create_period(
            session,
            cluster=CLUSTER,
            name="2026",
            starts_at=datetime(2026, 1, 1, tzinfo=UTC),
            ends_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
        out: dict[str, uuid.UUID] = {}
        ledger = SqlLedger(session)
        for i in range(PROJECTS):
            account = f"proj-{i:03d}"
            project = projects_repo.add_project(
                session, cluster=CLUSTER, slurm_account=account, institution="unicaen", created_at=T0
            )
            allocation = allocations_repo.create_allocation(
                session, project_id=project.id, period_id=period.id, created_at=T0
            )
            grant = Cost(10**15, 10**14)
            ledger.grant(allocation.id, grant, author="bench", reason="bench", enforce_quota=False)
            out[account] = allocation.id
        session.commit()
    return out


def fill_history(factory: sessionmaker[Session], entries: int) -> None:
    """``entries`` hold/release/charge entries spread over every allocation (set-based insert)."""
    with factory() as session:
        session.execute(
            sa.text(
                """
                INSERT INTO ledger_entries
                    (allocation_id, job_id, slurm_job_id, kind, core_seconds, gpu_seconds, author, reason, at)
                SELECT a.ids[1 + (j % array_length(a.ids, 1))],
                       md5('job' || j)::uuid, NULL,
                       (ARRAY['hold', 'release', 'charge'])[1 + (g % 3)],
                       3600 + (j % 977), 0, 'bench', 'history', :t0 + (j || ' seconds')::interval
                FROM generate_series(0, :n - 1) AS g,
                     LATERAL (SELECT g / 3 AS j) AS jj,
                     (SELECT array_agg(id ORDER BY id) AS ids FROM allocations) AS a
                """
            ),
            {"n": entries, "t0": T0},
        )
        session.commit()
        session.execute(sa.text("ANALYZE ledger_entries"))
        session.execute(sa.text("ANALYZE allocations"))
        session.commit()


def time_holds(factory: sessionmaker[Session], allocation_id: uuid.UUID, count: int) -> list[float]:
    out: list[float] = []
    amount = Cost(3600 * 4, 0)
    for _ in range(count):
        job_id = uuid.uuid4()
        start = time.perf_counter()
        with factory() as session:
            SqlLedger(session).hold(allocation_id=allocation_id, job_id=job_id, amount=amount)
            session.commit()
        out.append(time.perf_counter() - start)
    return out


def bench_holds(url: str, entries: int, holds: int) -> dict[str, object]:
    with fresh_schema(url) as empty_url, fresh_schema(url) as full_url:
        empty, full = (make_session_factory(make_engine(u)) for u in (empty_url, full_url))
        empty_alloc = seed(empty)["proj-000"]
        full_alloc = seed(full)["proj-000"]
        started = time.perf_counter()
        fill_history(full, entries)
        fill_s = time.perf_counter() - started
        with full() as session:
            rows = session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
        time_holds(empty, empty_alloc, 100)  # warm both connection pools and caches
        time_holds(full, full_alloc, 100)
        on_empty: list[float] = []
        on_full: list[float] = []
        rounds = 10
        for _ in range(rounds):  # interleaved, so drift on the machine hits both alike
            on_empty += time_holds(empty, empty_alloc, holds // rounds)
            on_full += time_holds(full, full_alloc, holds // rounds)
        for factory in (empty, full):
            factory.kw["bind"].dispose()
    med_empty, med_full = statistics.median(on_empty), statistics.median(on_full)
    return {
        "history_entries": rows,
        "history_fill_s": round(fill_s, 2),
        "hold_empty_median_ms": round(med_empty * 1000, 3),
        "hold_1m_median_ms": round(med_full * 1000, 3),
        "hold_empty_p95_ms": round(_p95(on_empty) * 1000, 3),
        "hold_1m_p95_ms": round(_p95(on_full) * 1000, 3),
        "ratio_hold_1m_vs_empty": round(med_full / med_empty, 3),
    }


def sacct_lines(count: int, accounts: list[str], rng: random.Random) -> dict[str, tuple[str, list[str]]]:
    """``count`` usage lines as ``sacct --allocations --duplicates`` prints them, per gateway
    job (a plain job or an array parent): {slurm id: (account, its lines)}."""
    jobs: dict[str, tuple[str, list[str]]] = {}
    states = ["COMPLETED"] * 14 + ["FAILED", "TIMEOUT", "CANCELLED by 1001", "OUT_OF_MEMORY", "NODE_FAIL"]
    next_id, made = 500_000, 0
    while made < count:
        # One in ten submissions is an array of 2..40 tasks (JobID 123_4, JobIDRaw its own id).
        tasks = rng.randint(2, 40) if rng.random() < 0.1 else 0
        parent = str(next_id)
        account = rng.choice(accounts)
        partition = rng.choice(("court", "court", "long", "gpu_v100"))
        lines: list[str] = []
        for task in range(max(tasks, 1)):
            raw = next_id
            next_id += 1
            job_id = f"{parent}_{task}" if tasks else parent
            requeued = rng.random() < 0.02
            end: datetime | None = None
            for run in range(2 if requeued else 1):
                nodes = 1 if rng.random() < 0.8 else rng.randint(2, 8)
                if partition == "gpu_v100":
                    cpus = rng.choice((8, 16, 32))
                else:
                    cpus = nodes * rng.choice((1, 4, 14, 28))
                mem_gb = cpus * rng.choice((2, 4, 5))
                gpus = rng.choice((1, 2, 4)) if partition == "gpu_v100" else 0
                elapsed = rng.randint(0, 48 * 3600)
                if run == 0 or end is None:
                    start = T0 + timedelta(seconds=rng.randint(0, 30 * 86400))
                else:  # the next run starts after the requeued one ended
                    start = end + timedelta(seconds=rng.randint(60, 3600))
                end = start + timedelta(seconds=elapsed)
                tres = f"billing={cpus},cpu={cpus},mem={mem_gb}G,node={nodes}" + (
                    f",gres/gpu={gpus}" if gpus else ""
                )
                state = "REQUEUED" if requeued and run == 0 else rng.choice(states)
                fields = [
                    job_id, str(raw), state, rng.choice(("0:0", "0:0", "1:0", "0:9")), str(elapsed),
                    str(cpus), str(nodes), tres, partition, account, f"user{rng.randint(1, 400)}",
                    start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S"),
                ]  # fmt: skip
                assert len(fields) == len(SACCT_USAGE_FIELDS)
                lines.append(SEP.join(fields))
                made += 1
        jobs[parent] = (account, lines)
    return jobs


class CannedSacct:
    """A CommandRunner standing for sacct: each ``--jobs=…`` call gets exactly those jobs'
    lines (what the real sacct prints); anything else (the outside-jobs sweep) gets nothing."""

    def __init__(self, jobs: dict[str, tuple[str, list[str]]]) -> None:
        self._lines = {job_id: "".join(line + "\n" for line in lines) for job_id, (_, lines) in jobs.items()}
        self.calls = 0

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
    ) -> CommandResult:
        self.calls += 1
        wanted = next((a.removeprefix("--jobs=") for a in argv if a.startswith("--jobs=")), "")
        text = "".join(self._lines.get(job_id, "") for job_id in wanted.split(",") if job_id)
        return CommandResult(argv=tuple(argv), returncode=0, stdout=text.encode(), stderr=b"")


@dataclass
class CannedBackends:
    """ports.SlurmBackendFactory: the real CLI backend over the canned sacct."""

    backend: SlurmCliBackend

    def for_login(self, login: str) -> SlurmCliBackend:
        return self.backend

    def for_service(self) -> SlurmCliBackend:
        return self.backend


def insert_finished_jobs(
    factory: sessionmaker[Session], jobs: dict[str, tuple[str, list[str]]], allocations: dict[str, uuid.UUID]
) -> None:
    """The gateway's rows for these jobs, as tracking leaves them: ended, each with its hold."""
    with factory() as session:
        user_id = uuid.uuid4()
        session.execute(
            sa.insert(cast(sa.Table, User.__table__)),
            [{"id": user_id, "username": "bench", "display_name": "bench", "cluster_login": "bench",
              "is_active": True, "is_platform_admin": False, "created_at": T0}],
        )  # fmt: skip
        job_rows: list[dict[str, object]] = []
        hold_rows: list[dict[str, object]] = []
        per_alloc: dict[uuid.UUID, int] = {}
        for slurm_id, (account, lines) in jobs.items():
            job_id = uuid.uuid4()
            per_alloc[allocations[account]] = per_alloc.get(allocations[account], 0) + 1
            partition = lines[0].split(SEP)[8]
            job_rows.append(
                {"id": job_id, "user_id": user_id, "cluster": CLUSTER, "cluster_login": "bench",
                 "slurm_account": account, "partition": partition, "tag": f"mg:{job_id}",
                 "slurm_job_id": slurm_id, "state": JobState.COMPLETED, "script_text": "#!/bin/bash\n",
                 "sbatch_args": [], "spec": {}, "created_at": T0, "updated_at": T0, "stage_out": False}
            )  # fmt: skip
            hold_rows.append(
                {"allocation_id": allocations[account], "job_id": job_id, "slurm_job_id": None,
                 "kind": "hold", "core_seconds": HOLD.core_seconds, "gpu_seconds": HOLD.gpu_seconds,
                 "author": "bench", "reason": "submitted", "at": T0}
            )  # fmt: skip
        for first in range(0, len(job_rows), 10_000):
            session.execute(sa.insert(cast(sa.Table, Job.__table__)), job_rows[first : first + 10_000])
            session.execute(
                sa.insert(cast(sa.Table, LedgerEntry.__table__)), hold_rows[first : first + 10_000]
            )
        for allocation_id, n in per_alloc.items():
            session.execute(
                sa.update(Allocation)
                .where(Allocation.id == allocation_id)
                .values(held_core_seconds=n * HOLD.core_seconds, held_gpu_seconds=n * HOLD.gpu_seconds)
            )
        session.commit()
    with factory() as session:
        for table in ("jobs", "ledger_entries", "allocations"):
            session.execute(sa.text(f"ANALYZE {table}"))
        session.commit()


def bench_settle(url: str, count: int, rounds: int) -> dict[str, object]:
    rng = random.Random(4)
    settings = Settings(dev_mode=True, enforce_allocations=True)
    profile = load_profile(CLUSTER, settings)
    cluster_tz = ZoneInfo(profile.timezone) if profile.timezone else UTC
    with fresh_schema(url) as schema_url:
        factory = make_session_factory(make_engine(schema_url))
        allocations = seed(factory)
        jobs = sacct_lines(count, sorted(allocations), rng)
        text = "".join(line + "\n" for _, lines in jobs.values() for line in lines)
        insert_finished_jobs(factory, jobs, allocations)
        before = totals(factory)
        sacct = CannedSacct(jobs)
        backends = CannedBackends(SlurmCliBackend(sacct, cluster_tz=cluster_tz))
        clock = SystemClock()
        step = settle_step(
            cluster=CLUSTER,
            backends=backends,
            clock=clock,
            settings=settings,
            profile=profile,
            ledger=worker_ledger(clock),
        )
        assert step is not None
        parse_runs: list[float] = []
        settle_runs: list[float] = []
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits both alike
            parse.parse_time.cache_clear()
            start = time.perf_counter()
            parse.parse_sacct_usage(text, cluster_tz)
            parse_runs.append(time.perf_counter() - start)

            parse.parse_time.cache_clear()
            sacct.calls = settled = released = steps = 0
            start = time.perf_counter()
            while True:  # as the worker does, tick after tick, until nothing is left
                with factory() as session:
                    result = step(session)
                steps += 1
                assert result.error is None, result.error
                if not result.changed:
                    break
                settled += result.settled
                released += result.released
            settle_runs.append(time.perf_counter() - start)
            with factory() as session:
                held = session.scalar(sa.select(sa.func.sum(Allocation.held_core_seconds)))
                charges = session.scalar(
                    sa.select(sa.func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "charge")
                )
            assert settled + released == len(jobs) and held == 0 and charges == settled, (settled, held)
            reset(factory, schema_url, before)
        factory.kw["bind"].dispose()
    ratios = [s / p for s, p in zip(settle_runs, parse_runs, strict=True)]
    return {
        "jobs": len(jobs),
        "sacct_lines": count,
        "settled": settled,
        "released_never_ran": released,
        "sacct_calls": sacct.calls,
        "settle_steps": steps,
        "rounds": rounds,
        "parse_s": round(statistics.median(parse_runs), 3),
        "settle_s": round(statistics.median(settle_runs), 3),
        "settled_per_s": round(len(jobs) / statistics.median(settle_runs)),
        "ratios_settle_vs_parse": [round(r, 3) for r in ratios],
        "ratio_settle_vs_parse": round(statistics.median(ratios), 3),
    }


def totals(factory: sessionmaker[Session]) -> list[dict[str, object]]:
    with factory() as session:
        return [
            dict(row._mapping) for row in session.execute(sa.select(cast(sa.Table, Allocation.__table__)))
        ]


def reset(factory: sessionmaker[Session], url: str, before: list[dict[str, object]]) -> None:
    """Undo a round's settlement (its entries, totals and leases), so the next round has the same work."""
    with factory() as session:
        session.execute(sa.text("DELETE FROM ledger_entries WHERE kind <> 'hold' AND job_id IS NOT NULL"))
        session.execute(sa.text("DELETE FROM leases"))
        table = cast(sa.Table, Allocation.__table__)
        for row in before:
            session.execute(sa.update(table).where(table.c.id == row["id"]).values(**row))
        session.commit()
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE ledger_entries"))
    admin.dispose()


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--holds", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=100_000, help="sacct lines of finished jobs to settle")
    parser.add_argument("--rounds", type=int, default=5, help="settle rounds (the median ratio is kept)")
    args = parser.parse_args()
    # Per-operation info logs would dominate the timings: keep warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if sa.make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("this benchmark runs on PostgreSQL (a 1,000,000-row ledger)")
    figures: dict[str, object] = {"database": "postgresql"}
    with sa.create_engine(args.database_url).connect() as conn:
        figures["server_version"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
    holds = bench_holds(args.database_url, args.entries, args.holds)
    print(f"hold: {holds}", flush=True)
    settle = bench_settle(args.database_url, args.jobs, args.rounds)
    print(f"settle: {settle}", flush=True)
    figures |= holds | settle
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
