"""Deciding a --dependency expression from what the gateway knows of the jobs it names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from myriagate.domain.sbatch_options import dependency
from myriagate.domain.states import JobState
from myriagate.services.jobs.dependents import Outcome, evaluate, is_waiting, with_dependency

STARTED = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FakeJob:
    state: JobState
    slurm_job_id: str | None = None
    started_at: datetime | None = None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


QUEUED = FakeJob(JobState.PENDING, "100")
STAGING = FakeJob(JobState.STAGING_IN, id=uuid.UUID("00000000-0000-4000-8000-00000000000a"))
DONE = FakeJob(JobState.COMPLETED, "101", STARTED)
FAILED = FakeJob(JobState.FAILED, "102", STARTED)
FAILED_EARLY = FakeJob(JobState.FAILED, reason="stage-in failed: gone")
CANCELLED_EARLY = FakeJob(JobState.CANCELLED)
JOBS = {"a": QUEUED, "b": STAGING, "d": DONE, "f": FAILED, "e": FAILED_EARLY, "c": CANCELLED_EARLY}


def decide(text: str) -> Outcome:
    # Refs are one hex letter per job (a, b, c, d, e, f) padded to the 8 digits a gateway id needs.
    parsed = dependency.parse(text)
    return evaluate(parsed, lambda ref: JOBS.get(ref.text[0]) if not ref.is_slurm_id else None)


@pytest.mark.parametrize(
    ("text", "value", "waiting"),
    [
        ("afterok:a0000000", "afterok:100", ()),
        ("afterok:d0000000", None, ()),  # met already: nothing left to wait for
        ("afternotok:f0000000,afterok:a0000000", "afterok:100", ()),
        ("afterany:e0000000:a0000000", "afterany:100", ()),  # ended before Slurm: it has ended
        ("after:c0000000", None, ()),  # cancelled counts as started for after
        ("afterok:f0000000?afterok:a0000000", "afterok:100", ()),  # a failed alternative is dropped
        ("afterok:a0000000?afterany:d0000000", None, ()),  # one met alternative is enough
        ("afterok:b0000000", f"afterok:{STAGING.id}", (STAGING,)),
        ("singleton,after:a0000000+5", "singleton,after:100+5", ()),
        ("afterok:777_3", "afterok:777_3", ()),  # a Slurm id the gateway does not decide
    ],
)
def test_expressions_are_decided(text: str, value: str | None, waiting: tuple[FakeJob, ...]) -> None:
    assert decide(text) == Outcome(value, waiting)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("afterok:f0000000", "afterok:f0000000 can never be satisfied: job {f} ended failed"),
        ("afterok:a0000000,afternotok:d0000000", "afternotok:d0000000 can never be satisfied"),
        ("after:e0000000", "ended failed before reaching Slurm (stage-in failed: gone)"),
        ("afterok:f0000000?afterok:e0000000", "afterok:f0000000 can never be satisfied"),
    ],
)
def test_expressions_that_can_never_be_met_say_why(text: str, why: str) -> None:
    outcome = decide(text)
    assert outcome.value is None and outcome.never is not None
    assert why.format(f=FAILED.id) in outcome.never


def test_the_argv_element_is_replaced_in_place_or_dropped() -> None:
    args = ["--job-name=x", "--dependency=afterok:abc", "--time=10", "--ignore-pbs"]
    assert with_dependency(args, "afterok:1") == [
        "--job-name=x",
        "--dependency=afterok:1",
        "--time=10",
        "--ignore-pbs",
    ]
    assert with_dependency(args, None) == ["--job-name=x", "--time=10", "--ignore-pbs"]
    assert not is_waiting(args) and not is_waiting(["--dependency=afterok:123_4+5"])
    assert is_waiting([f"--dependency=afterany:12?afterok:{STAGING.id}"])
