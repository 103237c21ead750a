"""Waiting for jobs to end by polling the API, with back-off, through gateway restarts.

Transient failures (the gateway restarting, the cluster briefly unreachable) are waited out:
a researcher waiting for a two-day job should not lose the wait to a gateway restart.
Anything else (the job deleted, the token revoked) is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from myriagate.errors import MyriagateError
from myriagate.web.api.schemas import JobOut

FIRST_POLL_S = 1.0
MAX_POLL_S = 10.0

Sleep = Callable[[float], None]


class JobReader(Protocol):
    def job(self, job: UUID | str | JobOut) -> JobOut: ...


class Poller:
    """Exponential back-off between polls, reset when something changes."""

    def __init__(self, sleep: Sleep, *, first_s: float = FIRST_POLL_S, max_s: float = MAX_POLL_S) -> None:
        self._sleep = sleep
        self._first_s = first_s
        self._max_s = max_s
        self.interval = first_s

    def wait(self, changed: bool) -> None:
        self.interval = self._first_s if changed else min(self.interval * 1.5, self._max_s)
        self._sleep(self.interval)


def _signature(job: JobOut) -> tuple[object, ...]:
    return (job.state, job.slurm_job_id, job.reason, job.exit_code)


def wait_for_jobs(
    reader: JobReader,
    job_ids: Sequence[UUID],
    *,
    sleep: Sleep = time.sleep,
    timeout_s: float | None = None,
    on_update: Callable[[Sequence[JobOut]], object] | None = None,
    on_retry: Callable[[MyriagateError], object] | None = None,
) -> list[JobOut]:
    """Every job once it reached a final state, in the order given.

    ``on_update`` gets the latest view of all of them after each round (to draw progress);
    ``on_retry`` each transient error being waited out. ``timeout_s`` bounds the wait
    (``TimeoutError``); ``None`` waits as long as it takes.
    """
    job_ids = list(dict.fromkeys(job_ids))  # a job named twice is waited for once
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    poller = Poller(sleep)
    latest: dict[UUID, JobOut] = {}
    while True:
        changed = False
        try:
            for job_id in job_ids:
                if job_id in latest and latest[job_id].state.is_final:
                    continue
                job = reader.job(job_id)
                changed |= job_id not in latest or _signature(latest[job_id]) != _signature(job)
                latest[job_id] = job
        except MyriagateError as exc:
            if not exc.transient:
                raise
            if on_retry is not None:
                on_retry(exc)
        if len(latest) == len(job_ids) and on_update is not None:
            on_update([latest[j] for j in job_ids])
        if len(latest) == len(job_ids) and all(latest[j].state.is_final for j in job_ids):
            return [latest[j] for j in job_ids]
        if deadline is not None and time.monotonic() + poller.interval > deadline:
            raise TimeoutError(f"{len(job_ids)} job(s) still running after {timeout_s} s")
        poller.wait(changed)
