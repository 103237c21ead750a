"""The ledger at scale, side by side with its anchors, on PostgreSQL.

    python bench/ledger.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                           [--entries 1000000] [--holds 2000] [--jobs 100000]

1. ``hold``: latency of ``SqlLedger.hold`` + commit (one job submission's share) against an
   allocation whose table holds 1,000,000 ledger entries, versus an empty ledger. Both run in
   one process, interleaved in rounds, each in a fresh schema. Target
   ``ratio_hold_1m_vs_empty <= 1.5`` (a hold touches one allocation row and appends one entry:
   it must not depend on the history's length).
2. ``settle``: 100,000 finished jobs from realistic ``sacct --allocations --parsable2
   --delimiter=$'\\x1f'`` usage lines (``commands.SACCT_USAGE_FIELDS``): parse, cost with the
   partition's billing weights, ``SqlLedger.settle_many`` in batches of 5,000 and commit,
   versus parsing that output alone with ``slurm.parse.parse_sacct_usage``. Target
   ``ratio_settle_vs_parse <= 2``.

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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session, sessionmaker

from myriagate.db import migrate
from myriagate.db.ledger import SettleItem, SqlLedger
from myriagate.db.models.allocations import Allocation, LedgerEntry
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost, Weights, job_cost
from myriagate.slurm import parse
from myriagate.slurm.commands import SACCT_USAGE_FIELDS, SEP

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PROJECTS = 50
SETTLE_BATCH = 5000
WEIGHTS = {
    "court": Weights(),
    "long": Weights(),
    "gpu": Weights(cpu=Decimal(1), mem_per_gb=Decimal("0.25"), gpu=Decimal(1)),
}


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
            cluster="myria",
            name="2026",
            starts_at=datetime(2026, 1, 1, tzinfo=UTC),
            ends_at=datetime(2027, 1, 1, tzinfo=UTC),
        )
        out: dict[str, uuid.UUID] = {}
        ledger = SqlLedger(session)
        for i in range(PROJECTS):
            account = f"proj-{i:03d}"
            project = projects_repo.add_project(
                session, cluster="myria", slurm_account=account, institution="unicaen", created_at=T0
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


def sacct_lines(count: int, accounts: list[str], rng: random.Random) -> tuple[str, list[str]]:
    """``count`` usage lines as ``sacct --allocations`` prints them, and their job ids."""
    lines: list[str] = []
    ids: list[str] = []
    states = ["COMPLETED"] * 14 + ["FAILED", "TIMEOUT", "CANCELLED by 1001", "OUT_OF_MEMORY", "NODE_FAIL"]
    next_id = 500_000
    while len(lines) < count:
        # One in ten submissions is an array of 2..40 tasks (JobID 123_4, JobIDRaw its own id).
        tasks = rng.randint(2, 40) if rng.random() < 0.1 else 0
        parent = next_id
        for task in range(max(tasks, 1)):
            raw = next_id
            next_id += 1
            job_id = f"{parent}_{task}" if tasks else str(raw)
            partition = rng.choice(("court", "court", "long", "gpu"))
            nodes = 1 if rng.random() < 0.8 else rng.randint(2, 8)
            cpus = nodes * rng.choice((1, 4, 14, 28)) if partition != "gpu" else rng.choice((8, 16, 32))
            mem_gb = cpus * rng.choice((2, 4, 5))
            gpus = rng.choice((1, 2, 4)) if partition == "gpu" else 0
            elapsed = rng.randint(0, 48 * 3600)
            start = T0 + timedelta(seconds=rng.randint(0, 30 * 86400))
            end = start + timedelta(seconds=elapsed)
            tres = f"billing={cpus},cpu={cpus},mem={mem_gb}G,node={nodes}" + (
                f",gres/gpu={gpus}" if gpus else ""
            )
            fields = [
                job_id, str(raw), rng.choice(states), rng.choice(("0:0", "0:0", "1:0", "0:9")), str(elapsed),
                str(cpus), str(nodes), tres, partition, rng.choice(accounts), f"user{rng.randint(1, 400)}",
                start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S"),
            ]  # fmt: skip
            assert len(fields) == len(SACCT_USAGE_FIELDS)
            lines.append(SEP.join(fields))
            ids.append(job_id)
            if len(lines) == count:
                break
    return "\n".join(lines) + "\n", ids


def bench_settle(url: str, jobs: int) -> dict[str, object]:
    rng = random.Random(4)
    with fresh_schema(url) as schema_url:
        factory = make_session_factory(make_engine(schema_url))
        allocations = seed(factory)
        text, ids = sacct_lines(jobs, sorted(allocations), rng)
        job_of = {slurm_id: uuid.uuid4() for slurm_id in ids}
        # Every job holds its worst case at submission (not timed: that is submit's cost).
        usages = parse.parse_sacct_usage(text)
        with factory() as session:
            rows = [
                {
                    "allocation_id": allocations[u.account or ""],
                    "job_id": job_of[u.slurm_job_id],
                    "slurm_job_id": None,
                    "kind": "hold",
                    "core_seconds": 48 * 3600 * 256,
                    "gpu_seconds": 48 * 3600 * 4,
                    "author": "bench",
                    "reason": "submitted",
                    "at": T0,
                }
                for u in usages
            ]
            session.execute(sa.insert(LedgerEntry.__table__), rows)
            per_alloc: dict[uuid.UUID, int] = {}
            for row in rows:
                per_alloc[row["allocation_id"]] = per_alloc.get(row["allocation_id"], 0) + 1
            for allocation_id, n in per_alloc.items():
                session.execute(
                    sa.update(Allocation)
                    .where(Allocation.id == allocation_id)
                    .values(held_core_seconds=n * 48 * 3600 * 256, held_gpu_seconds=n * 48 * 3600 * 4)
                )
            session.commit()

        parse_runs: list[float] = []
        for _ in range(3):
            parse.parse_time.cache_clear()
            start = time.perf_counter()
            parse.parse_sacct_usage(text)
            parse_runs.append(time.perf_counter() - start)
        parse_s = statistics.median(parse_runs)

        parse.parse_time.cache_clear()
        start = time.perf_counter()
        usages = parse.parse_sacct_usage(text)
        parsed_at = time.perf_counter()
        items = [
            SettleItem(
                job_of[u.slurm_job_id],
                job_cost(
                    cpus=u.alloc_cpus,
                    mem_mb=u.alloc_mem_mb,
                    gpus=u.alloc_gpus,
                    seconds=u.elapsed_s,
                    weights=WEIGHTS[u.partition or "court"],
                ),
            )
            for u in usages
        ]
        costed_at = time.perf_counter()
        settled = 0
        for first in range(0, len(items), SETTLE_BATCH):
            with factory() as session:
                settled += SqlLedger(session, author="worker").settle_many(
                    items[first : first + SETTLE_BATCH]
                )
                session.commit()
        settle_s = time.perf_counter() - start
        with factory() as session:
            held = session.scalar(sa.select(sa.func.sum(Allocation.held_core_seconds)))
        factory.kw["bind"].dispose()
    assert settled == len(ids) and held == 0, (settled, held)
    return {
        "jobs": jobs,
        "parse_s": round(parse_s, 3),
        "settle_s": round(settle_s, 3),
        "settle_parse_part_s": round(parsed_at - start, 3),
        "settle_cost_part_s": round(costed_at - parsed_at, 3),
        "settle_ledger_part_s": round(settle_s - (costed_at - start), 3),
        "settled_per_s": round(settled / settle_s),
        "ratio_settle_vs_parse": round(settle_s / parse_s, 3),
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--holds", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=100_000)
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
    settle = bench_settle(args.database_url, args.jobs)
    print(f"settle: {settle}", flush=True)
    figures |= holds | settle
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
