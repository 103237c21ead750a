"""Pure parsers: what squeue, sacct, sbatch, sinfo, scontrol print -> domain types. No I/O.

They never crash on what Slurm may legitimately print: an unknown state maps to
``state=None`` (raw text kept), a line that is not a record is skipped. What makes a line a
record, and why a framed answer is refused as a whole when one of its lines is not
(``AmbiguousOutput``), is in ``slurm.records``. Times are printed in the cluster's local time
zone (``cluster_tz``) and returned as aware UTC.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from myriagate.domain.jobs import JobStatus, JobUsage
from myriagate.domain.states import JobState
from myriagate.slurm import commands, records
from myriagate.slurm.states import to_job_state

# Read through parse by the backends and sacctmgr: the line and field rules live in records.
lines = records.lines
fields = records.fields
AmbiguousOutput = records.AmbiguousOutput

SEP = commands.SEP
_NO_VALUE = frozenset({"", "N/A", "n/a", "Unknown", "None", "None assigned", "(null)"})
_EXIT = re.compile(r"^(\d+):(\d+)\Z")
_SBATCH_ID = re.compile(r"^(\d+)(?:;\S+)?\Z")
_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")
_TRES_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)\Z")
_MB_PER_UNIT = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}
_ARRAY_EXPANSION_LIMIT = 100_000  # Slurm's MaxArraySize ceiling is 4,000,001; be reasonable


def optional(value: str) -> str | None:
    value = value.strip()
    return None if value in _NO_VALUE else value


# A poll parses three times per job and most repeat (N/A, Unknown, the same submit second):
# caching them halves the cost of parsing a thousand-job squeue.
@functools.lru_cache(maxsize=8192)
def parse_time(value: str, cluster_tz: tzinfo = UTC) -> datetime | None:
    """``2026-11-28T17:07:19`` in the cluster's zone -> aware UTC; Unknown/N/A/None -> None."""
    text = optional(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=cluster_tz)
    return parsed.astimezone(UTC)


def parse_exit_code(value: str) -> tuple[int | None, int | None]:
    """sacct's ``ExitCode`` ``3:0`` -> (3, 0): the script's exit status and the signal."""
    m = _EXIT.match(value.strip())
    if not m:
        return None, None
    return int(m.group(1)), int(m.group(2))


def parse_int(value: str, default: int = 0) -> int:
    text = value.strip()
    return int(text) if text.isdigit() else default


def parse_tres(value: str) -> dict[str, int]:
    """``cpu=4,mem=4000M,node=1,billing=4,gres/gpu=2`` -> ints; memory in MB."""
    tres: dict[str, int] = {}
    for item in value.split(","):
        key, sep, raw = item.strip().partition("=")
        if not sep or not key:
            continue
        m = _TRES_NUMBER.match(raw.strip().upper())
        if not m:
            continue
        number, unit = float(m.group(1)), m.group(2)
        if key in ("mem", "vmem") or key.startswith("fs/") or unit:
            tres[key] = int(number * _MB_PER_UNIT[unit])
        else:
            tres[key] = int(number)
    return tres


def gpus_in(tres: dict[str, int]) -> int:
    """GPUs in a TRES dict: ``gres/gpu`` (or the sum of typed ``gres/gpu:<type>`` entries)."""
    if "gres/gpu" in tres:
        return tres["gres/gpu"]
    return sum(n for key, n in tres.items() if key.startswith("gres/gpu:"))


def parse_sbatch_id(stdout: str | bytes) -> str | None:
    """``sbatch --parsable`` prints ``123`` or ``123;cluster`` as its last line; None when it
    did not. Only the last line counts: whatever a login's start-up file prints (a greeting,
    a number) comes before it over SSH, and must never be taken for the job's id."""
    found = [line.strip() for line in lines(stdout) if line.strip()]
    m = _SBATCH_ID.match(found[-1]) if found else None
    return m.group(1) if m else None


def parse_version(text: str | bytes) -> str | None:
    """``slurm-wlm 22.05.8`` / ``slurm 25.11.0`` -> ``22.05.8``."""
    for line in lines(text):
        m = _VERSION.search(line)
        if m:
            return m.group(1)
    return None


