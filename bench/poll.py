"""One tracking tick over 1,000 pending jobs, side by side with a bare ``squeue`` of them.

Run as root with the dev cluster up (``bash deploy/devcluster/up.sh``):

    .venv/bin/python bench/poll.py [--jobs 1000] [--repeats 15] [--database-url URL]

It submits N held jobs as alice (raw sbatch), records them as gateway jobs in a fresh
database, then times:
- ``bare_squeue``: the anchor, the very squeue argv the backend uses, run locally by root;
- ``bare_squeue_ssh``: the same argv over the pooled SSH runner as the service login;
- ``tick``: ``services.jobs.tracking.tick`` (database read, squeue over SSH, state updates,
  commit), counting the Slurm commands it runs;
- ``tick_pyslurm``: the same tick through PyslurmBackend (one ``Jobs.load`` RPC in process),
  when pyslurm is installed (``bash deploy/pyslurm.sh``);
- ``bare_rest``: one ``GET /slurm/v0.0.38/jobs`` to slurmrestd (what the REST backend asks
  instead of squeue), as the service login with a minted JWT;
- ``tick_rest``: the same tick through SlurmRestBackend, when slurmrestd answers.

Target: one squeue call per tick, and ``ratio_tick_vs_bare_squeue <= 2``. The last line is
one JSON object. Jobs are cancelled at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pwd
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db import migrate
from myriagate.db.models.jobs import Job
from myriagate.db.repos import users as users_repo
from myriagate.db.session import make_session_factory
from myriagate.domain.states import JobState
from myriagate.ports import CommandResult, SlurmBackend
from myriagate.runners.certificates import CertificateAuthority
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner
from myriagate.services.jobs import tracking
from myriagate.slurm import commands
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from myriagate.slurm.rest_backend import CTL, SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter
from myriagate.wiring import worker_ledger

STATE = Path("/var/lib/myriagate-devcluster")
LOGIN, ACCOUNT, SERVICE = "alice", "caen-climat", "myriagate"
JOB_NAME = "mg-bench-poll"


class CountingRunner:
    """Wraps a runner and counts the Slurm commands run through it."""

    def __init__(self, inner: SshRunner) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def run(
        self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0, check: bool = True
    ) -> CommandResult:
        self.calls[argv[0]] += 1
        return self.inner.run(argv, stdin=stdin, timeout=timeout, check=check)


class Backends:
    def __init__(self, service: SlurmBackend) -> None:
        self.service = service

    def for_login(self, login: str) -> SlurmBackend:
        return self.service

    def for_service(self) -> SlurmBackend:
        return self.service


def submit_held(n: int) -> list[str]:
    pw = pwd.getpwnam(LOGIN)
    env = {"HOME": pw.pw_dir, "USER": LOGIN, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    argv = ["sbatch", "--parsable", "--hold", "-p", "debug", "-A", ACCOUNT, "-t", "1", "-J", JOB_NAME]
    ids = []
    for _ in range(n):
        out = subprocess.run(
            argv, input=b"#!/bin/bash\ntrue\n", capture_output=True, check=True, env=env, cwd=pw.pw_dir,
            user=pw.pw_uid, group=pw.pw_gid, extra_groups=os.getgrouplist(LOGIN, pw.pw_gid),
        )  # fmt: skip
        ids.append(out.stdout.decode().strip().split(";")[0])
    return ids


def timed(fn: object, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _pyslurm_ticks(factory: sessionmaker[Session], repeats: int) -> list[float]:
    """Tick durations through PyslurmBackend (none when pyslurm is not installed)."""
    if importlib.util.find_spec("pyslurm") is None:
        print("pyslurm is not installed (bash deploy/pyslurm.sh): its tick is left out")
        return []
    release = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, check=True).stdout.split()[1]
    backends = Backends(PyslurmBackend(release))
    clock = SystemClock()

    def one_tick() -> None:
        with factory() as session:
            ledger = worker_ledger(clock)
            tracking.tick(session, cluster="devcluster", backends=backends, clock=clock, ledger=ledger)

    one_tick()  # warm-up, as the SSH tick's first one
    return timed(one_tick, repeats)


def _rest_ticks(factory: sessionmaker[Session], repeats: int) -> tuple[list[float], list[float]]:
    """(bare GET /jobs, tick) durations through slurmrestd as the service login ([] when down)."""
    key = Path("/var/spool/slurmctld/jwt_hs256.key")
    client = (
        SlurmRestClient("http://127.0.0.1:6820", JwtMinter.from_file(key).token) if key.exists() else None
    )
    backend = SlurmRestBackend(client, SERVICE) if client is not None else None
    if backend is None or client is None or not backend.ping().reachable:
        print("slurmrestd does not answer on 127.0.0.1:6820: its tick is left out")
        return [], []
    backends = Backends(backend)
    clock = SystemClock()

    def one_tick() -> None:
        with factory() as session:
            ledger = worker_ledger(clock)
            tracking.tick(session, cluster="devcluster", backends=backends, clock=clock, ledger=ledger)

    bare = timed(lambda: client.get(f"{CTL}/jobs", SERVICE), repeats)
    one_tick()  # warm-up
    ticks = timed(one_tick, repeats)
    client.close()
    return bare, ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/poll.db"
    migrate.upgrade(url)
    factory = make_session_factory(url)
    pool = SshConnectionPool(
        "127.0.0.1", 2222, STATE / "known_hosts", CertificateAuthority(STATE / "ssh_user_ca")
    )
    runner = CountingRunner(SshRunner(pool, SERVICE))
    backends = Backends(SlurmCliBackend(runner))
    t0 = time.perf_counter()
    ids = submit_held(args.jobs)
    submit_s = time.perf_counter() - t0
    try:
        now = datetime.now(UTC)
        with factory() as session:
            user = users_repo.add(
                session, username=f"bench-{uuid.uuid4().hex[:8]}", cluster_login=LOGIN, created_at=now
            )
            for slurm_id in ids:
                job_id = uuid.uuid4()
                session.add(
                    Job(
                        id=job_id, user_id=user.id, cluster="devcluster", cluster_login=LOGIN,
                        slurm_account=ACCOUNT, partition="debug", job_name=JOB_NAME, tag=f"mg:{job_id}",
                        slurm_job_id=slurm_id, state=JobState.PENDING, script_text="true", sbatch_args=[],
                        spec={}, submitted_at=now, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            session.commit()

        squeue_argv = list(commands.squeue_status(ids))
        bare = timed(lambda: subprocess.run(squeue_argv, capture_output=True, check=True), args.repeats)
        bare_ssh = timed(lambda: runner.inner.run(squeue_argv), args.repeats)

        clock = SystemClock()
        runner.calls.clear()
        with factory() as session:  # first tick records the raw states; not timed
            first = tracking.tick(
                session, cluster="devcluster", backends=backends, clock=clock, ledger=worker_ledger(clock)
            )
        first_calls = dict(runner.calls)

        def one_tick() -> None:
            with factory() as session:
                tracking.tick(
                    session, cluster="devcluster", backends=backends, clock=clock, ledger=worker_ledger(clock)
                )

        runner.calls.clear()
        ticks = timed(one_tick, args.repeats)
        calls_per_tick = {k: v / args.repeats for k, v in runner.calls.items()}
        ticks_pyslurm = _pyslurm_ticks(factory, args.repeats)
        bare_rest, ticks_rest = _rest_ticks(factory, args.repeats)
    finally:
        subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)
        pool.close()

    result = {
        "bench": "poll",
        "jobs": args.jobs,
        "database": url.split(":")[0],
        "submit_held_s": round(submit_s, 1),
        "first_tick_polled": first.polled,
        "first_tick_calls": first_calls,
        "calls_per_tick": calls_per_tick,
        "bare_squeue_p50_ms": round(statistics.median(bare), 1),
        "bare_squeue_ssh_p50_ms": round(statistics.median(bare_ssh), 1),
        "tick_p50_ms": round(statistics.median(ticks), 1),
    }
    result["ratio_tick_vs_bare_squeue"] = round(result["tick_p50_ms"] / result["bare_squeue_p50_ms"], 3)
    result["ratio_tick_vs_bare_squeue_ssh"] = round(
        result["tick_p50_ms"] / result["bare_squeue_ssh_p50_ms"], 3
    )
    if ticks_pyslurm:
        result["tick_pyslurm_p50_ms"] = round(statistics.median(ticks_pyslurm), 1)
        result["ratio_tick_pyslurm_vs_bare_squeue"] = round(
            result["tick_pyslurm_p50_ms"] / result["bare_squeue_p50_ms"], 3
        )
        result["ratio_tick_pyslurm_vs_tick"] = round(result["tick_pyslurm_p50_ms"] / result["tick_p50_ms"], 3)
    if ticks_rest:
        result["bare_rest_p50_ms"] = round(statistics.median(bare_rest), 1)
        result["tick_rest_p50_ms"] = round(statistics.median(ticks_rest), 1)
        result["ratio_tick_rest_vs_bare_squeue"] = round(
            result["tick_rest_p50_ms"] / result["bare_squeue_p50_ms"], 3
        )
        result["ratio_tick_rest_vs_bare_rest"] = round(
            result["tick_rest_p50_ms"] / result["bare_rest_p50_ms"], 3
        )
        result["ratio_tick_rest_vs_tick"] = round(result["tick_rest_p50_ms"] / result["tick_p50_ms"], 3)
    print(
        f"{args.jobs} pending jobs: bare squeue {result['bare_squeue_p50_ms']} ms, over ssh "
        f"{result['bare_squeue_ssh_p50_ms']} ms, tick {result['tick_p50_ms']} ms; calls/tick {calls_per_tick}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
