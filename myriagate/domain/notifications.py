"""What a notification is about: event kinds, which job moves are worth telling, balance levels.

Pure rules shared by the outbox (services.notifications.outbox), the balance watch and the e-mail text
(domain.notification_text). No I/O here.
"""

from __future__ import annotations

from enum import StrEnum

from myriagate.domain.states import JobState


class NotificationKind(StrEnum):
    """One kind of event a user may be told about (stored value = API value)."""

    JOB_STARTED = "job_started"
    JOB_FINISHED = "job_finished"
    JOB_FAILED = "job_failed"
    JOB_STAGED = "job_staged"
    BALANCE_BELOW_20 = "balance_below_20"
    BALANCE_BELOW_10 = "balance_below_10"
    BALANCE_EXHAUSTED = "balance_exhausted"
    GRANT_CHANGED = "grant_changed"

    @property
    def is_job(self) -> bool:
        return self.value.startswith("job_")


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


# E-mail defaults when a user never chose: a job starting is noise for most people (queues
# are short on Myria), everything else is worth an e-mail. Webhooks are opt-in by existing,
# so once a user registers one it receives every kind unless turned off.
EMAIL_DEFAULTS: dict[NotificationKind, bool] = {
    kind: kind is not NotificationKind.JOB_STARTED for kind in NotificationKind
}
WEBHOOK_DEFAULTS: dict[NotificationKind, bool] = dict.fromkeys(NotificationKind, True)

_FAILURES = frozenset(
    {
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
        JobState.CANCELLED,
    }
)


def job_notification(
    from_state: JobState | None, to_state: JobState, *, cancel_requested: bool
) -> NotificationKind | None:
    """The notification a job's move deserves, or None.

    A job cancelled at its owner's request is not news to them; cancelled by anyone else
    (an admin, Slurm) it is a failure. Results reaching storage (``staging_out`` →
    ``completed``) is "staged": finished, results stored.
    """
    if to_state is JobState.RUNNING:
        return NotificationKind.JOB_STARTED
    if to_state is JobState.COMPLETED:
        return (
            NotificationKind.JOB_STAGED
            if from_state is JobState.STAGING_OUT
            else NotificationKind.JOB_FINISHED
        )
    if to_state is JobState.CANCELLED and cancel_requested:
        return None
    if to_state in _FAILURES:
        return NotificationKind.JOB_FAILED
    return None


# Levels are percent thresholds of the grant; 100 means "above every threshold".
LEVEL_NONE = 100
LEVELS: dict[int, NotificationKind] = {
    20: NotificationKind.BALANCE_BELOW_20,
    10: NotificationKind.BALANCE_BELOW_10,
    0: NotificationKind.BALANCE_EXHAUSTED,
}


def balance_level(granted: tuple[int, int], remaining: tuple[int, int]) -> int:
    """The lowest threshold (20, 10, 0) the remaining share is under, else LEVEL_NONE.

    ``granted``/``remaining`` are (core-seconds, GPU-seconds); a dimension without a grant
    is ignored, and the scarcer dimension decides (a job needs both). Integer arithmetic:
    no float rounding at the boundary. Exhausted means nothing left (0).
    """
    level = LEVEL_NONE
    for total, left in zip(granted, remaining, strict=True):
        if total <= 0:
            continue
        if left <= 0:
            return 0
        for threshold in (10, 20):
            if left * 100 < total * threshold:
                level = min(level, threshold)
                break
    return level