def expand_array_range(parent: str, spec: str) -> list[str]:
    """``12`` + ``0-4%2`` / ``1,3,5-7:2`` -> ``12_0`` …: sacct folds pending tasks so."""
    ids: list[str] = []
    for part in spec.split("%", 1)[0].split(","):
        bounds, _, step = part.partition(":")
        lo, _, hi = bounds.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or (step and not step.isdigit()):
            return []
        stop = int(hi or lo)
        if stop - int(lo) > _ARRAY_EXPANSION_LIMIT:
            return []
        ids.extend(f"{parent}_{i}" for i in range(int(lo), stop + 1, int(step or 1) or 1))
    return ids


def parse_squeue_status(text: str | bytes, cluster_tz: tzinfo = UTC) -> list[JobStatus]:
    """Lines of ``commands.squeue_status``: one JobStatus per job or array task.

    Framed by the job id (raises AmbiguousOutput, see ``records``). squeue has no exit code;
    its start time is a forecast while pending and its end time the time limit while running,
    so those are kept only once they are facts.
    """
    out: list[JobStatus] = []
    for f in records.framed(text, len(commands.SQUEUE_STATUS_FIELDS)):
        job_id, raw, parent, task, raw_state, reason, submit, start, end, nodes, _key = f
        if not (
            records.squeue_ids_agree(job_id, raw, parent, task)
            and records.STATE.match(raw_state)
            and all(records.TIME.match(t) for t in (submit, start, end))
            and records.NODES.match(nodes)
        ):
            continue
        state = to_job_state(raw_state)
        started = state is not None and state.rank >= JobState.RUNNING.rank
        final = state is not None and state.is_final
        out.append(
            JobStatus(
                slurm_job_id=job_id,
                state=state,
                slurm_state=raw_state,
                reason=optional(reason),
                nodes=optional(nodes),
                submitted_at=parse_time(submit, cluster_tz),
                started_at=parse_time(start, cluster_tz) if started else None,
                ended_at=parse_time(end, cluster_tz) if final else None,
                # A waiting array task still shows its parent's raw id: it has none of its own yet.
                raw_job_id=raw if started or task == "N/A" else None,
            )
        )
    return out


def parse_sacct_status(text: str | bytes, cluster_tz: tzinfo = UTC) -> list[JobStatus]:
    """Lines of ``commands.sacct_status`` (framed by JobID: raises AmbiguousOutput); folded
    pending array ranges are expanded."""
    out: list[JobStatus] = []
    for f in records.framed(text, len(commands.SACCT_STATUS_FIELDS)):
        job_id, raw, raw_state, exit_code, reason, submit, start, end, nodes, _key = f
        if not (
            records.ids_agree(job_id, raw)
            and records.STATE.match(raw_state)
            and records.EXIT.match(exit_code)
            and all(records.TIME.match(t) for t in (submit, start, end))
            and records.NODES.match(nodes)
        ):
            continue
        state = to_job_state(raw_state)
        final = state is not None and state.is_final
        code, signal = parse_exit_code(exit_code) if final else (None, None)
        status = JobStatus(
            slurm_job_id=job_id,
            state=state,
            slurm_state=raw_state,
            reason=optional(reason),
            exit_code=code,
            signal=signal,
            nodes=optional(nodes),
            submitted_at=parse_time(submit, cluster_tz),
            # sacct prints a Start for a job cancelled while pending: no node, never started.
            started_at=parse_time(start, cluster_tz) if optional(nodes) else None,
            ended_at=parse_time(end, cluster_tz) if final else None,
            raw_job_id=raw,
        )
        folded = records.FOLDED.match(job_id)
        if folded:
            out.extend(
                replace(status, slurm_job_id=task_id, raw_job_id=None)  # waiting: no id of their own
                for task_id in expand_array_range(folded.group(1), folded.group(2))
            )
        else:
            out.append(status)
    return out


def usage_fields_valid(f: list[str]) -> bool:
    """The shapes of a ``commands.SACCT_USAGE_FIELDS`` line: none of them is free text."""
    (job_id, raw, raw_state, exit_code, elapsed, cpus, nodes, alloc_tres, partition,
     account, user, start, end) = f  # fmt: skip
    return bool(
        records.JOB_ID.match(job_id)
        and records.ids_agree(job_id, raw)
        and records.STATE.match(raw_state)
        and records.EXIT.match(exit_code)
        and all(records.COUNT.match(n) for n in (elapsed, cpus, nodes))
        and records.TRES.match(alloc_tres)
        and records.NAMES.match(partition)
        and records.NAME.match(account)
        and records.NAME.match(user)
        and records.TIME.match(start)
        and records.TIME.match(end)
    )


