"""Load: concurrent API clients against two API processes and two workers, then nothing lost.

Run as root on a machine with the dev cluster up and PostgreSQL on 127.0.0.1:5432:

    python bench/load.py [--clients 200] [--duration 60] [--settle-timeout 300] [--write-doc]

- A fresh PostgreSQL schema (dropped at the end), alice with a token and a grant far larger
  than the run can use (allocations enforced: every submission holds its worst case).
- Two gateways (``tests/cli/live_gateway.py``), each one API process (uvicorn) and one
  ``myriagate worker``, on that schema and the real dev cluster over SSH.
- ``--clients`` asyncio tasks (httpx), spread over both API processes, for ``--duration``
  seconds, each looping over a mix: submit (``true`` or ``sleep 1`` on ``debug``, every job
  with its own name), list, show, logs, and ``GET /healthz`` (the anchor: the same concurrency,
  no database, no cluster). A separate process probes ``GET /healthz`` on both API processes
  every 0.25 s meanwhile, as a load balancer would (``probe_healthz_*``). Any answer that is
  not 2xx and not an expected business answer (404/409 on logs of a job with no output yet)
  is an error, as is any exception.
- Then, bounded by ``--settle-timeout``: every accepted job must get a Slurm id, reach a final
  state and have its hold closed; ``tests/faults/consistency.py`` checks each is in the
  database and in Slurm exactly once (by tag) and the ledger totals equal the entries.
- A second anchor: direct ``sbatch`` through ``SlurmCliBackend`` over one pooled SSH runner
  (``--anchor-submits`` calls on 8 threads), after the load.

The last line is one JSON object; ratios are named ``ratio_<what>_vs_<anchor>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the harness

from bench.api import ACCOUNT, CLUSTER, HOST, LOGIN, PORT, STATE, fresh_schema, seed
from myriagate.db.migrate import upgrade
from myriagate.db.models.jobs import Job
from myriagate.db.session import make_engine, make_session_factory
from myriagate.domain.jobs import RenderedScript
from myriagate.runners.certificates import CertificateAuthority
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner
from myriagate.slurm.cli_backend import SlurmCliBackend
from tests.cli.live_gateway import LiveGateway
from tests.faults import consistency
from tests.faults.report_doc import update_section

RUN = f"mg-load-{uuid.uuid4().hex[:8]}"
OPS = ("submit", "list", "show", "logs", "healthz")
WEIGHTS = (0.25, 0.25, 0.2, 0.15, 0.15)
SCRIPTS = ("#!/bin/bash\ntrue\n", "#!/bin/bash\nsleep 1\n")
BUSINESS = {"logs": {404, 409}}  # no output file yet: an answer, not a failure


class Load:
    """The clients' shared record: latencies per operation, errors, accepted job ids."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.business: dict[str, int] = defaultdict(int)
        self.errors: list[str] = []
        self.accepted: list[uuid.UUID] = []
        self.names = 0

    def next_name(self) -> str:
        self.names += 1
        return f"{RUN}-{self.names}"


async def one_call(
    load: Load, op: str, client: httpx.AsyncClient, mine: list[str], rng: random.Random
) -> None:
    t0 = time.perf_counter()
    try:
        if op == "submit":
            body = {
                "script": rng.choice(SCRIPTS),
                "options": {
                    "partition": "debug",
                    "time": "2",
                    "job_name": load.next_name(),
                    "account": ACCOUNT,
                },
            }
            r = await client.post("/api/v1/jobs", json=body)
        elif op == "list":
            r = await client.get("/api/v1/jobs", params={"limit": 50})
        elif op == "show":
            r = await client.get(f"/api/v1/jobs/{rng.choice(mine)}")
        elif op == "logs":
            r = await client.get(f"/api/v1/jobs/{rng.choice(mine)}/output", params={"max_bytes": 4096})
        else:
            r = await client.get("/healthz")
    except httpx.HTTPError as exc:
        load.errors.append(f"{op}: {type(exc).__name__}: {exc}")
        return
    elapsed = time.perf_counter() - t0
    if r.is_success:
        load.latencies[op].append(elapsed)
        if op == "submit":
            job_id = r.json()["id"]
            load.accepted.append(uuid.UUID(job_id))
            mine.append(job_id)
    elif r.status_code in BUSINESS.get(op, ()):
        load.latencies[op].append(elapsed)
        load.business[op] += 1
    else:
        load.errors.append(f"{op}: HTTP {r.status_code}: {r.text[:200]}")


