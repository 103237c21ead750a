"""How the CLI shows results and errors: tables for people, JSON for scripts."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from myriagate.cli.tables import Col, render_table
from myriagate.errors import FieldError, MyriagateError

# ``--json`` as every command spells it.
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
# ``--raw`` on the commands that print text from the cluster (``cli.terminal_text``).
RawOpt = Annotated[
    bool, typer.Option("--raw", help="Bytes exactly as they are, terminal escapes included (unsafe to read).")
]
# ``--wide`` on the commands that print a table with optional columns.
WideOpt = Annotated[
    bool, typer.Option("--wide", help="Every column and full ids, even wider than the terminal.")
]


def console(*, stderr: bool = False) -> Console:
    # NO_COLOR is honoured by rich itself; force plain output when not a terminal.
    return Console(no_color=bool(os.environ.get("NO_COLOR")), highlight=False, stderr=stderr)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def print_table(
    columns: Sequence[str | Col],
    rows: Sequence[Sequence[object]],
    title: str | None = None,
    *,
    wide: bool = False,
    stderr: bool = False,
) -> None:
    """A table that fits the terminal and never cuts a value (``cli.tables``)."""
    render_table(console(stderr=stderr), columns, rows, title=title, wide=wide)


def _when(text: object) -> str:
    try:
        return datetime.fromisoformat(str(text)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(text or "")


# The members of an ambiguous id's candidates (jobs: AmbiguousJob; datasets: AmbiguousDataset),
# in the order shown, under these headers.
_CANDIDATE_COLUMNS = {
    "id": Col("id", whole=True), "slurm_job_id": Col("slurm", whole=True),
    "cluster": Col("cluster", whole=True), "job_name": Col("name", whole=False),
    "name": Col("name", whole=False), "owner": Col("owner", whole=True),
    "account": Col("account", whole=True), "state": Col("state", whole=True),
    "submitted_at": Col("submitted", whole=True), "created_at": Col("created", whole=True),
}  # fmt: skip


def print_candidates(exc: MyriagateError) -> None:
    """The jobs or datasets an ambiguous id names (the problem's ``candidates``), on stderr."""
    problem = getattr(exc, "problem", None) or exc.extensions
    candidates = problem.get("candidates") if isinstance(problem, dict) else None
    if not isinstance(candidates, list) or not candidates:
        return
    found = [c for c in candidates if isinstance(c, dict)]
    keys = [k for k in _CANDIDATE_COLUMNS if any(k in c for c in found)]
    # The Slurm id and the cluster only when they tell the jobs apart (a short table fits more).
    keys = [k for k in keys if k not in ("slurm_job_id", "cluster") or len({c.get(k) for c in found}) > 1]
    rows = [[_when(c.get(k)) if k.endswith("_at") else c.get(k) for k in keys] for c in found]
    title = "Matching datasets" if exc.code == "ambiguous_dataset" else "Matching jobs"
    print_table([_CANDIDATE_COLUMNS[k] for k in keys], rows, title=title, stderr=True)


def fail(exc: MyriagateError) -> typer.Exit:
    """Print ``Error: <title>: <detail>`` (and field errors) to stderr; exit with its code."""
    print_candidates(exc)
    sys.stderr.write("\n".join(_problem_lines(exc)) + "\n")
    return typer.Exit(code=exc.exit_code)


def _problem_lines(exc: MyriagateError) -> list[str]:
    """The headline and one line per field problem the headline does not already say.

    A refusal's detail is often its field messages joined: several are then a list under the
    title, one is the headline itself; never the joined text and the list again.
    """
    messages = [f.message for f in exc.fields]
    if len(messages) > 1 and exc.detail == "; ".join(messages):
        return [f"Error: {exc.title}:", *(f"  - {m}" for m in messages)]
    unsaid = [f for f in exc.fields if f.message not in exc.detail]
    return [f"Error: {exc.title}: {exc.detail}", *map(_field_line, unsaid)]


def _field_line(problem: FieldError) -> str:
    """One field's problem, named as the researcher typed it (``--array``, not ``options.array``)."""
    from myriagate.cli.field_names import cli_name  # only on a refusal: --help imports no more

    return f"  - {cli_name(problem.loc)}: {problem.message}"


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