def parse_sacct_usage(text: str | bytes, cluster_tz: tzinfo = UTC) -> list[JobUsage]:
    """Lines of ``commands.sacct_usage`` (and of the sweep, same fields): one JobUsage per run
    of a job or array task. No field is free text; a line not shaped as a record is skipped."""
    out: list[JobUsage] = []
    width = len(commands.SACCT_USAGE_FIELDS)
    for line in lines(text):
        f = fields(line, width)
        if f is None or not usage_fields_valid(f):
            continue
        (job_id, _raw, raw_state, exit_code, elapsed, cpus, nodes, alloc_tres, partition,
         account, user, start, end) = f  # fmt: skip
        tres = parse_tres(alloc_tres)
        state = to_job_state(raw_state)
        code, _signal = parse_exit_code(exit_code) if state and state.is_final else (None, None)
        out.append(
            JobUsage(
                slurm_job_id=job_id,
                state=state,
                elapsed_s=parse_int(elapsed),
                alloc_cpus=parse_int(cpus, tres.get("cpu", 0)),
                alloc_gpus=gpus_in(tres),
                alloc_nodes=parse_int(nodes, tres.get("node", 1)),
                alloc_mem_mb=tres.get("mem", 0),
                partition=optional(partition),
                account=optional(account),
                user=optional(user),
                started_at=parse_time(start, cluster_tz) if parse_int(nodes) else None,
                ended_at=parse_time(end, cluster_tz),
                exit_code=code,
                tres_alloc=tres,
            )
        )
    return out


def parse_tags(text: str | bytes) -> list[tuple[str, str]]:
    """(job or array parent id, comment) pairs from ``squeue_tags`` or ``sacct_tags``, framed
    by the job id as printed (raises AmbiguousOutput when a comment broke a line)."""
    pairs = [(key.split("_", 1)[0], comment) for key, comment, _key in records.framed(text, 3)]
    return [(job_id, comment) for job_id, comment in pairs if job_id.isdigit()]


def tag_candidates(text: str | bytes, tag: str) -> list[str]:
    """Job (or parent) ids of the lines that are exactly ``<id><SEP><tag><SEP><id>`` in a tags
    answer that is ambiguous as a whole: only these can be the tagged job (a line of someone's
    text may claim it too: each is checked alone)."""
    heads: list[str] = []
    for line in lines(text):
        f = fields(line, 3)
        if f is not None and f[1] == tag and f[0] == f[2] and records.KEY.match(f[0]):
            head = f[0].split("_", 1)[0]
            if head.isdigit() and head not in heads:
                heads.append(head)
    return heads


def parse_comments(text: str | bytes) -> dict[str, str]:
    """{job id: comment} from ``sacct_comments`` (framed: raises AmbiguousOutput)."""
    return {key: comment for key, comment, _key in records.framed(text, 3)}


def parse_one_comment(text: str | bytes, slurm_job_id: str) -> str | None:
    """The comment of the one job ``sacct_comments([slurm_job_id])`` printed, exactly, line
    breaks and separators included (sacct prints one record for one id); None when the answer
    is not that one record (no such job)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    head, tail = f"{slurm_job_id}{SEP}", f"{SEP}{slurm_job_id}\n"
    if not (text.startswith(head) and text.endswith(tail)) or len(text) < len(head) + len(tail):
        return None
    return text[len(head) : -len(tail)]


def parse_partitions(text: str | bytes) -> dict[str, str]:
    """``sinfo --format=%R<SEP>%a`` -> {partition: availability}; a partition on several
    node sets appears once per set, all with the same availability."""
    partitions: dict[str, str] = {}
    for line in lines(text):
        f = fields(line, 2)
        if f is not None and f[0] and records.NAME.match(f[0]) and f[1].isalpha():
            partitions[f[0]] = f[1].lower()
    return partitions


def parse_config(text: str | bytes) -> dict[str, str]:
    """``scontrol show config``: ``Key = value`` lines -> {Key: value}."""
    config: dict[str, str] = {}
    for line in lines(text):
        key, sep, value = line.partition("=")
        if sep and re.match(r"^[A-Za-z][\w/]*\Z", key.strip()):
            config.setdefault(key.strip(), value.strip())
    return config
