"""Gateway job states: ordered, with a final flag, so a job's state never goes backwards."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life, as the gateway sees it (stored value = API value)."""

    STAGING_IN = "staging_in"
    SUBMITTING = "submitting"
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    STAGING_OUT = "staging_out"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    NODE_FAIL = "node_fail"
    PREEMPTED = "preempted"
    BOOT_FAIL = "boot_fail"
    DEADLINE = "deadline"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_success(self) -> bool:
        return self is JobState.COMPLETED


FINAL_STATES: frozenset[JobState] = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
    }
)

_RANK: dict[JobState, int] = {
    JobState.STAGING_IN: 0,
    JobState.SUBMITTING: 1,
    JobState.PENDING: 2,
    JobState.RUNNING: 3,
    JobState.SUSPENDED: 3,
    JobState.STAGING_OUT: 4,
    **{state: 5 for state in FINAL_STATES},
}


def advance(current: JobState, observed: JobState) -> JobState:
    """The state a job moves to when ``observed`` is seen while it is ``current``.

    States only move forward: a final state is never left, and an observation of an earlier
    rank (a requeued job seen pending again, a stale poll) leaves the state as it is. Moves
    within a rank (running <-> suspended) are allowed.
    """
    if current.is_final:
        return current
    if observed.rank >= current.rank:
        return observed
    return current
