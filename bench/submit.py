"""Submission throughput and latency, gateway backends side by side with raw ``sbatch``.

Run as root on a machine with the dev cluster up (``bash deploy/devcluster/up.sh``):

    .venv/bin/python bench/submit.py [--calls 100] [--rounds 3]

Methods, all submitting the same held job (``--hold``, so nothing runs) as ``alice``:
- ``local_sbatch``: the anchor, raw ``setpriv … sbatch`` run as alice (no gateway code);
- ``local_backend``: SlurmCliBackend over LocalRunner(as_login="alice");
- ``pooled_ssh``: SlurmCliBackend over SshRunner on one pooled, certificate-authenticated
  paramiko transport, sequential calls;
- ``pooled_ssh_8``: the same pool, 8 concurrent submitters;
- ``new_ssh``: a new SSH connection (new pool, new certificate, new handshake) per call;
- ``pyslurm``: PyslurmBackend (Slurm's C API in process, as root submitting as alice), when
  pyslurm is installed (``bash deploy/pyslurm.sh``); left out, and said so, otherwise;
- ``rest`` / ``rest_8``: SlurmRestBackend over the dev cluster's slurmrestd (127.0.0.1:6820,
  a JWT minted for alice, one pooled HTTP client), sequential and 8 concurrent submitters;
  left out, and said so, when slurmrestd does not answer.

The last line is one JSON object; targets: ``ratio_pooled_ssh_vs_local_sbatch >= 0.8`` and
``ratio_pooled_ssh_vs_new_ssh >= 5``; ``ratio_pyslurm_vs_local_sbatch`` and
``ratio_rest_vs_local_sbatch`` are reported as measured.
Jobs are cancelled at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pwd
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from myriagate.domain.jobs import RenderedScript
from myriagate.ports import SlurmBackend
from myriagate.runners.certificates import CertificateAuthority
from myriagate.runners.local import LocalRunner
from myriagate.runners.pool import SshConnectionPool
from myriagate.runners.ssh import SshRunner
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter

LOGIN = "alice"
ACCOUNT = "caen-climat"
JOB_NAME = "mg-bench-submit"
STATE = Path("/var/lib/myriagate-devcluster")
HOST, PORT = "127.0.0.1", 2222
SCRIPT = RenderedScript(
    text="#!/bin/bash\ntrue\n",
    sbatch_args=("--partition=debug", f"--account={ACCOUNT}", "--time=1", "--hold", f"--job-name={JOB_NAME}"),
)


def raw_sbatch() -> Callable[[], None]:
    """sbatch run as alice the quickest plain way (setpriv, as in the dev cluster notes)."""
    pw = pwd.getpwnam(LOGIN)
    env = {"HOME": pw.pw_dir, "USER": LOGIN, "LOGNAME": LOGIN, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    argv = [
        "setpriv", "--reuid", LOGIN, "--regid", LOGIN, "--init-groups", "--",
        "sbatch", "--parsable", "--comment=mg:bench", *SCRIPT.sbatch_args,
    ]  # fmt: skip
    stdin = SCRIPT.text.encode()

    def call() -> None:
        out = subprocess.run(argv, input=stdin, capture_output=True, check=True, env=env, cwd=pw.pw_dir)
        int(out.stdout.split(b";")[0])

    return call


def rest_backend() -> SlurmRestBackend | None:
    """The slurmrestd backend as alice (files off: the bench submits only), or None."""
    key = Path("/var/spool/slurmctld/jwt_hs256.key")
    if not key.exists():
        return None
    client = SlurmRestClient("http://127.0.0.1:6820", JwtMinter.from_file(key).token)
    backend = SlurmRestBackend(client, LOGIN)
    return backend if backend.ping().reachable else None


def backend_call(backend: SlurmBackend) -> Callable[[], None]:
    def call() -> None:
        int(backend.submit(SCRIPT, tag="mg:bench"))

    return call


def new_ssh_call(ca: CertificateAuthority) -> Callable[[], None]:
    def call() -> None:
        # A new pool is a new TCP connection, handshake and authentication every time.
        pool = SshConnectionPool(HOST, PORT, STATE / "known_hosts", ca)
        try:
            int(SlurmCliBackend(SshRunner(pool, LOGIN)).submit(SCRIPT, tag="mg:bench"))
        finally:
            pool.close()

    return call


def measure(call: Callable[[], None], calls: int, workers: int = 1) -> dict[str, float]:
    call()  # warm-up (connection, caches)
    latencies: list[float] = []

    def timed() -> None:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    if workers == 1:
        for _ in range(calls):
            timed()
    else:
        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(timed) for _ in range(calls)]:
                future.result()
    total = time.perf_counter() - start
    latencies.sort()
    return {
        "jobs_per_s": calls / total,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-ssh-calls", type=int, default=20, help="fewer: each costs a handshake")
    args = parser.parse_args()

    ca = CertificateAuthority(STATE / "ssh_user_ca")
    pool = SshConnectionPool(HOST, PORT, STATE / "known_hosts", ca)
    pooled = SlurmCliBackend(SshRunner(pool, LOGIN))
    methods: dict[str, tuple[Callable[[], None], int, int]] = {
        "local_sbatch": (raw_sbatch(), args.calls, 1),
        "local_backend": (backend_call(SlurmCliBackend(LocalRunner(as_login=LOGIN))), args.calls, 1),
        "pooled_ssh": (backend_call(pooled), args.calls, 1),
        "pooled_ssh_8": (backend_call(pooled), args.calls, 8),
        "new_ssh": (new_ssh_call(ca), args.new_ssh_calls, 1),
    }
    if importlib.util.find_spec("pyslurm") is not None:
        sinfo = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, check=True)
        release = sinfo.stdout.split()[1]
        methods["pyslurm"] = (backend_call(PyslurmBackend(release, login=LOGIN)), args.calls, 1)
    else:
        print("pyslurm is not installed (bash deploy/pyslurm.sh): its figures are left out")
    rest = rest_backend()
    if rest is not None:
        methods["rest"] = (backend_call(rest), args.calls, 1)
        methods["rest_8"] = (backend_call(rest), args.calls, 8)
    else:
        print("slurmrestd does not answer on 127.0.0.1:6820: its figures are left out")
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    try:
        # Interleave methods round by round so drift (queue size, caches) hits all alike.
        for _ in range(args.rounds):
            for name, (call, calls, workers) in methods.items():
                rounds[name].append(measure(call, calls, workers))
            subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)
    finally:
        pool.close()
        subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)

    result: dict[str, float | int | str] = {"bench": "submit", "calls": args.calls, "rounds": args.rounds}
    for name, samples in rounds.items():
        for key in ("jobs_per_s", "p50_ms", "p95_ms"):
            result[f"{name}_{key}"] = round(statistics.median(s[key] for s in samples), 2)
        print(
            f"{name:14s} {result[f'{name}_jobs_per_s']:8.1f} jobs/s  p50 {result[f'{name}_p50_ms']:7.1f} ms"
            f"  p95 {result[f'{name}_p95_ms']:7.1f} ms"
        )
    rate = {name: float(result[f"{name}_jobs_per_s"]) for name in methods}
    result["ratio_pooled_ssh_vs_local_sbatch"] = round(rate["pooled_ssh"] / rate["local_sbatch"], 3)
    result["ratio_pooled_ssh_8_vs_local_sbatch"] = round(rate["pooled_ssh_8"] / rate["local_sbatch"], 3)
    result["ratio_local_backend_vs_local_sbatch"] = round(rate["local_backend"] / rate["local_sbatch"], 3)
    result["ratio_pooled_ssh_vs_new_ssh"] = round(rate["pooled_ssh"] / rate["new_ssh"], 3)
    if "pyslurm" in rate:
        result["ratio_pyslurm_vs_local_sbatch"] = round(rate["pyslurm"] / rate["local_sbatch"], 3)
    if "rest" in rate:
        result["ratio_rest_vs_local_sbatch"] = round(rate["rest"] / rate["local_sbatch"], 3)
        result["ratio_rest_8_vs_local_sbatch"] = round(rate["rest_8"] / rate["local_sbatch"], 3)
        result["ratio_rest_vs_pooled_ssh"] = round(rate["rest"] / rate["pooled_ssh"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
