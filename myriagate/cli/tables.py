"""Tables that fit the terminal without cutting anything.

A table is laid out for the console's width (``COLUMNS`` when not a terminal) in three steps:

1. every column at its natural width, when that fits;
2. otherwise text columns wrap at spaces down to their longest word (words past ``WORD_CAP``
   folded), while ids, numbers and dates (``Col(whole=True)``) stay whole on one line; when
   even that is too wide, optional columns (``priority`` > 0, highest first) are left out;
3. then text columns fold their words down to ``FOLD_MIN`` characters;
4. when the columns that must stay still do not fit, one record per row (``name  value``
   lines), which fits any width.

Nothing is ever cut with an ellipsis. ``wide=True`` shows every column at its natural width,
wider than the terminal if need be (lines then wrap in the terminal, or go whole into a pipe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

WORD_CAP = 24  # a longer word in a text column (a path, a hash) is folded rather than kept whole
SHORT = 16  # a column whose values are all this short keeps them whole (``Col.whole=None``)
WORD_MAX = 40  # ... or all single words up to this long (a UUID, an ISO date-time)
FOLD_MIN = 8  # the narrowest a text column gets, its words folded, before one record per row
GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Col:
    """A column: ``whole`` cells never wrap (ids, numbers, names, dates), others wrap and fold
    (unless ``folds`` is False); ``None`` decides from the cells (``_is_whole``). ``priority`` > 0
    marks a column that may be left out on a narrow terminal, the highest number first."""

    header: str
    whole: bool | None = None
    priority: int = 0
    folds: bool = True  # False: its words are never folded (a path): one record per row first


@dataclass(frozen=True)
class _Measured:
    natural: int  # the widest line of any cell or of the header
    minimum: int  # the narrowest it may wrap to without breaking a word
    folded: int  # the narrowest it may take, long words folded (``FOLD_MIN``)

    def at_least(self, folding: bool) -> _Measured:
        return _Measured(self.natural, self.folded, self.folded) if folding else self


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _widest_line(texts: Sequence[str]) -> int:
    return max((cell_len(line) for text in texts for line in text.splitlines()), default=0)


def _is_whole(col: Col, cells: Sequence[str]) -> bool:
    """Declared, or values that are short (numbers with units, names) or single words up to
    ``WORD_MAX`` (ids, ISO dates): never wrapped."""
    if col.whole is not None:
        return col.whole
    return all(
        "\n" not in text
        and (cell_len(text) <= SHORT or (len(text.split()) == 1 and cell_len(text) <= WORD_MAX))
        for text in cells
    )


def _measure(col: Col, cells: Sequence[str]) -> _Measured:
    """A column's natural width and the narrowest it may take: its whole cells (``whole``) or
    its longest word (up to ``WORD_CAP``); a header always wraps at its spaces."""
    natural = max(_widest_line([col.header, *cells]), 1)
    header = min(_longest_word(col.header), WORD_CAP)
    if _is_whole(col, cells):
        whole = max(_widest_line(cells), 1)
        return _Measured(natural, max(whole, header), max(whole, min(header, FOLD_MIN)))
    words = max((_longest_word(text) for text in cells), default=0)
    minimum = min(max(min(words, WORD_CAP), header, 1), natural)
    return _Measured(natural, minimum, min(minimum, FOLD_MIN) if col.folds else minimum)


def fit_widths(measures: Sequence[_Measured], available: int) -> list[int] | None:
    """Column widths whose sum with the gaps is at most ``available``; None when the minimums
    do not fit. The room left above the minimums goes to the columns in proportion to what
    they lack of their natural width."""
    room = available - GAP * (len(measures) - 1)
    naturals = [m.natural for m in measures]
    if sum(naturals) <= room:
        return naturals
    widths = [m.minimum for m in measures]
    spare = room - sum(widths)
    if spare < 0:
        return None
    lacking = [m.natural - m.minimum for m in measures]
    total = sum(lacking)
    extra = [spare * lack // total for lack in lacking]
    leftover = spare - sum(extra)
    for index in sorted(range(len(measures)), key=lambda i: lacking[i] - extra[i], reverse=True):
        if leftover <= 0:
            break
        if extra[index] < lacking[index]:
            extra[index] += 1
            leftover -= 1
    return [w + e for w, e in zip(widths, extra, strict=True)]


def _table(
    cols: Sequence[Col], widths: Sequence[int], rows: Sequence[Sequence[str]], title: str | None
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), title=title)
    for index, (col, width) in enumerate(zip(cols, widths, strict=True)):
        # The header wraps even above a column whose cells must not (no_wrap would crop it).
        header = Text(col.header, no_wrap=False, overflow="fold")
        whole = _is_whole(col, [row[index] for row in rows])
        table.add_column(header, width=width, no_wrap=whole, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # a job's name is text, never rich markup
    return table


def _records(cols: Sequence[Col], rows: Sequence[Sequence[str]], title: str | None) -> Table:
    """One ``name  value`` line per non-empty cell, a blank line between rows."""
    grid = Table.grid(padding=(0, GAP, 0, 0))
    grid.title = title
    grid.add_column(no_wrap=True, justify="right")
    grid.add_column(overflow="fold")
    for number, row in enumerate(rows):
        if number:
            grid.add_row("", "")
        for col, cell in zip(cols, row, strict=True):
            if cell:
                grid.add_row(Text(col.header), Text(cell))
    return grid


def leaves_out_nothing(width: int, columns: Sequence[str | Col], rows: Sequence[Sequence[object]]) -> bool:
    """Whether every column fits ``width`` without folding a word: then ``render_table`` shows
    them all, whatever their ``priority`` (a caller may skip finding out which may give way)."""
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    measures = [_measure(col, [row[i] for row in cells]) for i, col in enumerate(cols)]
    return fit_widths(measures, width) is not None


def render_table(
    console: Console,
    columns: Sequence[str | Col],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
    wide: bool = False,
) -> None:
    """Print ``rows`` under ``columns`` on ``console``, laid out as the module says."""
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    shown = list(range(len(cols)))
    measures = [_measure(col, [row[i] for row in cells]) for i, col in enumerate(cols)]
    if wide:
        naturals = [m.natural for m in measures]
        width = sum(naturals) + GAP * (len(cols) - 1)
        table = _table(cols, naturals, cells, title)
        terminal = console.width
        console.width = max(width, terminal)  # print() caps its width at the console's
        try:
            console.print(table, crop=False)
        finally:
            console.width = terminal
        return
    for folding in (False, True):
        dropped: list[int] = []
        while True:
            widths = fit_widths([measures[i].at_least(folding) for i in shown], console.width)
            if widths is not None:
                shown = _taken_back(shown, dropped, [m.at_least(folding) for m in measures], console.width)
                widths = fit_widths([measures[i].at_least(folding) for i in shown], console.width) or widths
                chosen = [cols[i] for i in shown]
                console.print(_table(chosen, widths, [[row[i] for i in shown] for row in cells], title))
                return
            optional = [i for i in shown if cols[i].priority > 0]
            if not optional:
                break
            gone = max(reversed(optional), key=lambda i: cols[i].priority)
            shown.remove(gone)
            dropped.append(gone)
    console.print(_records(cols, cells, title))


def _taken_back(shown: list[int], dropped: list[int], measures: Sequence[_Measured], width: int) -> list[int]:
    """``shown`` with the columns that gave way taken back, the last to go first, while they
    still fit: a wide column leaving may make room for a narrower one that left before it
    (at 80 columns a job list's 17-wide "cluster/partition" gives way, and its account fits)."""
    kept = list(shown)
    for index in reversed(dropped):
        trial = sorted([*kept, index])
        if fit_widths([measures[i] for i in trial], width) is not None:
            kept = trial
    return kept
