"""Capture sacct outputs of requeued jobs and array tasks from the dev cluster (as root).

    python tests/data/slurm/capture_requeue.py      # about 3 minutes

Submits, as ``alice``, a plain job (1 CPU, 1000M) and a 3-task array (2 CPUs, 500M per
CPU), each with ``--requeue``; requeues the plain job and task 1 of the array with
``scontrol requeue`` while they run (only these jobs: the cluster is shared), waits for
everything to end, then saves exactly the argv of ``commands.sacct_usage`` and
``commands.sacct_by_accounts`` for them.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from myriagate.slurm import commands

HERE = Path(__file__).parent
LOGIN = "alice"


def run(argv: tuple[str, ...] | list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    argv = ["runuser", "-u", LOGIN, "--", *argv]
    return subprocess.run(argv, input=stdin, capture_output=True, check=False)


def submit(body: str, *args: str, tag: str) -> str:
    script = f"#!/bin/bash\n{body}\n".encode()
    argv = commands.sbatch(("--chdir=/tmp", "--output=/dev/null", "--account=caen-climat", *args), tag)
    result = run(argv, script)
    if result.returncode != 0:
        raise SystemExit(f"sbatch failed: {result.stderr.decode()}")
    return result.stdout.decode().strip().split(";")[0]


def state(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
    return out.strip().splitlines()[0] if out.strip() else "GONE"


def wait_for(job: str, wanted: set[str], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if state(job) in wanted:
            return
        time.sleep(0.5)
    raise SystemExit(f"{job} never reached {wanted} (now {state(job)})")


def main() -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    plain = submit("sleep 12", "--job-name=cap-requeue", "--requeue", "--mem=1000M", tag="mg:cap-requeue")
    array = submit("sleep 10", "--job-name=cap-requeue-array", "--requeue", "--array=0-2",
                   "--cpus-per-task=2", "--mem-per-cpu=500M", tag="mg:cap-requeue-array")  # fmt: skip
    wait_for(plain, {"RUNNING"}, 60)
    wait_for(f"{array}_1", {"RUNNING"}, 60)
    time.sleep(5)
    for job in (plain, f"{array}_1"):
        # Requeue is an operator's action: root, on our own jobs only.
        subprocess.run(["scontrol", "requeue", job], check=True)
    # A requeued job waits (BeginTime) before it may start again.
    for job in (plain, f"{array}_1"):
        wait_for(job, {"GONE", "COMPLETED"}, 400)
    time.sleep(5)  # slurmdbd catches up
    ended = datetime.now(UTC) + timedelta(minutes=1)
    out = {"plain": plain, "array": array}
    (HERE / "jobs_requeue.json").write_text(json.dumps(out, indent=2) + "\n")
    usage = run(commands.sacct_usage([plain, array]))
    (HERE / "sacct_usage_requeued.out").write_bytes(usage.stdout)
    window = [t.strftime("%Y-%m-%dT%H:%M:%S") for t in (started, ended)]
    swept = run(commands.sacct_by_accounts(["caen-climat"], *window))
    ours = [line for line in swept.stdout.split(b"\n") if line.split(b"\x1f")[0].split(b"_")[0] in
            (plain.encode(), array.encode())]  # fmt: skip
    (HERE / "sacct_accounts_requeued.out").write_bytes(b"\n".join(ours) + b"\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
