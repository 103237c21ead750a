"""Slurm state names -> gateway states: every state Slurm prints has an answer."""

from __future__ import annotations

import pytest

from myriagate.domain.states import JobState
from myriagate.slurm.states import COMPACT_CODES, SLURM_STATES, is_final, state_name, to_job_state

# Every base state and state flag name job_state_string() can print (Slurm 22.05-25.11).
ALL_SLURM_STATES = [
    "PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
    "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "CONFIGURING",
    "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "RESIZING",
    "STAGE_OUT", "SIGNALING", "SPECIAL_EXIT", "STOPPED", "REVOKED",
]  # fmt: skip


@pytest.mark.parametrize("name", ALL_SLURM_STATES)
def test_every_slurm_state_has_a_gateway_state(name: str) -> None:
    assert isinstance(to_job_state(name), JobState)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PENDING", JobState.PENDING),
        ("REQUEUED", JobState.PENDING),
        ("CONFIGURING", JobState.RUNNING),
        ("COMPLETING", JobState.RUNNING),
        ("SUSPENDED", JobState.SUSPENDED),
        ("COMPLETED", JobState.COMPLETED),
        ("FAILED", JobState.FAILED),
        ("CANCELLED by 1001", JobState.CANCELLED),
        ("CANCELLED by 0", JobState.CANCELLED),
        ("TIMEOUT", JobState.TIMEOUT),
        ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
        ("NODE_FAIL", JobState.NODE_FAIL),
        ("PREEMPTED", JobState.PREEMPTED),
        ("BOOT_FAIL", JobState.BOOT_FAIL),
        ("DEADLINE", JobState.DEADLINE),
        ("SPECIAL_EXIT", JobState.FAILED),
        ("RUNNING+", JobState.RUNNING),
        (" running ", JobState.RUNNING),
        ("CD", JobState.COMPLETED),
        ("PD", JobState.PENDING),
        ("OOM", JobState.OUT_OF_MEMORY),
    ],
)
def test_slurm_state_translation(raw: str, expected: JobState) -> None:
    assert to_job_state(raw) is expected


@pytest.mark.parametrize("raw", ["", "LAUNCH_FAILED_IN_SLURM_99", "EXPLODED", "None"])
def test_an_unknown_state_is_none_not_a_guess(raw: str) -> None:
    assert to_job_state(raw) is None
    assert not is_final(raw)


def test_state_name_drops_what_sacct_appends() -> None:
    assert state_name("CANCELLED by 1001") == "CANCELLED"
    assert state_name("R") == "RUNNING"


def test_final_slurm_states_are_final_gateway_states() -> None:
    for name in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                 "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED"):  # fmt: skip
        assert is_final(name), name
    for name in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED", "SUSPENDED", "STOPPED"):
        assert not is_final(name), name


def test_compact_codes_all_name_known_states() -> None:
    assert set(COMPACT_CODES.values()) <= set(SLURM_STATES)
