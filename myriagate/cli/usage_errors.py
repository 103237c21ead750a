"""Typer's refusals of what was typed, said in one line that names the option and a good value.

Typer (0.29 and later) converts option values with pydantic and words a bad one in its terms
("Input should be a valid integer, unable to parse string as an integer") inside a box under
the usage line. ``LazyGroup.invoke`` hands such refusals here: a bad value becomes
``Error: --limit: 'x' is not a whole number; for example --limit 20`` (exit 5, like every bad
value: nothing was sent), a flag given a value or an unknown option one line with where to
look (exit 2). Typer's own parsing is left as it is; only the words change.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import typer

from myriagate.errors import InvalidRequest

# Good values of the options whose type alone does not suggest one.
EXAMPLES = {
    "--limit": "20",
    "--task": "3",
    "--bytes": "4096",
    "--since": "2026-12-01",
    "--until": "2026-12-31T18:00:00",
    "--state": "running",
    "--expires-in-days": "30",
}
USAGE_EXIT = 2  # wrong command-line usage (docs/cli.md)


def said(exc: Exception, ctx: Any) -> tuple[str, int] | None:
    """The line to print and the exit code for a usage error of Typer's, or None to leave
    it to Typer (a missing argument, help shown for no arguments)."""
    if isinstance(exc, typer.BadParameter) and type(exc).__name__ != "MissingParameter":
        return _bad_value(exc), InvalidRequest.exit_code
    kind = type(exc).__name__
    where = f"`{ctx.command_path} --help` lists the options" if ctx is not None else "see --help"
    if kind == "BadOptionUsage" and "does not take a value" in exc.format_message():  # type: ignore[attr-defined]
        name = getattr(exc, "option_name", "") or "this option"
        return f"Error: {name} is a flag and takes no value: write {name}, not {name}=…", USAGE_EXIT
    if kind == "UsageError" and "unexpected extra argument" in exc.format_message():  # type: ignore[attr-defined]
        # Most often a value given to a flag (`--json 5 job.sh`): the value took SCRIPT's place.
        message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
        return f"Error: {message}: flags such as --json or --wait take no value ({where})", USAGE_EXIT
    if kind in {"NoSuchOption", "BadOptionUsage", "UsageError"}:
        message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
        return f"Error: {message} ({where})", USAGE_EXIT
    return None


def _bad_value(exc: typer.BadParameter) -> str:
    param = exc.param
    opts = sorted(getattr(param, "opts", None) or [], key=len, reverse=True)
    flag = opts[0] if opts else getattr(param, "name", None) or "value"
    named = f"{flag} ({', '.join(opts[1:])})" if len(opts) > 1 else flag
    value = _input_of(exc)
    expected, example = _expected(param, flag)
    if expected is None:  # a type we have no words for: Typer's own
        return f"Error: {named}: {exc.message}"
    shown = f"{value!r} is not {expected}" if value is not None else f"expects {expected}"
    return f"Error: {named}: {shown}; for example {flag} {example}"


def _input_of(exc: typer.BadParameter) -> object:
    """The value typed, which Typer's pydantic error (the cause) holds; None if unknown."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        found = errors()
    except Exception:  # only the wording depends on it
        return None
    return found[0].get("input") if found and isinstance(found[0], dict) else None


def _expected(param: Any, flag: str) -> tuple[str | None, str]:
    """What the option takes, in words, and a good value of it."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is not None and getattr(descriptor, "is_list", False):
        annotation = next(iter(getattr(annotation, "__args__", ())), annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = [str(m.value) for m in annotation]
        return "one of " + ", ".join(choices), EXAMPLES.get(flag, choices[0])
    if annotation is int:
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        words = "a whole number"
        if low is not None and high is not None:
            words += f" from {low} to {high}"
        elif low is not None:
            words += f" of {low} or more"
        return words, EXAMPLES.get(flag, str(max(low or 0, 1)))
    if annotation is float:
        return "a number", EXAMPLES.get(flag, "1.5")
    if annotation is datetime:
        return "a date or a date and time (ISO)", EXAMPLES.get(flag, "2026-12-01")
    return None, ""
