"""Show what plain sbatch makes of corpus scripts, to write or check their ``expected.toml`` entry.

    .venv/bin/python -m tests.corpus.probe [NAME.sh ...]   (as root, on the dev cluster)

Each script (all of them by default) is submitted with the real ``sbatch`` as alice, with its
entry's ``args``, held so it never runs; the fields its entry names (or a useful set) are
printed with any difference from the entry, then the job is cancelled.
"""

from __future__ import annotations

import sys

from tests.corpus.loader import Entry, Placeholders, load
from tests.corpus.slurm_view import PlainSbatch, differences

USEFUL = ("JobName", "Partition", "TimeLimit", "NumNodes", "NumTasks", "CPUs/Task", "TRES", "OverSubscribe")


def probe(entry: Entry, plain: PlainSbatch, dep: str) -> str:
    values = Placeholders(dep=dep, home=plain.home)
    answer = plain.submit(entry.script_with(values), entry.args)
    if answer.job_id is None:
        return f"{entry.name}: sbatch refuses: {' '.join(answer.stderr.split())}"
    try:
        shown = plain.show(answer.job_id)
    finally:
        plain.cancel(answer.job_id)
    keys = list(entry.slurm) or list(USEFUL)
    lines = [f"{entry.name}: " + " ".join(f"{k}={shown.get(k, '<absent>')}" for k in keys)]
    filled = Placeholders(dep=dep, home=plain.home, job_id=answer.job_id)
    lines += [f"    differs: {d}" for d in differences(entry.expected_fields(filled), shown)]
    return "\n".join(lines)


def main(names: list[str]) -> int:
    problem = PlainSbatch.usable()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    plain = PlainSbatch("alice", "caen-climat")
    target = plain.submit(b"#!/bin/bash\nsleep 1\n").job_id or "0"
    try:
        for entry in load():
            if not names or entry.name in names:
                print(probe(entry, plain, target))
    finally:
        plain.cancel(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
