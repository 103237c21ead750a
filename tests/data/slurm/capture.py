"""Capture real squeue/sacct/sbatch/sinfo outputs from the dev cluster into this directory.

Run as root on the dev cluster host (``bash deploy/devcluster/up.sh`` first):

    python tests/data/slurm/capture.py

It submits a set of small jobs as ``alice`` (and cancels what it left running), runs exactly
the argv built by ``myriagate.slurm.commands``, and writes stdout/stderr verbatim. Takes
about two minutes (the time-limit job needs its minute). Job ids in the files are whatever
the cluster handed out; ``jobs.json`` maps each case to its id.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from myriagate.slurm import commands

HERE = Path(__file__).resolve().parent
LOGIN = "alice"
NAMES = {  # odd job names: they must come back verbatim in %j
    "quote": 'it\'s "quoted"',
    "subst": "$(touch /tmp/myriagate-pwned) `id`",
    "sep": "a,b|c;d %j %x",
    "utf8": "é à ü — Ω",
    "spaces": "  lead and  trail ",
}


def run(argv: tuple[str, ...] | list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    full = ["runuser", "-u", LOGIN, "--", *argv]
    return subprocess.run(full, input=stdin, capture_output=True, timeout=60, check=False)


def save(name: str, result: subprocess.CompletedProcess[bytes]) -> None:
    (HERE / f"{name}.out").write_bytes(result.stdout)
    if result.stderr or result.returncode:
        (HERE / f"{name}.err").write_bytes(result.stderr)
        (HERE / f"{name}.rc").write_text(f"{result.returncode}\n")
    print(f"{name}: rc={result.returncode} {len(result.stdout)} bytes", file=sys.stderr)


def submit(body: str, *args: str, tag: str) -> str:
    script = f"#!/bin/sh\n{body}\n".encode()
    result = run(commands.sbatch(("--chdir=/tmp", "--output=/tmp/mgcap-%j.out", *args), tag), script)
    if result.returncode != 0:
        raise SystemExit(f"sbatch failed: {result.stderr.decode()}")
    return result.stdout.decode().strip().split(";")[0]


def squeue_states(ids: list[str]) -> dict[str, str]:
    out = run(commands.squeue_status(ids)).stdout.decode()
    return {line.split(commands.SEP)[0]: line.split(commands.SEP)[4] for line in out.splitlines() if line}


def wait_for(condition: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not condition():
        time.sleep(0.5)


def main() -> None:
    jobs: dict[str, str] = {}
    jobs["completed"] = submit("echo hello; exit 0", "--job-name=cap-completed", tag="mg:cap-completed")
    jobs["failed"] = submit("echo bad >&2; exit 3", "--job-name=cap-failed", tag="mg:cap-failed")
    jobs["signal"] = submit("kill -9 $$", "--job-name=cap-signal", tag="mg:cap-signal")
    jobs["timeout"] = submit("sleep 300", "--job-name=cap-timeout", "--time=1", tag="mg:cap-timeout")
    jobs["running"] = submit("sleep 300", "--job-name=cap-running", tag="mg:cap-running")
    jobs["held"] = submit("true", "--job-name=cap-held", "--hold", tag="mg:cap-held")
    jobs["begin"] = submit("true", "--job-name=cap-begin", "--begin=now+2hours", tag="mg:cap-begin")
    jobs["cancel_running"] = submit("sleep 300", "--job-name=cap-cancel-r", tag="mg:cap-cancel-r")
    jobs["cancel_pending"] = submit("true", "--job-name=cap-cancel-p", "--hold", tag="mg:cap-cancel-p")
    jobs["array"] = submit("sleep 8; exit $SLURM_ARRAY_TASK_ID", "--job-name=cap-array", "--array=0-2",
                           tag="mg:cap-array")  # fmt: skip
    jobs["array_held"] = submit("true", "--job-name=cap-array-held", "--array=0-4%2", "--hold",
                                tag="mg:cap-array-held")  # fmt: skip
    jobs["gres_mem"] = submit("sleep 2", "--job-name=cap-mem", "--mem=2G", "--cpus-per-task=4",
                              tag="mg:cap-mem")  # fmt: skip
    for key, name in NAMES.items():
        jobs[f"name_{key}"] = submit("true", f"--job-name={name}", "--hold", tag=f"mg:cap-name-{key}")
    time.sleep(3)
    live = list(jobs.values())
    save("squeue_live", run(commands.squeue_status(live)))
    save(
        "squeue_names",
        run(("squeue", "--noheader", f"--jobs={','.join(live)}", f"--format=%i{commands.SEP}%j")),
    )
    save("squeue_tags", run(commands.squeue_tags()))
    run(commands.scancel(jobs["cancel_running"]))
    run(commands.scancel(jobs["cancel_pending"]))
    # Ended jobs stay in squeue for MinJobAge (10 s here): catch them there.
    quick = [jobs[k] for k in ("completed", "failed", "signal", "cancel_running", "cancel_pending")]
    wait_for(
        lambda: all(s not in ("PENDING", "RUNNING", "COMPLETING") for s in squeue_states(quick).values())
    )
    save("squeue_ended", run(commands.squeue_status(quick)))
    array_tasks = [f"{jobs['array']}_{i}" for i in range(3)]
    wait_for(lambda: any(s not in ("PENDING", "RUNNING") for s in squeue_states([jobs["array"]]).values()))
    save("squeue_array_mixed", run(commands.squeue_status([jobs["array"], *array_tasks])))
    wait_for(lambda: squeue_states([jobs["timeout"]]).get(jobs["timeout"]) == "TIMEOUT", limit=150)
    save("squeue_timeout", run(commands.squeue_status([jobs["timeout"]])))
    time.sleep(12)  # let MinJobAge purge them, and slurmdbd catch up
    everything = list(jobs.values())
    save("squeue_gone", run(commands.squeue_status([jobs["completed"], jobs["failed"]])))
    save("sacct_status", run(commands.sacct_status(everything)))
    save("sacct_usage", run(commands.sacct_usage(everything)))
    save("sacct_tags", run(commands.sacct_tags()))
    save("sinfo_partitions", run(commands.sinfo_partitions()))
    save("scontrol_ping", run(commands.scontrol_ping()))
    save("sbatch_version", run(commands.slurm_version()))
    save("sbatch_bad_partition", run(("sbatch", "--parsable", "--partition=nosuch"), b"#!/bin/sh\ntrue\n"))
    save("sbatch_bad_time", run(("sbatch", "--parsable", "--partition=debug", "--time=2:00:00"),
                                b"#!/bin/sh\ntrue\n"))  # fmt: skip
    save("sbatch_bad_account", run(("sbatch", "--parsable", "--account=rouen-chimie"), b"#!/bin/sh\ntrue\n"))
    save("scancel_finished", run(commands.scancel(jobs["completed"])))
    save("tail_missing", run(commands.tail("/tmp/myriagate-no-such-file", 100)))
    bob = subprocess.run(["runuser", "-u", "bob", "--", *commands.scancel(jobs["running"])],
                         capture_output=True, check=False)  # fmt: skip
    save("scancel_denied", bob)
    for job_id in everything:
        run(commands.scancel(job_id))
    (HERE / "jobs.json").write_text(json.dumps(jobs, indent=2) + "\n")


if __name__ == "__main__":
    main()
