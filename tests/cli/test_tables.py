"""``cli.tables``: a table fits the terminal without cutting anything (issue #15, "Tables never
cut numbers or names"): text wraps, optional columns give way, then one record per row."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from myriagate.cli.tables import Col, render_table

COLUMNS = (Col("id", whole=True), Col("count", whole=True), Col("owner", priority=2),
           Col("name", whole=False), Col("account", priority=1), Col("when", whole=True))  # fmt: skip
ROWS = [
    (
        "3f2a1b4c",
        "1,234,567",
        "alice@unicaen.fr",
        "a fairly long job name that wraps",
        "caen-climat",
        "2026-12-05 06:12",
    ),
    ("3f2a1b4d9", "7", "bob@univ-rouen.fr", "[bold]not markup[/bold]", "rouen-chimie", "2026-12-05 06:13"),
]


def rendered(width: int, columns: object = COLUMNS, rows: object = ROWS, **kwargs: object) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, no_color=True, highlight=False)
    render_table(console, columns, rows, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def lines_fit(text: str, width: int) -> bool:
    return all(len(line.rstrip()) <= width for line in text.splitlines())


@pytest.mark.parametrize("width", [30, 40, 60, 80, 200])
def test_ids_numbers_and_dates_are_never_cut_at_any_width(width: int) -> None:
    text = rendered(width)
    assert lines_fit(text, width), text
    assert "…" not in text
    for row in ROWS:
        for value in (row[0], row[1], row[5]):  # whole, on one line
            assert any(value in line for line in text.splitlines()), (value, text)
    assert "[bold]not" in text  # a value is text, never rich markup


def test_a_wide_terminal_shows_every_column_as_a_table() -> None:
    text = rendered(200)
    assert text.splitlines()[0].split() == ["id", "count", "owner", "name", "account", "when"]
    assert "a fairly long job name that wraps" in text and "caen-climat" in text


def test_optional_columns_give_way_highest_priority_first() -> None:
    text = rendered(80)
    header = text.splitlines()[0].split()
    assert "owner" not in header and "account" in header
    text = rendered(60)
    header = text.splitlines()[0].split()
    assert header == ["id", "count", "name", "when"]
    assert "a fairly long" in text and "that wraps" in text  # the name wrapped at its spaces


def test_below_the_columns_that_must_stay_one_record_per_row() -> None:
    text = rendered(30)
    assert "alice@unicaen.fr" in text and "rouen-chimie" in text  # records show every column again
    firsts = [line.split()[0] for line in text.splitlines() if line.strip()]
    assert {"id", "count", "owner", "name", "account", "when"} <= set(firsts)
    assert firsts.count("id") == 2  # one record per row


def test_wide_shows_everything_wider_than_the_terminal() -> None:
    text = rendered(40, wide=True)
    assert text.splitlines()[0].split() == ["id", "count", "owner", "name", "account", "when"]
    assert any("a fairly long job name that wraps" in line for line in text.splitlines())


def test_plain_string_columns_keep_single_words_whole_and_fold_long_ones() -> None:
    sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    text = rendered(60, ("file", "size", "note"), [("results/a.h5", "1.2 MiB", sha)])
    assert lines_fit(text, 60) and "results/a.h5" in text and "1.2 MiB" in text
    assert sha in "".join(text.split())  # folded over lines, every character kept


def test_a_column_that_gave_way_comes_back_when_a_wider_one_left_after_it_made_room() -> None:
    """Issue #15, found trying the CLI at 80 columns: alice's `jobs list` left out her account
    while 16 columns stayed empty (the 17-wide "cluster/partition" gave way after it)."""
    columns = (Col("id", whole=True), Col("account", priority=2), Col("cluster/partition", priority=1),
               Col("when", whole=True))  # fmt: skip
    rows = [("3f2a1b4d9", "rouen-chimie", "devcluster/debug", "2026-12-05 06:13")]
    assert rendered(42, columns, rows).splitlines()[0].split() == ["id", "account", "when"]
    assert rendered(40, columns, rows).splitlines()[0].split() == ["id", "when"]  # no room for it
    assert rendered(60, columns, rows).splitlines()[0].split() == [
        "id",
        "account",
        "cluster/partition",
        "when",
    ]


def test_a_datasets_files_keep_their_paths_whole_beside_a_sha256_at_80_columns() -> None:
    """`datasets show` at 80 columns gave the path column the 8 characters the sha256 left,
    folding 'results/in1.count' into 'results/', 'in1.coun', 't' (found trying it): a path
    is not folded to make room; the files go one record per row instead."""
    from myriagate.cli.datasets import FILE_COLUMNS

    rows = [("results/in1.count", "18 B", "9" * 64), ("results/max.txt", "5 B", "f" * 64)]
    text = rendered(80, FILE_COLUMNS, rows)
    assert lines_fit(text, 80), text
    for path, _size, sha in rows:
        assert any(path in line for line in text.splitlines()), text
        assert any(sha in line for line in text.splitlines()), text
    assert "path" in rendered(200, FILE_COLUMNS, rows).splitlines()[0]  # a table when it fits
