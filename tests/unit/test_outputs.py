"""Output paths resolved from sbatch filename patterns, as the researcher will find them."""

from __future__ import annotations

import pytest

from myriagate.domain.outputs import resolve_output_path

COMMON = {"work_dir": "/home/alice/runs", "job_name": "my job", "login": "alice", "node": "vm.cluster"}


def test_default_pattern_is_slurm_jobid_out_in_the_work_dir() -> None:
    assert resolve_output_path(None, slurm_job_id="123", **COMMON) == "/home/alice/runs/slurm-123.out"


def test_default_pattern_for_an_array_task() -> None:
    path = resolve_output_path(None, slurm_job_id="130", array_job_id="123", array_task_id=7, **COMMON)
    assert path == "/home/alice/runs/slurm-123_7.out"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("out-%j.log", "/home/alice/runs/out-130.log"),
        ("%x.%J", "/home/alice/runs/my job.130"),
        ("%A_%a", "/home/alice/runs/123_7"),
        ("%A_%3a", "/home/alice/runs/123_007"),
        ("%12j", "/home/alice/runs/0000000130"),  # widths stop at 10
        ("%u@%N", "/home/alice/runs/alice@vm"),
        ("%5N", "/home/alice/runs/vm"),  # width ignored for text
        ("%n-%t-%s", "/home/alice/runs/0-0-batch"),
        ("100%%", "/home/alice/runs/100%"),
        ("%%j", "/home/alice/runs/%j"),
        ("%q%j", "/home/alice/runs/%q130"),  # unknown sequences stay as written
        ("logs/%j/out", "/home/alice/runs/logs/130/out"),
        ("/scratch/alice/%j.out", "/scratch/alice/130.out"),
        ("out\\%j", "/home/alice/runs/out%j"),  # a backslash turns expansion off
    ],
)
def test_patterns(pattern: str, expected: str) -> None:
    path = resolve_output_path(pattern, slurm_job_id="130", array_job_id="123", array_task_id=7, **COMMON)
    assert path == expected


def test_array_placeholders_outside_an_array() -> None:
    assert resolve_output_path("%A-%a", slurm_job_id="55", **COMMON) == "/home/alice/runs/55-%a"


def test_job_name_with_percent_is_not_expanded_again() -> None:
    common = {**COMMON, "job_name": "%j"}
    assert resolve_output_path("%x", slurm_job_id="9", **common) == "/home/alice/runs/%j"


def test_array_form_job_id_is_refused() -> None:
    with pytest.raises(ValueError, match="plain number"):
        resolve_output_path(None, slurm_job_id="123_4", **COMMON)
