"""REST API throughput and list latency, side by side with direct backend and service calls.

Run as root on a machine with the dev cluster up and PostgreSQL on 127.0.0.1:5432:

    python bench/api.py [--clients 50] [--calls 200] [--jobs 100000]

1. A real server (uvicorn, ``--server-workers`` processes) on a free port, backed by the dev
   cluster over SSH and by PostgreSQL in a fresh schema (dropped at the end).
   - ``api_submit``: ``--clients`` threads, each call with one of ``--clients`` httpx clients
     made beforehand (alice's token), ``POST /api/v1/jobs`` (a sleeping job on ``debug``);
     anchor ``direct_backend``: the same number of threads calling ``SlurmCliBackend.submit``
     over one pooled SSH runner.
   - ``api_list``: the same threads calling ``GET /api/v1/jobs?limit=50``; anchor
     ``direct_query``: the list service (``jobs_query.list_jobs``) called in this process.
   Every job carries one unique name and is cancelled at the end with ``scancel --name``.
2. ``--jobs`` rows inserted straight into the ``jobs`` table (over 100 users, alice owning 1 %),
   then the p95 of a first page, a filtered page and a deep page (by cursor), through the API
   and through the service, for alice and for a platform admin who sees them all.

During the two submit phases the CPU time of each process group is read from /proc
(``bench/cpu_shares.py``): ``cpu_ms_per_call_<phase>_<group>`` for the gateway's processes,
this benchmark's (its HTTP or SSH clients), PostgreSQL, sshd with the sbatch it runs,
slurmctld and the whole machine (other people's work included; ``load_1m_at_start`` says how
busy it was). On a machine this small they all share the cores, so the submit ratio follows
the CPU per call of each phase.

The last line is one JSON object; ratios are named ``ratio_<what>_vs_<anchor>``.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the harness

from bench.cpu_shares import CpuShares, per_op
from myriagate.db.ledger import SqlLedger
from myriagate.db.migrate import upgrade
from myriagate.db.models.jobs import Job
from myriagate.db.repos import allocations as allocations_repo
from myriagate.db.repos import projects as projects_repo
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.costs import Cost
from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.runners.certificates import CertificateAuthority
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner
from myriagate.services.jobs import queries as jobs_query
from myriagate.services.people import auth as auth_service
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.cli.live_gateway import LiveGateway

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATE = Path("/var/lib/myriagate-devcluster")
HOST, PORT = "127.0.0.1", 2222
CLUSTER, LOGIN, ACCOUNT = "devcluster", "alice", "caen-climat"
JOB_NAME = f"mg-bench-api-{uuid.uuid4().hex[:8]}"
SCRIPT = "#!/bin/bash\nsleep 600\n"
OPTIONS = {"partition": "debug", "time": "10", "job_name": JOB_NAME, "account": ACCOUNT}
SBATCH_ARGS = ("--partition=debug", "--time=10", f"--job-name={JOB_NAME}", f"--account={ACCOUNT}")


def fresh_schema() -> tuple[str, Callable[[], None]]:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def seed(factory: Any, n_users: int) -> tuple[str, str, list[Any]]:
    """alice and a platform admin with tokens, plus other researchers; returns their ids."""
    now = datetime.now(UTC)
    with factory() as session:
        projects_repo.add_institution(session, code="unicaen", name="Université de Caen Normandie")
        project = projects_repo.add_project(
            session, cluster=CLUSTER, slurm_account=ACCOUNT, institution="unicaen", created_at=now
        )
        # Allocations are enforced, as in production: every API submission holds its cost.
        period = allocations_repo.create_period(
            session,
            cluster=CLUSTER,
            name="bench",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )
        allocation = allocations_repo.create_allocation(
            session, project_id=project.id, period_id=period.id, created_at=now
        )
        SqlLedger(session).grant(
            allocation.id, Cost(10**12, 0), author="bench", reason="bench", enforce_quota=False
        )
        alice = users_repo.add(session, username="alice@unicaen.fr", cluster_login=LOGIN, created_at=now)
        users_repo.add_membership(session, alice, cluster=CLUSTER, slurm_account=ACCOUNT)
        admin = users_repo.add(session, username="admin@criann.fr", cluster_login="admin", created_at=now)
        admin.is_platform_admin = True
        others = [
            users_repo.add(session, username=f"user{i}@unicaen.fr", cluster_login=f"user{i}", created_at=now)
            for i in range(n_users - 1)
        ]
        session.commit()
        alice_token = auth_service.create_token(session, alice, name="bench").secret
        admin_token = auth_service.create_token(session, admin, name="bench").secret
        return alice_token, admin_token, [alice.id, *(u.id for u in others)]


def measure(call: Callable[[], None], calls: int, workers: int) -> dict[str, float]:
    call()  # warm-up (connections, caches)
    latencies: list[float] = []
    errors = 0

    def timed() -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            call()
        except Exception:
            errors += 1
            return
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(timed) for _ in range(calls)]:
            future.result()
    total = time.perf_counter() - start
    latencies.sort() if latencies else latencies.append(float("nan"))
    return {
        "per_s": len(latencies) / total,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "errors": errors,
    }


def with_cpu(shares: CpuShares, name: str, result: dict[str, Any], run: Callable[[], None], calls: int,
             clients: int) -> dict[str, float]:  # fmt: skip
    """``measure(run, calls, clients)``; its CPU per call by process group goes in ``result``
    as ``cpu_ms_per_call_<name>_<group>`` (gateway, bench, postgres, ssh_sbatch, slurmctld,
    machine), the warm-up call included."""
    before = shares.snapshot()
    figures = measure(run, calls, clients)
    for group, ms in per_op(before, shares.snapshot(), calls + 1).items():
        result[f"cpu_ms_per_call_{name}_{group}"] = ms
    return figures


class ClientPool:
    """``size`` HTTP clients with the token, made before any timing and lent one per call.

    Making an ``httpx.Client`` costs ~24 ms of CPU (it builds an SSL context, even for
    http://): made lazily per thread, the 50 clients' 1.2 s of CPU fell inside the timed
    submissions and, on two cores, was taken from the gateway (and again in the list phase,
    whose threads are new).
    """

    def __init__(self, url: str, token: str, size: int) -> None:
        self._free: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        self._all = [
            httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120)
            for _ in range(size)
        ]
        for client in self._all:
            self._free.put(client)

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        lent = self._free.get()
        try:
            yield lent
        finally:
            self._free.put(lent)

    def close(self) -> None:
        for client in self._all:
            client.close()


def insert_jobs(engine: sa.Engine, user_ids: list[Any], count: int) -> None:
    """``count`` finished or running jobs spread over ``user_ids`` (alice, first, owns 1 %)."""
    rng = random.Random(42)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    states = [JobState.COMPLETED] * 6 + [
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.RUNNING,
        JobState.PENDING,
    ]
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for n in range(count):
            owner = user_ids[0] if n % 100 == 0 else rng.choice(user_ids[1:])
            created = start + timedelta(seconds=n * 30)
            job_id = uuid.uuid4()
            batch.append(
                {
                    "id": job_id, "user_id": owner, "cluster": CLUSTER, "cluster_login": "x",
                    "slurm_account": ACCOUNT, "partition": "debug", "job_name": f"bench-{n}",
                    "tag": f"mg:{job_id}", "slurm_job_id": str(100000 + n), "state": rng.choice(states),
                    "script_text": SCRIPT, "sbatch_args": list(SBATCH_ARGS), "spec": {},
                    "submitted_at": created, "created_at": created, "updated_at": created,
                }
            )  # fmt: skip
            if len(batch) == 5000:
                conn.execute(sa.insert(Job), batch)
                batch.clear()
        if batch:
            conn.execute(sa.insert(Job), batch)
        conn.execute(sa.text("ANALYZE jobs"))


def list_latency(
    args: argparse.Namespace, url: str, factory: Any, tokens: dict[str, str]
) -> dict[str, float]:
    """p95 of list pages through the API and the service, for alice and the admin."""
    result: dict[str, float] = {}
    for who, token in tokens.items():
        client = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        username = "alice@unicaen.fr" if who == "alice" else "admin@criann.fr"
        deep = None
        page = client.get("/jobs", params={"limit": 200}).json()
        for _ in range(4):  # a cursor five pages down
            if page["next_cursor"] is None:
                break
            deep = page["next_cursor"]
            page = client.get("/jobs", params={"limit": 200, "cursor": deep}).json()
        cases: dict[str, dict[str, Any]] = {"first": {"limit": 50}, "state": {"limit": 50, "state": "failed"}}
        if deep is not None:
            cases["deep"] = {"limit": 50, "cursor": deep}
        for case, params in cases.items():
            api = measure(
                lambda p=params, c=client: c.get("/jobs", params=p).raise_for_status(), args.list_calls, 1
            )

            def direct(p: dict[str, Any] = params, username: str = username) -> None:
                filters = jobs_query.JobFilters(states=(JobState(p["state"]),) if "state" in p else ())
                with factory() as session:
                    owner = users_repo.get_by_username(session, username)
                    jobs_query.list_jobs(
                        session, user=owner, filters=filters, limit=50, cursor=p.get("cursor")
                    )

            base = measure(direct, args.list_calls, 1)
            result[f"list100k_{who}_{case}_api_p95_ms"] = round(api["p95_ms"], 2)
            result[f"list100k_{who}_{case}_direct_p95_ms"] = round(base["p95_ms"], 2)
        client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200, help="submits (and lists) per method")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--list-calls", type=int, default=200)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--server-workers", type=int, default=2)
    args = parser.parse_args()

    db_url, drop_schema = fresh_schema()
    pool: SshConnectionPool | None = None
    result: dict[str, Any] = {"bench": "api", "clients": args.clients, "calls": args.calls, "jobs": args.jobs}
    try:
        upgrade(db_url)
        engine = make_engine(db_url)
        factory = make_session_factory(engine)
        alice_token, admin_token, user_ids = seed(factory, args.users)
        env = {
            "MYRIAGATE_DEV_MODE": "true",
            "MYRIAGATE_DATABASE_URL": db_url,
            "MYRIAGATE_SSH_CA_KEY_PATH": str(STATE / "ssh_user_ca"),
            "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
            "MYRIAGATE_LOG_LEVEL": "WARNING",
            # One user's token drives every client: the per-user budget would measure itself.
            "MYRIAGATE_RATE_LIMIT_ENABLED": "false",
        }
        with (
            TemporaryDirectory() as tmp,
            LiveGateway(env, Path(tmp) / "gateway.log", workers=args.server_workers, worker=False) as live,
        ):
            clients = ClientPool(live.url, alice_token, args.clients)
            body = {"script": SCRIPT, "options": OPTIONS}

            def api_submit() -> None:
                with clients.client() as client:
                    client.post("/jobs", json=body).raise_for_status()

            pool = SshConnectionPool(
                HOST, PORT, STATE / "known_hosts", CertificateAuthority(STATE / "ssh_user_ca")
            )
            backend = SlurmCliBackend(SshRunner(pool, LOGIN))

            def direct_submit() -> None:
                backend.submit(RenderedScript(text=SCRIPT, sbatch_args=SBATCH_ARGS), tag=f"mg:{uuid.uuid4()}")

            def api_list() -> None:
                with clients.client() as client:
                    client.get("/jobs", params={"limit": 50}).raise_for_status()

            def direct_list() -> None:
                with factory() as session:  # the user is looked up, as the API does from the token
                    jobs_query.list_jobs(session, user=users_repo.get(session, user_ids[0]), limit=50)

            shares = CpuShares(live.procs[0].pid)
            result["load_1m_at_start"] = os.getloadavg()[0]
            figures = {
                "api_submit": with_cpu(shares, "api_submit", result, api_submit, args.calls, args.clients),
                "direct_backend": with_cpu(
                    shares, "direct_backend", result, direct_submit, args.calls, args.clients
                ),
                "api_list": measure(api_list, args.calls, args.clients),
                "direct_query": measure(direct_list, args.calls, args.clients),
            }
            subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)
            for name, fig in figures.items():
                for key, value in fig.items():
                    result[f"{name}_{key}"] = round(value, 2)
            result["ratio_api_submit_vs_direct_backend"] = round(
                figures["api_submit"]["per_s"] / figures["direct_backend"]["per_s"], 3
            )
            # With --clients 1: the time the gateway adds to one sbatch.
            result["api_submit_p50_minus_direct_backend_p50_ms"] = round(
                figures["api_submit"]["p50_ms"] - figures["direct_backend"]["p50_ms"], 2
            )
            result["ratio_api_list_vs_direct_query"] = round(
                figures["api_list"]["per_s"] / figures["direct_query"]["per_s"], 3
            )

            t0 = time.perf_counter()
            insert_jobs(engine, user_ids, args.jobs)
            result["insert_s"] = round(time.perf_counter() - t0, 1)
            result.update(list_latency(args, live.url, factory, {"alice": alice_token, "admin": admin_token}))
            for who in ("alice", "admin"):
                api, direct = (result[f"list100k_{who}_first_{k}_p95_ms"] for k in ("api", "direct"))
                result[f"ratio_list100k_{who}_p95_api_vs_direct_query"] = round(api / direct, 3)
            clients.close()
        engine.dispose()
    finally:
        subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)
        if pool is not None:
            pool.close()
        drop_schema()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
