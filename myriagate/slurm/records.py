"""When a line of Slurm's output is a record: exact fields, framed keys, checked shapes (pure).

Slurm prints free text (a job's comment, name, work dir, reason) exactly as it was given, line
breaks and ``\\x1f`` included: ``sbatch --comment="$(cat f)"`` can put, on a line of its own,
text shaped like another job's record. No separator is safe, since the text may contain any of
them. So (docs/slurm.md, "Reading Slurm's output"):

* A query whose lines become states, usages or charges requests no free text, or else is
  **framed**: its format starts and ends with the record's key (the job id as printed, one line
  per key). A record broken by a line break then shows either a line that does not start and
  end with one same key, or its key on two lines (its first line starts with the key, its last
  line ends with it). ``framed()`` refuses the whole answer in both cases (AmbiguousOutput):
  any of its lines may be someone's text, none is trusted; the backend asks again about fewer
  jobs.
* Every field that cannot carry free text must have its shape: the number of fields is exact,
  JobIDRaw is a number that agrees with JobID, and states, times, counts, TRES and names look
  like what Slurm prints for them. A line that does not is no record (``parse`` skips it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

SEP = "\x1f"

JOB_ID = re.compile(r"^\d+(?:_\d+)?\Z")  # 123, or task 4 of array 123: 123_4
FOLDED = re.compile(r"^(\d+)_\[([0-9,\-:%]+)\]\Z")  # pending tasks folded: 123_[0-4%2]
# What a framed line starts and ends with: a job, an array task, folded tasks, a het component.
KEY = re.compile(r"^\d+(?:_\d+|_\[[0-9,\-:%]+\]|\+\d+)?\Z")
RAW_ID = re.compile(r"^\d+\Z")
STATE = re.compile(r"^[A-Z][A-Z_]*(?: by \d+)?\Z")  # RUNNING, CANCELLED by 1001, OUT_OF_MEMORY
EXIT = re.compile(r"^\d+:\d+\Z")
TIME = re.compile(r"^(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}|Unknown|N/A|None)?\Z")
COUNT = re.compile(r"^\d*\Z")
NAME = re.compile(r"^[A-Za-z0-9_.+@-]*\Z")  # an account, a user, a cluster
NAMES = re.compile(r"^[A-Za-z0-9_.+@,-]*\Z")  # a partition (a pending job may list several)
NODES = re.compile(r"^(?:[A-Za-z0-9_.,\[\]-]*|None assigned|\(null\))\Z")
_TRES_ITEM = r"[A-Za-z][\w/:.-]*=\d+(?:\.\d+)?[KMGTP]?"
TRES = re.compile(rf"^(?:{_TRES_ITEM}(?:,{_TRES_ITEM})*)?$")
TRES_MINUTES = re.compile(r"^(?:[A-Za-z][\w/:.-]*=-?\d+(?:,[A-Za-z][\w/:.-]*=-?\d+)*)?\Z")


class AmbiguousOutput(ValueError):
    """A framed answer holds a line that is not one whole record: no line of it is trusted."""


def lines(text: str | bytes) -> Iterator[str]:
    """Non-blank lines, split on ``\\n`` only: ``str.splitlines`` would also split on
    ``\\x1c``-``\\x1e`` and ``\\x85``, which free text may contain."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.strip():
            yield line


def fields(line: str, count: int) -> list[str] | None:
    """The fields of a line that has exactly ``count`` of them, else None."""
    parts = line.split(SEP)
    return parts if len(parts) == count else None


def framed(text: str | bytes, width: int) -> list[list[str]]:
    """The records of a framed answer (``width`` fields, the first and last the same key).

    Raises AmbiguousOutput when a line is not one whole record or a key shows twice.
    """
    rows: list[list[str]] = []
    seen: set[str] = set()
    for line in lines(text):
        f = fields(line, width)
        if f is None or f[0] != f[-1] or not KEY.match(f[0]) or f[0] in seen:
            raise AmbiguousOutput(f"not one whole record: {line[:120]!r}")
        seen.add(f[0])
        rows.append(f)
    return rows


def ids_agree(job_id: str, raw: str) -> bool:
    """sacct's JobID and JobIDRaw name one job: a plain job is its raw id, an array task has
    a raw id of its own, folded pending tasks are printed under their parent's raw id."""
    if not RAW_ID.match(raw):
        return False
    if RAW_ID.match(job_id):
        return job_id == raw
    if JOB_ID.match(job_id):
        return True
    folded = FOLDED.match(job_id)
    return folded is not None and folded.group(1) == raw


def squeue_ids_agree(job_id: str, raw: str, parent: str, task: str) -> bool:
    """squeue's %i, %A, %F and %K name one job: ``123`` is 123/123/N/A, task ``123_4`` is
    <its own raw id>/123/4."""
    if not (RAW_ID.match(raw) and RAW_ID.match(parent)):
        return False
    head, _, index = job_id.partition("_")
    if not index:
        return RAW_ID.match(job_id) is not None and job_id == raw == parent and task == "N/A"
    return JOB_ID.match(job_id) is not None and head == parent and index == task