async def client_loop(load: Load, client: httpx.AsyncClient, seed_n: int, until: float) -> None:
    rng = random.Random(seed_n)
    mine: list[str] = []
    while time.monotonic() < until:
        op = rng.choices(OPS, WEIGHTS)[0]
        if op in ("show", "logs") and not mine:
            op = "submit"
        await one_call(load, op, client, mine, rng)


async def run_clients(urls: list[str], token: str, clients: int, duration: float) -> tuple[Load, float]:
    load = Load()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    http = [httpx.AsyncClient(base_url=u, headers=headers, limits=limits, timeout=120) for u in urls]
    start = time.monotonic()
    until = start + duration
    await asyncio.gather(*(client_loop(load, http[i % len(http)], i, until) for i in range(clients)))
    elapsed = time.monotonic() - start
    for c in http:
        await c.aclose()
    return load, elapsed


def probe_healthz(urls: list[str], duration: float, interval_s: float = 0.25) -> list[float]:
    """Seconds of each ``GET /healthz`` a separate prober sent every ``interval_s`` to each URL.

    Run in its own process, as a load balancer's probe is: the 200 clients' event loop does
    not delay it, so what it measures is how long the gateway takes to answer a probe.
    """
    latencies: list[float] = []
    with httpx.Client(timeout=60) as client:
        until = time.monotonic() + duration
        while time.monotonic() < until:
            for url in urls:
                t0 = time.perf_counter()
                client.get(f"{url}/healthz").raise_for_status()
                latencies.append(time.perf_counter() - t0)
            time.sleep(interval_s)
    return latencies


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def direct_sbatch(calls: int) -> float:
    """Jobs/s of SlurmCliBackend.submit over one pooled SSH runner (8 threads)."""
    pool = SshConnectionPool(HOST, PORT, STATE / "known_hosts", CertificateAuthority(STATE / "ssh_user_ca"))
    try:
        backend = SlurmCliBackend(SshRunner(pool, LOGIN))
        args = ("--partition=debug", "--time=2", f"--job-name={RUN}-anchor", f"--account={ACCOUNT}")

        def submit(_: int) -> None:
            backend.submit(RenderedScript(text=SCRIPTS[0], sbatch_args=args), tag=f"mg-anchor:{uuid.uuid4()}")

        submit(0)  # warm the pooled connection
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(submit, range(calls)))
        return calls / (time.perf_counter() - t0)
    finally:
        pool.close()


def cancel_leftovers() -> int:
    """scancel, by name, every job of this run still queued (names are unique to the run)."""
    out = subprocess.run(["squeue", "-h", "-a", "-o", "%j"], capture_output=True, text=True, check=False)
    names = sorted({n for n in out.stdout.split() if n.startswith(RUN)})
    for name in names:
        subprocess.run(["scancel", f"--name={name}"], check=False)
    return len(names)


def log_events(logs: list[Path]) -> Iterator[dict[str, Any]]:
    """Every JSON event the gateways logged (other lines skipped)."""
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def server_exceptions(logs: list[Path]) -> dict[str, int]:
    """The last line of every traceback the gateways logged (JSON logs), counted."""
    kinds: Counter[str] = Counter()
    for event in log_events(logs):
        if event.get("exception"):
            kinds[str(event["exception"]).strip().splitlines()[-1][:120]] += 1
    return dict(kinds.most_common(5))


