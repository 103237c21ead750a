"""Slurm job states (as squeue %T / sacct State print them) translated to gateway states.

The table covers every state of Slurm 22.05 to 25.11 (``src/common/slurm_protocol_defs.c``
``job_state_string``). A state not in the table maps to ``None``: the caller keeps the job's
previous state instead of guessing (psij-python crashes here; we do not).
"""

from __future__ import annotations

import functools

from myriagate.domain.states import JobState

SLURM_STATES: dict[str, JobState | None] = {
    # waiting
    "PENDING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,  # put back in the queue; it will run again
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,  # its reservation was deleted; held, still in the queue
    # has (or is getting) an allocation
    "CONFIGURING": JobState.RUNNING,  # nodes booting: the allocation exists
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,  # epilog running; the final state comes next
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,  # burst-buffer stage-out, still holds resources
    "SUSPENDED": JobState.SUSPENDED,
    "STOPPED": JobState.SUSPENDED,  # SIGSTOP'ed, resources kept
    # final
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,  # requeue-on-exit code, job held: it did not succeed
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,  # federation: a sibling ran it, this copy was revoked
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.BOOT_FAIL,
    "DEADLINE": JobState.DEADLINE,
    "PREEMPTED": JobState.PREEMPTED,
}

# squeue's compact codes (%t), for completeness when reading old fixtures.
COMPACT_CODES: dict[str, str] = {
    "PD": "PENDING", "RQ": "REQUEUED", "RH": "REQUEUE_HOLD", "RF": "REQUEUE_FED",
    "RD": "RESV_DEL_HOLD", "CF": "CONFIGURING", "R": "RUNNING", "CG": "COMPLETING",
    "RS": "RESIZING", "SI": "SIGNALING", "SO": "STAGE_OUT", "S": "SUSPENDED", "ST": "STOPPED",
    "CD": "COMPLETED", "F": "FAILED", "SE": "SPECIAL_EXIT", "CA": "CANCELLED", "RV": "REVOKED",
    "TO": "TIMEOUT", "OOM": "OUT_OF_MEMORY", "NF": "NODE_FAIL", "BF": "BOOT_FAIL",
    "DL": "DEADLINE", "PR": "PREEMPTED",
}  # fmt: skip


def state_name(raw: str) -> str:
    """The bare state name in what Slurm printed: ``CANCELLED by 1001`` -> ``CANCELLED``.

    sacct appends ``by <uid>`` to CANCELLED; some versions add ``+`` to flag extra state bits
    (``RUNNING+``); squeue --json wraps states in lists. All reduce to the first word.
    """
    word = raw.strip().split(" ", 1)[0].rstrip("+").upper()
    return COMPACT_CODES.get(word, word)


@functools.lru_cache(maxsize=1024)
def to_job_state(raw: str) -> JobState | None:
    """The gateway state for a Slurm state string, or None when the state is unknown."""
    return SLURM_STATES.get(state_name(raw))


def is_final(raw: str) -> bool:
    """True when Slurm will not change this job's state any more (as far as we know)."""
    state = to_job_state(raw)
    return state is not None and state.is_final
