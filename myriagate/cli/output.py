"""How the CLI shows results and errors: tables for people, JSON for scripts."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

import structlog
import typer
from rich.console import Console
from rich.table import Table

from myriagate.errors import MyriagateError

log = structlog.get_logger(__name__)

# ``--json`` as every command spells it.
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def console() -> Console:
    # NO_COLOR is honoured by rich itself; force plain output when not a terminal.
    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(table)


def fail(exc: MyriagateError) -> typer.Exit:
    """Print ``Error: <title>: <detail>`` (and field errors) to stderr; exit with its code."""
    lines = [f"Error: {exc.title}: {exc.detail}"]
    lines += [f"  - {'.'.join(str(p) for p in f.loc)}: {f.message}" for f in exc.fields]
    sys.stderr.write("\n".join(lines) + "\n")
    return typer.Exit(code=exc.exit_code)


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn our errors into a clean message and the documented exit code."""
    try:
        yield
    except MyriagateError as exc:
        raise fail(exc) from None


P = ParamSpec("P")
R = TypeVar("R")


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of errors_to_exit for Typer commands."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with errors_to_exit():
            return func(*args, **kwargs)

    return wrapper


def warn(text: str) -> None:
    """A warning on stderr (stdout is for results and ``--json``)."""
    sys.stderr.write(f"Warning: {text}\n")


def fmt_range(low: int | None, high: int | None) -> str:
    """``1..8``, ``..8``, ``1..``; empty when neither bound is set."""
    if low is None and high is None:
        return ""
    return f"{'' if low is None else low}..{'' if high is None else high}"
