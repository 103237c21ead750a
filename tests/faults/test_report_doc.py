"""docs/reliability.md: each writer replaces its own section and keeps the other one."""

from __future__ import annotations

from pathlib import Path

from tests.faults.consistency import Report
from tests.faults.recorder import Recorder, render
from tests.faults.report_doc import update_section


def test_sections_are_replaced_independently(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    update_section("faults", "## Faults\nold faults", doc)
    update_section("load", "## Load\nfirst load", doc)
    update_section("load", "## Load\nsecond load", doc)
    text = doc.read_text()
    assert "old faults" in text and "second load" in text and "first load" not in text
    assert text.index("## Load") < text.index("## Faults")
    update_section("faults", "## Faults\nnew faults", doc)
    text = doc.read_text()
    assert "new faults" in text and "old faults" not in text and "second load" in text


def test_render_counts_lost_and_duplicated_across_tests() -> None:
    rec = Recorder()
    rec.record("test_a", "did a", Report(jobs_accepted=3, jobs_in_slurm_once=3))
    rec.record("test_b", "did b", Report(jobs_accepted=2, jobs_lost=1, problems=["job x lost"]))
    rec.outcomes.update({"test_a": "passed", "test_b": "failed", "test_c": "skipped: no root"})
    text = render(rec)
    assert "5 jobs accepted, **1 lost**, **0 duplicated**" in text
    assert "| `test_b` | failed |" in text
    assert "`test_c`: skipped: no root" in text
