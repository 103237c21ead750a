"""docs/threats.md tracks the threat catalog: every catalog row is there once,
every test it names exists, every row that is not covered says why, and the totals add up.

The catalog itself lives outside the repository (``../shared/notes/threat-catalog.md``), so the
page carries the list of rows; when the catalog is present (a team machine), its ids are
compared with the page's too.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "threats.md"
CATALOG = ROOT.parent / "shared" / "notes" / "threat-catalog.md"

# The catalog's ids are stable: S = security, F = faults, Q = quotas, D = data, in its order.
EXPECTED_IDS = [
    f"{prefix}{n:02d}"
    for prefix, count in (("S", 31), ("F", 12), ("Q", 5), ("D", 5))
    for n in range(1, count + 1)
]
BEFORE = {"covered", "partial", "not covered"}
NOW = re.compile(r"covered|partial|not covered|in progress \(issue 12 item [1-8]\)|in progress \(issue 11\)")
# tests/<path>.py::name, ::Class::name, and an optional parametrized id: name[cli+ssh]
CITATION = re.compile(r"tests/[\w/.-]+?\.py(?:::[A-Za-z_]\w*)+(?:\[[^\]\s`]*\])?")
EMPTY = {"", "—", "-"}


@dataclass(frozen=True)
class Row:
    number: str
    id: str
    title: str
    before: str
    now: str
    tests: str
    notes: str


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table line; ``\\|`` stays inside its cell."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _section(title: str) -> list[str]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


@cache
def rows() -> tuple[Row, ...]:
    found = []
    for line in _section("Rows"):
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if not cells[0].isdigit():
            continue  # the header and its separator
        assert len(cells) == 7, f"row {cells[0]}: {len(cells)} cells, expected 7: {line[:80]}"
        found.append(Row(*cells))
    return tuple(found)


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """Names a pytest node id may use in ``path``: functions, and ``Class::method``."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def _missing(citation: str) -> str | None:
    """Why ``citation`` names no test, or None when it does."""
    path_text, _, name = citation.partition("::")
    name = name.split("[", 1)[0]  # a parametrized id names its function
    path = (ROOT / path_text).resolve()
    if not path.is_relative_to(ROOT / "tests") or not path.is_file():
        return f"{citation}: no file {path_text}"
    if name not in defined_tests(path):
        return f"{citation}: no test {name} in {path_text}"
    return None


def test_every_catalog_row_is_listed_once_in_order() -> None:
    numbers = [row.number for row in rows()]
    ids = [row.id for row in rows()]
    assert numbers == [str(n) for n in range(1, 54)], "rows must be numbered 1 to 53, each once"
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    assert not duplicates, f"listed twice: {duplicates}"
    missing = [i for i in EXPECTED_IDS if i not in ids]
    assert not missing, f"catalog rows missing from docs/threats.md: {missing}"
    assert ids == EXPECTED_IDS, "rows must follow the catalog's order (S01…S31, F01…F12, Q01…Q05, D01…D05)"
    untitled = [row.id for row in rows() if row.title in EMPTY]
    assert not untitled, f"rows without a title: {untitled}"


def test_statuses_are_the_known_ones() -> None:
    bad = [f"{row.id}: before {row.before!r}" for row in rows() if row.before not in BEFORE]
    bad += [f"{row.id}: now {row.now!r}" for row in rows() if not NOW.fullmatch(row.now)]
    assert not bad, "unknown statuses:\n" + "\n".join(bad)


def test_every_cited_test_exists() -> None:
    citations = CITATION.findall(DOC.read_text(encoding="utf-8"))
    assert citations, "no test cited at all: the parser no longer reads the page"
    missing = sorted({why for c in citations if (why := _missing(c)) is not None})
    assert not missing, "docs/threats.md cites tests that do not exist:\n" + "\n".join(missing)


def test_covered_rows_name_tests_and_the_others_say_why() -> None:
    problems = []
    for row in rows():
        cited = CITATION.findall(row.tests)
        if row.now in ("covered", "partial") and not cited:
            problems.append(f"{row.id} is {row.now} but names no test")
        if row.now != "covered" and row.notes in EMPTY:
            problems.append(f"{row.id} is {row.now} without a reason")
        if row.before != "not covered" and not cited:
            problems.append(f"{row.id} was {row.before} before this issue but names no test")
    assert not problems, "\n".join(problems)


def test_totals_match_the_rows() -> None:
    columns = ["covered", "partial", "not covered", "in progress"]

    def tally(statuses: list[str]) -> list[int]:
        kinds = ["in progress" if s.startswith("in progress") else s for s in statuses]
        return [kinds.count(c) for c in columns] + [len(kinds)]

    expected = {
        "before": tally([row.before for row in rows()]),
        "now": tally([row.now for row in rows()]),
    }
    shown = {}
    for line in _section("Totals"):
        cells = _cells(line) if line.startswith("|") else []
        if cells and cells[0].split()[:1] in (["before"], ["now"]):
            shown[cells[0].split()[0]] = [int(c) for c in cells[1:]]
    assert shown == expected, f"the totals say {shown}, the rows add up to {expected}"


def test_the_catalog_when_present_has_the_same_rows() -> None:
    if not CATALOG.is_file():
        pytest.skip(f"the catalog is outside the repository and absent here ({CATALOG})")
    catalog_ids = re.findall(r"^\| ([SFQD]\d\d) \|", CATALOG.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert catalog_ids == [row.id for row in rows()]
