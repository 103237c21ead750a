"""Capture how jobs end and why they wait, for the explanations (issue 15), from the dev cluster.

Run as root on the dev cluster host (``bash deploy/devcluster/up.sh`` first):

    python tests/data/slurm/capture_endings.py      # about 2 minutes (the time limit's minute)

It submits small jobs as ``alice``: one over its ``--mem`` (killed by OverMemoryKill), one
past its time limit, one she cancels, one root cancels, one that kills itself with ``kill -9``,
one exiting 3, and waiting ones (held, a begin time, a dependency, a dependency that can never
be met, one too big to start now). It runs exactly the argv of ``myriagate.slurm.commands``
and writes stdout verbatim (``.err``/``.rc`` when not empty or not 0); ``jobs_endings.json``
maps each case to its id.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from myriagate.slurm import commands

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import HERE, run, save, squeue_states, submit, wait_for

HOG = "python3 -c 'import time; b = b\"x\" * (300 * 2**20); time.sleep(30)'"


def main() -> None:
    jobs: dict[str, str] = {}
    jobs["oom"] = submit(HOG, "--job-name=end-oom", "--mem=100M", "--time=2", tag="mg:end-oom")
    jobs["timeout"] = submit("sleep 300", "--job-name=end-timeout", "--time=1", tag="mg:end-timeout")
    jobs["cancel_owner"] = submit("sleep 300", "--job-name=end-cancel", tag="mg:end-cancel")
    jobs["cancel_root"] = submit("sleep 300", "--job-name=end-cancel-root", tag="mg:end-cancel-root")
    jobs["killed"] = submit("kill -9 $$", "--job-name=end-killed", tag="mg:end-killed")
    jobs["exit3"] = submit("exit 3", "--job-name=end-exit3", tag="mg:end-exit3")
    jobs["held"] = submit("true", "--job-name=wait-held", "--hold", tag="mg:wait-held")
    jobs["begin"] = submit("true", "--job-name=wait-begin", "--begin=now+2hours", tag="mg:wait-begin")
    jobs["dependency"] = submit(
        "true", "--job-name=wait-dep", f"--dependency=afterok:{jobs['cancel_owner']}", tag="mg:wait-dep"
    )
    jobs["big"] = submit("true", "--job-name=wait-big", "--exclusive", tag="mg:wait-big")
    time.sleep(4)
    save("squeue_endings_running", run(commands.squeue_status(list(jobs.values()))))
    try:
        jobs["never"] = submit(
            "true", "--job-name=wait-never", f"--dependency=afterok:{jobs['exit3']}", tag="mg:wait-never"
        )
    except SystemExit as exc:  # sbatch may refuse a dependency on a job that already failed
        print(f"never: {exc}", file=sys.stderr)
    run(commands.scancel(jobs["cancel_owner"]))
    subprocess.run(commands.scancel(jobs["cancel_root"]), capture_output=True, check=False)  # as root
    waiting = [jobs[k] for k in ("held", "begin", "dependency", "big", "never") if k in jobs]
    time.sleep(6)
    save("squeue_pending_reasons", run(commands.squeue_status(waiting)))
    ended = [jobs[k] for k in ("oom", "timeout", "cancel_owner", "cancel_root", "killed", "exit3")]
    wait_for(lambda: squeue_states([jobs["timeout"]]).get(jobs["timeout"]) == "TIMEOUT", limit=150)
    time.sleep(12)  # let slurmdbd catch up
    save("sacct_endings_status", run(commands.sacct_status(ended)))
    save("sacct_end_details", run(commands.sacct_end_details(ended)))
    save("getent_passwd", run(commands.user_names(["1001", "0", "4242"])))
    for job_id in jobs.values():
        run(commands.scancel(job_id))
    (HERE / "jobs_endings.json").write_text(json.dumps(jobs, indent=2) + "\n")


if __name__ == "__main__":
    main()
