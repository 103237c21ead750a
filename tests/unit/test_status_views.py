"""Combining the controller's (squeue) and accounting's (sacct) views of one job."""

from __future__ import annotations

from datetime import UTC, datetime

from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState
from myriagate.slurm.arrays import combine_views

ENDED = datetime(2026, 12, 5, 1, 37, 31, tzinfo=UTC)


def test_an_accounting_row_without_its_end_time_yet_takes_the_controllers() -> None:
    # Seen on the dev cluster: sacct printed COMPLETED with End=Unknown while squeue still
    # showed the job COMPLETED with its EndTime; the job was recorded final with no end.
    queued = JobStatus("30883", JobState.COMPLETED, "COMPLETED", ended_at=ENDED)
    accounted = JobStatus("30883", JobState.COMPLETED, "COMPLETED", exit_code=0, signal=0)
    view = combine_views(["30883"], {"30883": queued}, {"30883": accounted})["30883"]
    assert (view.state, view.exit_code, view.ended_at) == (JobState.COMPLETED, 0, ENDED)


def test_accountings_own_end_time_wins_when_it_has_one() -> None:
    later = datetime(2026, 12, 5, 1, 37, 32, tzinfo=UTC)
    queued = JobStatus("7", JobState.FAILED, "FAILED", ended_at=ENDED)
    accounted = JobStatus("7", JobState.FAILED, "FAILED", exit_code=3, signal=0, ended_at=later)
    view = combine_views(["7"], {"7": queued}, {"7": accounted})["7"]
    assert (view.exit_code, view.ended_at) == (3, later)