def connections_held_long(logs: list[Path]) -> dict[str, list[float]]:
    """Where pooled database connections were kept >= 2 s (``db.connection_held_long``): by
    method and path (or the worker), [times, longest seconds], the five most frequent."""
    held: dict[str, list[float]] = {}
    for event in log_events(logs):
        if event.get("event") != "db.connection_held_long":
            continue
        where = f"{event.get('method', '')} {event.get('path', 'worker')}".strip()
        seen = held.setdefault(where, [0, 0.0])
        seen[0] += 1
        seen[1] = max(seen[1], float(event.get("held_s", 0)))
    return dict(sorted(held.items(), key=lambda kv: -kv[1][0])[:5])


def doc_section(result: dict[str, Any], command: str) -> str:
    rows = "\n".join(
        f"| {op} | {result.get(f'{op}_count', 0)} | {result.get(f'{op}_per_s', 0)} | "
        f"{result.get(f'{op}_p50_ms')} | {result.get(f'{op}_p95_ms')} | {result.get(f'{op}_p99_ms')} |"
        for op in OPS
    )
    return f"""## Load

`{command}` on {time.strftime("%Y-%m-%d")}: {result["clients"]} concurrent clients for
{result["duration_s"]} s against two API processes and two workers on one fresh PostgreSQL
schema and the real dev cluster (SSH, allocations enforced), on a {result["cpus"]}-CPU machine
that also runs Slurm, sshd, PostgreSQL and the clients themselves.

| operation | calls | per s | p50 ms | p95 ms | p99 ms |
|---|---:|---:|---:|---:|---:|
{rows}

- Errors: **{result["errors"]}** (non-2xx answers that are not business answers, or exceptions):
  {result["error_kinds"]}; business answers (logs of a job without output yet):
  {result["business_answers"]}. Exceptions in the gateways' logs: {result["server_exceptions"]}.
- Jobs accepted: {result["jobs_accepted"]}; in Slurm exactly once: {result["jobs_in_slurm_once"]};
  never sent (failed/cancelled with a reason): {result["jobs_never_sent"]};
  rows of requests answered with an error (their sbatch may have run, reconciled by tag):
  {result["jobs_unacknowledged"]}; lost: **{result["jobs_lost"]}**;
  duplicated: **{result["jobs_duplicated"]}**;
  unsettled after the wait: {result["jobs_unsettled"]} (settled in {result["settle_s"]} s).
- Ledger: {result["holds"]} holds, {result["charges"]} charges, {result["releases"]} releases,
  {result["holds_open"]} still open; totals recomputed from the entries equal the maintained ones:
  **{result["ledger_consistent"]}**. Consistency problems: **{result["problems"]}**.
- Anchors in the same run: `GET /healthz` under the same concurrency (p50 {result["healthz_p50_ms"]} ms),
  direct `sbatch` over one pooled SSH connection, 8 threads: {result["direct_sbatch_per_s"]} jobs/s.
  `ratio_submit_p50_vs_healthz_p50` = {result["ratio_submit_p50_vs_healthz_p50"]},
  `ratio_submit_per_s_vs_direct_sbatch` = {result["ratio_submit_per_s_vs_direct_sbatch"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--anchor-submits", type=int, default=100)
    parser.add_argument("--log-dir", help="keep the gateways' logs there (default: a temporary directory)")
    parser.add_argument(
        "--write-doc", action="store_true", help="update the load section of docs/reliability.md"
    )
    args = parser.parse_args()

    import os

    result: dict[str, Any] = {"bench": "load", "clients": args.clients, "duration_s": args.duration,
                              "cpus": os.cpu_count()}  # fmt: skip
    db_url, drop_schema = fresh_schema()
    try:
        upgrade(db_url)
        engine = make_engine(db_url)
        factory = make_session_factory(engine)
        token, _, _ = seed(factory, 1)
        env = {
            "MYRIAGATE_DEV_MODE": "true",
            "MYRIAGATE_DATABASE_URL": db_url,
            "MYRIAGATE_SSH_CA_KEY_PATH": str(STATE / "ssh_user_ca"),
            "MYRIAGATE_DEFAULT_CLUSTER": CLUSTER,
            "MYRIAGATE_LOG_LEVEL": "WARNING",
            "MYRIAGATE_NOTIFICATIONS_ENABLED": "false",
            # 200 clients share alice's token: the per-user budget would measure itself.
            "MYRIAGATE_RATE_LIMIT_ENABLED": "false",
        }
        with TemporaryDirectory() as tmp, ExitStack() as stack:
            logs = Path(args.log_dir or tmp)
            env["MYRIAGATE_SPOOL_DIR"] = str(Path(tmp) / "spool")
            gateways = [
                stack.enter_context(LiveGateway(env, logs / f"gateway{i}.log", workers=1, worker=True))
                for i in range(2)
            ]
            with ProcessPoolExecutor(1) as prober:
                probed = prober.submit(probe_healthz, [g.url for g in gateways], args.duration)
                load, elapsed = asyncio.run(
                    run_clients([g.url for g in gateways], token, args.clients, args.duration)
                )
                probes = probed.result()
            for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                result[f"probe_healthz_{name}_ms"] = round(pct(probes, q), 1)
            result["probe_healthz_count"] = len(probes)
            for op in OPS:
                lat = load.latencies[op]
                result[f"{op}_count"] = len(lat)
                result[f"{op}_per_s"] = round(len(lat) / elapsed, 2)
                for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                    result[f"{op}_{name}_ms"] = round(pct(lat, q), 1)
            result["calls_per_s"] = round(sum(len(v) for v in load.latencies.values()) / elapsed, 2)
            result["errors"] = len(load.errors)
            kinds = Counter(e.split(": ", 2)[0] + " " + e.split(": ", 2)[1][:40] for e in load.errors)
            result["error_kinds"] = dict(kinds.most_common(6))
            result["error_samples"] = load.errors[:3]
            result["business_answers"] = sum(load.business.values())

            t0 = time.monotonic()
            # Every row counts, also those of requests that got no 2xx (their sbatch may have run):
            # the worker reconciles them by tag after its uncertainty delay (120 s).
            with factory() as session:
                every = list(session.scalars(sa.select(Job.id)))
            result["jobs_unacknowledged"] = len(set(every) - set(load.accepted))
            unsettled = consistency.wait_settled(factory, every, timeout_s=args.settle_timeout)
            result["settle_s"] = round(time.monotonic() - t0, 1)
            result["jobs_unsettled"] = unsettled
            time.sleep(3)  # slurmdbd records a job a moment after slurmctld
            report = consistency.check(factory, load.accepted, since="now-1hours")
            result.update({k: v for k, v in report.figures().items() if k not in result})
            result["problem_samples"] = report.problems[:5]
            result["server_exceptions"] = server_exceptions([g.log_path for g in gateways])
            result["connections_held_long"] = connections_held_long([g.log_path for g in gateways])
        result["direct_sbatch_per_s"] = round(direct_sbatch(args.anchor_submits), 2)
        result["ratio_submit_p50_vs_healthz_p50"] = round(
            result["submit_p50_ms"] / result["healthz_p50_ms"], 2
        )
        result["ratio_submit_per_s_vs_direct_sbatch"] = round(
            result["submit_per_s"] / result["direct_sbatch_per_s"], 3
        )
        engine.dispose()
    finally:
        result["leftover_names_cancelled"] = cancel_leftovers()
        subprocess.run(["scancel", f"--name={RUN}-anchor"], check=False)
        drop_schema()
    if args.write_doc:
        command = "python bench/load.py " + " ".join(
            f"--clients {args.clients} --duration {args.duration:g}".split()
        )
        update_section("load", doc_section(result, command))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
