"""The task table of `myriagate jobs show` on an array job fits 60 and 80 columns and never
splits a Slurm id, a number or a time over two lines (as every other CLI table, cli.tables):
at 60 columns (and at 80 once times named their zone) its start and end times wrapped into
'2026-12-05' and '07:09:11 UTC' lines and the 'slurm id' header broke in two (seen on the dev
cluster). When they do not fit, the tasks' Slurm ids (the array's id and the task number)
give way first, then the start times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from myriagate.cli import job_arrays
from myriagate.cli.job_script import at_with_zone
from myriagate.web.api.array_schemas import ArrayOut

STARTED = datetime(2026, 12, 5, 7, 9, 11, tzinfo=UTC)
ENDED = datetime(2026, 12, 5, 7, 9, 13, tzinfo=UTC)


def _array() -> ArrayOut:
    tasks = [
        {"index": i, "slurm_job_id": f"5182_{i}", "state": "failed" if i == 2 else "completed",
         "slurm_state": "FAILED" if i == 2 else "COMPLETED", "exit_code": 3 if i == 2 else 0,
         "signal": None, "started_at": STARTED, "ended_at": ENDED}
        for i in range(5)
    ]  # fmt: skip
    summary = {"done": 4, "failed": 1, "cancelled": 0, "running": 0, "waiting": 0, "text": "4 done, 1 failed"}
    return ArrayOut.model_validate({"range": "0-4", "task_count": 5, "summary": summary, "tasks": tasks})


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_task_table_keeps_ids_and_times_whole(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    job_arrays.print_array(_array())
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), out
    task_2 = next(line for line in lines if "5182_2" in line or line.split()[:1] == ["2"])
    assert "failed" in task_2 and "3" in task_2.split(), out
    ended = at_with_zone(ENDED)  # '2026-12-05 08:09:13 CET' in the terminal's zone
    clock = ended.split()[1]
    assert out.count(clock) == 5, out
    assert all(ended in line for line in lines if clock in line), out
    if width >= 200:
        assert "slurm id" in out and "5182_2" in task_2
