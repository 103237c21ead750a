"""How ended jobs ended, beyond their state: peak memory, request, time limit, canceller.

``sacct_status`` reads one line per job (``--allocations``): its state and ExitCode, but not
the peak memory, which accounting keeps on the job's *steps* (``123.batch``, ``123.0``), nor
who cancelled it by name (``CANCELLED by 1001``). ``commands.sacct_end_details`` lists the
steps; ``commands.user_names`` asks the cluster's password database for the uids. The backend
runs both through ``add_endings``; the readers and ``with_endings``, which copies the answers
onto the statuses, are pure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from myriagate.domain import values
from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState
from myriagate.errors import UnsafeValue
from myriagate.ports import CommandResult
from myriagate.slurm import commands, records
from myriagate.slurm.states import is_final

log = logging.getLogger(__name__)

# Final states worth the extra sacct call: memory for failures, the time limit for timeouts.
DETAILED: frozenset[JobState] = frozenset({JobState.FAILED, JobState.OUT_OF_MEMORY, JobState.TIMEOUT})
CANCELLED_BY = re.compile(r"^CANCELLED by ([0-9]{1,10})\Z")
# A job's own line (123) or one of its steps (123.batch, 123.extern, 123.0).
_STEP_ID = re.compile(r"^([0-9]+)(?:\.(?:batch|extern|interactive|[0-9]+))?\Z")
# sacct sizes: 307200K, 100M, 1.50G; an old ReqMem may end in n (per node) or c (per CPU).
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTP]?)([nc]?)\Z")
_UNIT = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_LIMIT = re.compile(r"^(?:[0-9]+|UNLIMITED|Partition_Limit)?\Z")
# How long after a job's end its details may still be missing from accounting before the job
# is recorded without them (measured: about 2 s; slurmdbd under load takes longer).
SETTLE_S = 60.0
_NAMES_KEPT = 10_000  # uid -> login answers kept per backend before starting again


@dataclass(frozen=True)
class EndDetails:
    max_rss_bytes: int | None = None
    mem_requested_bytes: int | None = None
    time_limit_s: int | None = None
    # False while accounting still writes the end: a step not final yet, or the job's request
    # not recorded (slurmdbd prints ReqMem "16?" for a second or two after a job's end,
    # measured on the dev cluster).
    settled: bool = True


def size_bytes(text: str, default_unit: str) -> int | None:
    """``307200K`` -> 314572800; a number without a unit is in ``default_unit`` (sacct prints
    MaxRSS ``0`` bare, and ReqMem in megabytes); per-CPU memory (``c``) cannot be totalled
    here: None."""
    m = _SIZE.match(text.strip())
    if not m or m.group(3) == "c":
        return None
    return int(float(m.group(1)) * _UNIT[m.group(2) or default_unit])


def parse_end_details(text: str | bytes) -> dict[str, EndDetails]:
    """Lines of ``commands.sacct_end_details``: {job id: its peak RSS over all steps, its
    memory request and time limit, and whether accounting has settled them}. Lines not shaped
    as such records are skipped."""
    peaks: dict[str, int] = {}
    asked: dict[str, int | None] = {}
    limits: dict[str, int | None] = {}
    unsettled: set[str] = set()
    for line in records.lines(text):
        f = records.fields(line, len(commands.SACCT_END_FIELDS))
        if f is None:
            continue
        job_id, raw, state, req_mem, max_rss, limit = f
        m = _STEP_ID.match(job_id)
        if not (m and job_id == raw and records.STATE.match(state) and _LIMIT.match(limit)):
            continue
        parent = m.group(1)
        rss = size_bytes(max_rss, "")
        if rss is not None:
            peaks[parent] = max(rss, peaks.get(parent, 0))
        if not is_final(state):
            unsettled.add(parent)
        if job_id == parent:
            asked[parent] = size_bytes(req_mem, "M")
            limits[parent] = int(limit) * 60 if limit.isdigit() else None
            if not req_mem.strip() or "?" in req_mem:  # not written yet ("16?")
                unsettled.add(parent)
    return {
        job_id: EndDetails(
            peaks.get(job_id) or None,
            asked.get(job_id),
            limits.get(job_id),
            settled=job_id in asked and job_id not in unsettled,
        )
        for job_id in dict.fromkeys([*asked, *peaks])
    }


def parse_user_names(text: str | bytes) -> dict[str, str]:
    """``getent passwd`` lines -> {uid: login}; a name that is not a plain login is left out
    (it would be shown to people)."""
    names: dict[str, str] = {}
    for line in records.lines(text):
        parts = line.split(":")
        if len(parts) < 3 or not parts[2].isdigit():
            continue
        try:
            names[parts[2]] = values.login(parts[0])
        except UnsafeValue:
            continue
    return names


def canceller_uid(status: JobStatus) -> str | None:
    found = CANCELLED_BY.match(status.slurm_state)
    return found.group(1) if found else None


def wants_details(status: JobStatus) -> bool:
    """A plain job (not an array, whose tasks end each their own way) that ended in a state
    its details explain."""
    return "_" not in status.slurm_job_id and not status.array_tasks and status.state in DETAILED


def with_endings(
    statuses: Mapping[str, JobStatus], details: Mapping[str, EndDetails], names: Mapping[str, str]
) -> dict[str, JobStatus]:
    """``statuses`` with what ``details`` and ``names`` (uid -> login) know added."""
    out: dict[str, JobStatus] = {}
    for job_id, status in statuses.items():
        found = details.get(job_id)
        if found is not None:
            status = replace(
                status,
                max_rss_bytes=found.max_rss_bytes,
                mem_requested_bytes=found.mem_requested_bytes,
                time_limit_s=found.time_limit_s,
            )
        uid = canceller_uid(status)
        if uid is not None and uid in names:
            status = replace(status, cancelled_by=names[uid])
        out[job_id] = status
    return out


Query = Callable[[Sequence[str]], CommandResult]


def add_endings(
    query: Query, statuses: dict[str, JobStatus], known_names: dict[str, str], *, now: datetime | None = None
) -> dict[str, JobStatus]:
    """``statuses`` with the end details of the jobs that need them (one sacct call) and the
    names of their cancellers (one getent call for the uids not in ``known_names``, which it
    fills: a uid's login does not change). A job that ended less than ``SETTLE_S`` ago and
    whose details accounting has not settled yet is left out, like a job whose end sacct
    does not show yet (``arrays.combine_views``): recorded now, it would be final for good
    without them; the next poll has them. Past that, a missing answer leaves its fields None:
    the words without the detail are still right ("cancelled", "reached its time limit")."""
    detailed = [job_id for job_id, status in statuses.items() if wants_details(status)]
    details: dict[str, EndDetails] = {}
    if detailed:
        result = query(commands.sacct_end_details(detailed))
        if result.returncode == 0:
            details = parse_end_details(result.stdout)
        else:
            log.warning("sacct end details failed: %s", result.error_text.strip()[:200])
    uids = {uid for status in statuses.values() if (uid := canceller_uid(status)) is not None}
    unknown = sorted(uids - set(known_names))
    if unknown:
        # getent exits 2 when some key is missing, and still prints the others.
        result = query(commands.user_names(unknown))
        known_names.update(parse_user_names(result.stdout))
        if len(known_names) > _NAMES_KEPT:
            known_names.clear()
    settling = {
        job_id
        for job_id in detailed
        if not (found := details.get(job_id)) or not found.settled
        if just_ended(statuses[job_id], now)
    }
    kept = {job_id: status for job_id, status in statuses.items() if job_id not in settling}
    if not details and not uids:
        return kept
    return with_endings(kept, details, known_names)


def just_ended(status: JobStatus, now: datetime | None = None) -> bool:
    """True while accounting may still be writing this job's end (``SETTLE_S``)."""
    if status.ended_at is None:
        return False  # no end time to count from: never held back
    return (now or datetime.now(UTC)) - status.ended_at < timedelta(seconds=SETTLE_S)


def from_pyslurm(record: Any) -> dict[str, Any]:
    """The same details from a pyslurm accounting record (``pyslurm.db.Job``, names checked
    against pyslurm 22.5.3 on the dev cluster): ``memory`` (MB asked), ``time_limit``
    (minutes), ``stats.max_resident_memory`` (bytes, the largest of its steps; 0 when never
    sampled) and ``cancelled_by``, a login pyslurm already names. A controller record
    (``pyslurm.Job``) lacks some of them: those stay None."""
    memory, limit = getattr(record, "memory", None), getattr(record, "time_limit", None)
    peak = getattr(getattr(record, "stats", None), "max_resident_memory", None)
    who = getattr(record, "cancelled_by", None)
    try:
        named = values.login(who) if isinstance(who, str) and who else None
    except UnsafeValue:
        named = None
    return {
        "max_rss_bytes": peak if isinstance(peak, int) and peak > 0 else None,
        "mem_requested_bytes": memory * 2**20 if isinstance(memory, int) and memory > 0 else None,
        "time_limit_s": limit * 60 if isinstance(limit, int) and limit > 0 else None,
        "cancelled_by": named,
    }
