"""Every command's line in its group's help is one sentence wrapped by the terminal, not by the
source: Typer's rich help kept a docstring's line breaks, so at 80 columns ``files --help``
broke "Links are copied as links, never / followed" and ``interactive --help`` its ``list`` and
``show`` lines mid-sentence (found trying the CLI in an 80-column terminal)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from myriagate.cli.datasets import datasets_app
from myriagate.cli.files import files_app
from myriagate.cli.interactive import interactive_app
from myriagate.cli.jobs import jobs_app


def test_each_command_is_listed_with_its_first_paragraph_on_one_line() -> None:
    for app in (files_app, datasets_app, interactive_app, jobs_app):
        group = typer.main.get_group(app)
        for name, command in group.commands.items():
            listed = command.short_help or command.help or ""
            assert "\n" not in listed, f"{name}: {listed!r}"


def test_at_80_columns_a_sentence_is_not_cut_where_the_source_was() -> None:
    shown = CliRunner().invoke(files_app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    panel = shown[shown.index("Commands") :]
    rows = [line.strip("│ ").strip() for line in panel.splitlines()]
    # "copied as links, never followed" stays together up to the terminal's own wrapping: the
    # line before "followed;" is full, not cut short where the docstring's line ended.
    at = next(i for i, row in enumerate(rows) if row.startswith("followed") or " followed;" in row)
    assert "Links are copied as links, never followed" in " ".join(rows[at - 1 : at + 1])
    assert len(rows[at - 1]) > 50
