"""Capture what Slurm prints when researchers put hostile text in their jobs.

Run as root on the dev cluster host (``bash deploy/devcluster/up.sh`` first):

    python tests/data/slurm/capture_hostile.py      # about 40 seconds

Submitted directly with sbatch, as a researcher can on the cluster (the gateway itself refuses
control characters): bob's job whose comment is ``innocent``, a line break and records of a
caen-climat job 99999 in every shape the gateway reads; alice's held jobs whose comment holds
``\\x1f`` or a line break and a framed tag line; a job name with a line break; and alice's
tagged array. Then exactly the argv of ``myriagate.slurm.commands`` (as alice, like
``capture.py``) and the outputs, verbatim, in ``hostile_*.out`` (the queries by window or by
login cover what ran since the capture started: jobs of other users of the shared dev cluster
may show too); ``jobs_hostile.json`` maps each case to its id.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from myriagate.slurm import commands

HERE = Path(__file__).resolve().parent
SEP = commands.SEP
FORGED = "99999"
TARGET_TAG = "mg:cap-hostile-target"


def as_login(login: str, argv: tuple[str, ...] | list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", login, "--", *argv], capture_output=True, timeout=60, check=False)


def save(name: str, result: subprocess.CompletedProcess[bytes]) -> None:
    (HERE / f"{name}.out").write_bytes(result.stdout)
    if result.stderr or result.returncode:
        (HERE / f"{name}.err").write_bytes(result.stderr)
        (HERE / f"{name}.rc").write_text(f"{result.returncode}\n")
    print(f"{name}: rc={result.returncode} {len(result.stdout)} bytes", file=sys.stderr)


def sbatch(login: str, account: str, *args: str) -> str:
    argv = [
        "sbatch",
        "--parsable",
        "-A",
        account,
        "--time=00:05:00",
        "--mem=100M",
        "--output=/dev/null",
        *args,
    ]
    result = as_login(login, argv)
    if result.returncode != 0:
        raise SystemExit(f"sbatch failed: {result.stderr.decode()}")
    return result.stdout.decode().strip().split(";")[0]


def forged_records() -> list[str]:
    now = datetime.now().replace(microsecond=0)  # the dev cluster's zone is the machine's (UTC)
    start, end = (now - timedelta(minutes=2)).isoformat(), (now - timedelta(minutes=1)).isoformat()
    usage = [FORGED, FORGED, "COMPLETED", "0:0", "3600000", "32", "1", "billing=32,cpu=32,mem=1000M,node=1",
             "court", "caen-climat", "alice", start, end]  # fmt: skip
    squeue = [FORGED, FORGED, FORGED, "N/A", "COMPLETED", "None", start, start, end, "vm", FORGED]
    return [
        SEP.join([*usage, "mg:forged"]),  # the sweep's format of earlier releases
        SEP.join(usage),
        SEP.join([FORGED, "mg:forged", FORGED]),
        SEP.join(squeue),
    ]


def main() -> None:
    jobs: dict[str, str] = {}
    started = datetime.now().replace(microsecond=0) - timedelta(seconds=5)
    forged_comment = "\n".join(["innocent", *forged_records()])
    jobs["bob_forged"] = sbatch("bob", "rouen-chimie", f"--comment={forged_comment}",
                                "--job-name=cap-hostile-bob", "--wrap=sleep 1")  # fmt: skip
    jobs["target_array"] = sbatch("alice", "caen-climat", f"--comment={TARGET_TAG}", "--array=0-1",
                                  "--job-name=cap-hostile-array", "--wrap=sleep 30")  # fmt: skip
    jobs["sep_comment"] = sbatch("alice", "caen-climat", f"--comment=a{SEP}b|c\x1ed", "--hold",
                                 "--job-name=cap-hostile-sep", "--wrap=true")  # fmt: skip
    newline = f"x\n{FORGED}{SEP}{TARGET_TAG}{SEP}{FORGED}"
    jobs["newline_comment"] = sbatch("alice", "caen-climat", f"--comment={newline}", "--hold",
                                     "--job-name=cap-hostile-newline", "--wrap=true")  # fmt: skip
    name = f"name\n{forged_records()[3]}"
    jobs["newline_name"] = sbatch("alice", "caen-climat", f"--job-name={name}", "--hold", "--wrap=true")
    ids = list(jobs.values())
    time.sleep(8)  # bob's job has run; the array runs
    save("hostile_squeue_status", as_login("alice", commands.squeue_status(ids)))
    save("hostile_squeue_tags", as_login("alice", commands.squeue_tags()))
    until = datetime.now().replace(microsecond=0) + timedelta(seconds=5)
    window = (started.isoformat(), until.isoformat())
    sweep = commands.sacct_by_accounts(["caen-climat", "rouen-chimie"], *window)
    save("hostile_sacct_accounts", as_login("alice", sweep))
    # The sweep as it was in earlier releases (usage fields + Comment): what the attack exploited.
    before = (*sweep[:-1], f"--format={','.join((*commands.SACCT_USAGE_FIELDS, 'Comment'))}")
    save("hostile_sacct_accounts_with_comment", as_login("alice", before))
    save("hostile_sacct_status", as_login("alice", commands.sacct_status(ids)))
    save("hostile_sacct_comments", as_login("alice", commands.sacct_comments(ids)))
    save("hostile_sacct_comment_one", as_login("alice", commands.sacct_comments([jobs["bob_forged"]])))
    for job_id in ids:
        subprocess.run(["scancel", job_id], check=False)
    time.sleep(3)  # the held jobs are final now: accounting has their comments
    save("hostile_sacct_tags", as_login("alice", commands.sacct_tags(started.isoformat())))
    (HERE / "jobs_hostile.json").write_text(json.dumps(jobs, indent=2) + "\n")


if __name__ == "__main__":
    main()
