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


def parse_show_job(text: str) -> dict[str, str]:
    """``scontrol show job -o <id>`` -> {field: value} of the job itself.

    An array prints one line per task already split off plus the record of its pending
    tasks, whose JobId is the array's own id: that record is the one returned.
    """
    records = [_record(line) for line in text.splitlines() if line.strip()]
    for fields in records:
        if fields.get("ArrayJobId") and fields.get("ArrayJobId") == fields.get("JobId"):
            return fields
    return records[0] if records else {}


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
        if shown.get(key) not in wanted
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
