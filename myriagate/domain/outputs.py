"""Where a batch job's output really goes: sbatch's filename patterns resolved to a path.

Follows sbatch(1), "filename pattern": ``%%`` ``%A`` ``%a`` ``%J`` ``%j`` ``%N`` ``%n``
``%s`` ``%t`` ``%u`` ``%x``, with an optional zero-padding width (``%3a`` -> ``007``; widths
above 10 count as 10, and are ignored for text such as ``%N``). A pattern holding a backslash
is not expanded at all; its backslashes are dropped. Unknown ``%`` sequences stay as written.
Relative patterns are under the job's working directory. This is the batch step's view:
``%s`` is ``batch``, ``%n`` and ``%t`` are 0, ``%J`` is the job id.
"""

from __future__ import annotations

import posixpath
import re

DEFAULT_PATTERN = "slurm-%j.out"
DEFAULT_ARRAY_PATTERN = "slurm-%A_%a.out"
_MAX_WIDTH = 10
_TOKEN = re.compile(r"%(\d*)([%AaJjNnstux])")


def resolve_work_dir(chdir: str | None, home: str) -> str:
    """Where a job runs: its --chdir, relative ones under the login's home (as sbatch does)."""
    if chdir is None:
        return home
    if chdir.startswith("/"):
        return chdir
    if chdir == "~" or chdir.startswith("~/"):
        chdir = chdir[2:]
    return posixpath.normpath(posixpath.join(home, chdir))


def resolve_output_path(
    pattern: str | None,
    *,
    work_dir: str,
    slurm_job_id: str,
    array_job_id: str | None = None,
    array_task_id: int | str | None = None,
    job_name: str,
    login: str,
    node: str = "",
) -> str:
    """The absolute path of the file sbatch writes for ``pattern`` (None: Slurm's default).

    ``slurm_job_id`` is the numeric id of this job (for an array task, the task's own id);
    ``array_job_id``/``array_task_id`` describe the array it belongs to, if any. ``job_name``
    is the job's name as Slurm knows it (``sbatch`` when the script came on stdin unnamed).
    """
    if not slurm_job_id.isdigit():
        raise ValueError(f"slurm_job_id must be a plain number, not {slurm_job_id!r}")
    is_array = array_task_id is not None
    if pattern is None:
        pattern = DEFAULT_ARRAY_PATTERN if is_array else DEFAULT_PATTERN
    if "\\" in pattern:
        name = pattern.replace("\\", "")
    else:
        numbers: dict[str, str | None] = {
            "A": array_job_id if is_array else slurm_job_id,
            "a": None if array_task_id is None else str(array_task_id),
            "J": slurm_job_id,
            "j": slurm_job_id,
            "n": "0",
            "t": "0",
        }
        texts: dict[str, str] = {"N": node.split(".")[0], "s": "batch", "u": login, "x": job_name}

        def expand(match: re.Match[str]) -> str:
            width_text, letter = match.group(1), match.group(2)
            if letter == "%":
                return "%" if not width_text else match.group(0)
            if letter in texts:
                return texts[letter]
            number = numbers[letter]
            if number is None:
                # %a outside an array: Slurm writes 4294967294 (NO_VAL); keep it visible instead.
                return match.group(0)
            width = min(int(width_text), _MAX_WIDTH) if width_text else 0
            return number.zfill(width)

        name = _TOKEN.sub(expand, pattern)
    if posixpath.isabs(name):
        return posixpath.normpath(name)
    return posixpath.normpath(posixpath.join(work_dir, name))
