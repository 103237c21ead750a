"""The option table of ``docs/job-scripts.md``, written from the sbatch option table.

``python -m myriagate.domain.sbatch_options.doc --write`` rewrites the part of the page
between the two marker comments; ``--check`` (and ``tests/unit/test_sbatch_options_doc.py``)
fails when the page is out of date, so the documentation cannot drift from what the gateway
does. ``render_table()`` is pure; only ``main`` reads and writes the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from myriagate.domain.sbatch_options import table
from myriagate.domain.sbatch_options.spec import OptionSpec, Surface

COMMAND = "python -m myriagate.domain.sbatch_options.doc"
BEGIN_PREFIX = "<!-- sbatch-options:begin"
BEGIN = f"{BEGIN_PREFIX} (generated: {COMMAND} --write) -->"
END = "<!-- sbatch-options:end -->"
DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "job-scripts.md"
_SURFACE_NAMES: dict[Surface, str] = {"script": "script", "cli": "CLI", "api": "API", "form": "form"}
_HEADER = (
    "| option | short | decision | where it can be set | how it enters the cost | help / reason |\n"
    "|---|---|---|---|---|---|"
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _names(option: OptionSpec) -> str:
    names = f"`--{option.name}`"
    if option.aliases:
        names += " (also " + ", ".join(f"`--{a}`" for a in option.aliases) + ")"
    return names


def _where(option: OptionSpec) -> str:
    if option.policy == "refused":
        return "nowhere"
    return ", ".join(name for surface, name in _SURFACE_NAMES.items() if surface in option.surfaces)


def _explained(option: OptionSpec) -> str:
    if option.policy == "refused":
        return option.reason.en if option.reason else ""
    if option.policy == "rewritten" and option.reason is not None:
        return f"{option.help.en} Rewritten: {option.reason.en}."
    return option.help.en


def row(option: OptionSpec) -> str:
    short = f"`-{option.short}`" if option.short else ""
    cells = (_names(option), short, option.policy, _where(option), option.cost or "—", _explained(option))
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render_table() -> str:
    """The generated block, markers included: accepted options in form order, then refused."""
    rows = "\n".join(row(o) for o in table.OPTIONS)
    return f"{BEGIN}\n{_HEADER}\n{rows}\n{END}"


def updated(page: str) -> str:
    """``page`` with its generated block (from the begin marker, whatever its comment says,
    to the end marker) replaced by the current one."""
    start, end = page.find(BEGIN_PREFIX), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no block between {BEGIN!r} and {END!r}")
    return page[:start] + render_table() + page[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the option table of docs/job-scripts.md")
    parser.add_argument("--write", action="store_true", help="rewrite the page's generated block")
    parser.add_argument("--path", type=Path, default=DOC_PATH)
    args = parser.parse_args(argv)
    page = args.path.read_text(encoding="utf-8")
    fresh = updated(page)
    if args.write:
        if fresh != page:
            args.path.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != page:
        sys.stderr.write(f"{args.path} is out of date: run {COMMAND} --write\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
