"""Text cells of the CSV reports, made safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, after a tab or a carriage return, the same) as a formula: a name set to
``=HYPERLINK("https://…",…)`` in an account, an institution or a username would act in the admin's
spreadsheet (OWASP, "CSV injection"). Such a text cell gets a leading ``'``, which spreadsheets
read as "this is text" and do not show. Numbers are written as numbers (a negative difference
stays a number): only ``str`` values go through here.
"""

from __future__ import annotations

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_text(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def spreadsheet_cell(value: object) -> object:
    """A CSV cell: text made safe (above), anything else as it is."""
    return spreadsheet_text(value) if isinstance(value, str) else value
