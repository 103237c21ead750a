"""Slurm's own view of a submitted job, independent of the gateway's code.

``parse_show_job`` reads ``scontrol show job -o``; ``differences`` compares it with a corpus
entry's ``slurm`` table. ``PlainSbatch`` submits a corpus script with the real ``sbatch``
as a test login (``runuser``, so root only), held so it never runs, and cancels it: what
the corpus states is then Slurm's meaning of the script, not ours.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# ``Key=value`` pairs separated by single spaces; keys such as ``CPUs/Task``, ``ReqB:S:C:T``
# or ``AllocNode:Sid``; values may hold '=' (``TRES=cpu=1,mem=1000M``) and, rarely, spaces
# (a job name with a space), so a new pair starts only where a space precedes ``Key=``.
_PAIR_START = re.compile(r"(?:^| )([A-Za-z][A-Za-z0-9/:_]*)=")


def _record(text: str) -> dict[str, str]:
    line = text.strip()
    starts = list(_PAIR_START.finditer(line))
    fields: dict[str, str] = {}
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        end = after.start() if after is not None else len(line)
        fields.setdefault(here.group(1), line[here.end() : end])
    return fields


def array_tasks(text: str) -> tuple[frozenset[int], str] | None:
    """``0-30:10,45%5`` -> ({0, 10, 20, 30, 45}, "5"); None when it is not an index list."""
    ids, _, throttle = text.partition("%")
    found: set[int] = set()
    for part in ids.split(","):
        bounds, _, step = part.partition(":")
        low, _, high = bounds.partition("-")
        if not (low.isdigit() and (high or low).isdigit() and (step or "1").isdigit()):
            return None
        found.update(range(int(low), int(high or low) + 1, int(step or "1")))
    return frozenset(found), throttle


def parse_show_job(text: str) -> dict[str, str]:
    """``scontrol show job -o <id>`` -> {field: value} of the job itself.

    An array prints the record of its pending tasks (its JobId is the array's own id) and
    one line per task already started: the array's record is returned, its ArrayTaskId
    holding every task again, so a task that started at once does not change the answer.
    """
    records = [_record(line) for line in text.splitlines() if line.strip()]
    if not records:
        return {}
    array_id = records[0].get("ArrayJobId")
    if not array_id:
        return records[0]
    own = next((r for r in records if r.get("JobId") == array_id), records[0])
    parsed = [array_tasks(r.get("ArrayTaskId", "")) for r in records if r.get("ArrayJobId") == array_id]
    if len(parsed) > 1 and all(p is not None for p in parsed):
        ids = sorted(set().union(*(p[0] for p in parsed if p is not None)))
        throttle = next((p[1] for p in parsed if p is not None and p[1]), "")
        own = {**own, "ArrayTaskId": ",".join(map(str, ids)) + (f"%{throttle}" if throttle else "")}
    return own


def _same(key: str, shown: str | None, wanted: str) -> bool:
    tasks = array_tasks(wanted) if key == "ArrayTaskId" and shown is not None else None
    if tasks is not None and shown is not None:
        return array_tasks(shown) == tasks
    return shown == wanted


def billing_of(fields: Mapping[str, str]) -> int | None:
    """The ``billing`` count of the job's TRES (``TRES=`` while pending, else ``AllocTRES``)."""
    for key in ("AllocTRES", "ReqTRES", "TRES"):
        for part in fields.get(key, "").split(","):
            name, _, value = part.partition("=")
            if name == "billing" and value.isdigit():
                return int(value)
    return None


def differences(expected: Mapping[str, Sequence[str]], shown: Mapping[str, str]) -> list[str]:
    """One line per expected field that Slurm shows otherwise (each has acceptable values)."""
    return [
        f"{key}: expected {' or '.join(map(repr, wanted))}, Slurm shows {shown.get(key, '<absent>')!r}"
        for key, wanted in expected.items()
        if not any(_same(key, shown.get(key), w) for w in wanted)
    ]


@dataclass(frozen=True)
class SbatchAnswer:
    job_id: str | None
    returncode: int
    stderr: str


class PlainSbatch:
    """The real ``sbatch``/``scontrol``/``scancel`` on this machine, run as ``login``."""

    def __init__(self, login: str, account: str) -> None:
        self.login = login
        self.account = account
        self.home = pwd.getpwnam(login).pw_dir

    @staticmethod
    def usable() -> str | None:
        """None when plain submissions can be made here, else why not."""
        if os.geteuid() != 0:
            return "submitting as a test login needs root (runuser)"
        probe = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
        if probe.returncode != 0 or "UP" not in probe.stdout:
            return "slurmctld does not answer scontrol ping"
        return None

    def _as_login(self, argv: Sequence[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["runuser", "-u", self.login, "--", *argv],
            input=stdin,
            capture_output=True,
            cwd=self.home,
            timeout=60,
            check=False,
        )

    def submit(self, script: bytes, args: Sequence[str] = (), *, hold: bool = True) -> SbatchAnswer:
        """sbatch the script (on stdin, as the gateway does) with ``args``; held by default."""
        argv = ["sbatch", "--parsable", f"--account={self.account}", *(["--hold"] if hold else []), *args]
        done = self._as_login(argv, stdin=script)
        out = done.stdout.decode(errors="replace").strip().splitlines()
        job_id = out[-1].split(";")[0] if done.returncode == 0 and out else None
        return SbatchAnswer(job_id, done.returncode, done.stderr.decode(errors="replace"))

    @staticmethod
    def show(job_id: str) -> dict[str, str]:
        done = subprocess.run(
            ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30, check=True
        )
        return parse_show_job(done.stdout)

    @staticmethod
    def cancel(job_id: str) -> None:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30, check=False)
