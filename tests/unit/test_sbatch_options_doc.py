"""docs/job-scripts.md's option table is the one written from the sbatch option table, and
every option belongs to a section the form and the CLI know."""

from __future__ import annotations

from pathlib import Path

import pytest

from myriagate.domain.sbatch_options import doc, table
from myriagate.domain.sbatch_options.groups import GROUPS


def test_the_doc_page_holds_the_current_table() -> None:
    page = doc.DOC_PATH.read_text(encoding="utf-8")
    assert doc.updated(page) == page, f"docs/job-scripts.md is out of date: run {doc.COMMAND} --write"


def test_every_option_has_a_row_saying_its_decision_and_reason() -> None:
    rows = doc.render_table().splitlines()
    for option in table.OPTIONS:
        row = next(r for r in rows if r.startswith(f"| `--{option.name}`"))
        assert f"| {option.policy} |" in row
        if option.policy == "refused":
            assert option.reason is not None and option.reason.en in row and "| nowhere |" in row
        else:
            assert option.help.en.replace("|", "\\|") in row
    input_row = next(r for r in rows if r.startswith("| `--input`"))
    assert "| script, API |" in input_row  # `myriagate submit --input` stages files instead


def test_check_fails_on_a_stale_page_and_write_fixes_it(tmp_path: Path) -> None:
    page = tmp_path / "job-scripts.md"
    page.write_text(
        f"# Job scripts\n\n{doc.BEGIN}\n| old | table |\n{doc.END}\n\nmore text\n", encoding="utf-8"
    )
    assert doc.main(["--path", str(page)]) == 1
    assert doc.main(["--path", str(page), "--write"]) == 0
    assert doc.main(["--path", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "| old | table |" not in text and "`--ntasks-per-node`" in text and text.endswith("more text\n")


def test_a_page_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="no block"):
        doc.updated("# nothing here\n")


def test_every_offered_option_is_in_a_known_section() -> None:
    assert {o.group for o in table.ACCEPTED} <= set(GROUPS)
