"""``myriagate submit``'s sbatch options, generated from the sbatch option table.

Every accepted option whose surfaces include "cli" becomes a command-line option with
sbatch's long and short names and the table's English help, shown in ``--help`` under its
group's panel. Typer builds a command from ``inspect.signature``: ``with_sbatch_options``
appends one keyword parameter per option to the command's own signature, and the command
receives them in ``**sbatch``. Every value is taken as text and read here by its kind's
reader from the table, the one the server reads it with again (``domain.sbatch_options.merge``):
a bad one (``-t 5x``, ``-n abc``) is refused before anything is sent, in one line naming the
option with an example of a good value, instead of Typer's (pydantic's) words for a bad integer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import typer

from myriagate.domain.sbatch_options import table
from myriagate.domain.sbatch_options.groups import GROUPS
from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.errors import FieldError, InvalidRequest

F = TypeVar("F", bound=Callable[..., Any])
PANEL_PREFIX = "sbatch: "


def cli_options() -> tuple[OptionSpec, ...]:
    """The options ``submit`` takes, in the table's order."""
    return tuple(o for o in table.ACCEPTED if "cli" in o.surfaces)


def option_names(option: OptionSpec) -> tuple[str, ...]:
    return (f"--{option.name}", f"-{option.short}") if option.short else (f"--{option.name}",)


def panel(option: OptionSpec) -> str:
    return PANEL_PREFIX + GROUPS[option.group].en


def _parameter(option: OptionSpec) -> inspect.Parameter:
    """One keyword parameter: its type, and a ``typer.Option`` as its default."""
    assert option.kind is not None
    common: dict[str, Any] = {"help": option.help.en, "rich_help_panel": panel(option), "show_default": False}
    annotation: Any
    if option.kind.api_type == "flag":
        # A flag alone (``--exclusive``); ``--exclusive=user`` is written in the script.
        annotation, info = bool, typer.Option(False, *option_names(option), **common)
    elif option.kind.api_type == "int":
        # Text for Typer: the kind's reader says what is wrong with "abc" (``given``).
        common["metavar"] = "N"
        annotation, info = str | None, typer.Option(None, *option_names(option), **common)
    else:
        common["metavar"] = "TEXT"
        annotation, info = str | None, typer.Option(None, *option_names(option), **common)
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Parameter(option.python_name, keyword, default=info, annotation=annotation)


def with_sbatch_options(command: F) -> F:
    """``command`` with one more keyword parameter per CLI option of the table.

    ``command`` takes them as ``**sbatch``; its own parameters keep their order and come first.
    """
    own = inspect.signature(command, eval_str=True)
    kept = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in kept}
    # Panels appear in the order of their first option: the form's section order.
    order = list(GROUPS)
    added = [_parameter(o) for o in sorted(cli_options(), key=lambda o: order.index(o.group))]
    clash = taken & {p.name for p in added}
    if clash:
        raise RuntimeError(f"submit's own parameters clash with sbatch options: {sorted(clash)}")
    command.__signature__ = own.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return command


# Kinds whose reading needs the cluster (``--chdir ~/x`` is under the login's home there): the
# server reads them alone.
_READ_ON_THE_SERVER = frozenset({"chdir"})


def given(values: Mapping[str, object]) -> dict[str, str | int | bool]:
    """The options typed on the command line, each read by its kind (InvalidRequest naming the
    option and a good value when it cannot be): None (not given) and False (flag absent) left
    out; whole numbers as ints, other values as typed (the server reads them again)."""
    by_python_name = {o.python_name: o for o in cli_options()}
    chosen = {k: v for k, v in values.items() if isinstance(v, str | int) and v is not False}
    return {name: _read(by_python_name[name], value) for name, value in chosen.items()}


def _read(option: OptionSpec, value: str | int | bool) -> str | int | bool:
    kind = option.kind
    if kind is None or isinstance(value, bool) or kind.name in _READ_ON_THE_SERVER:
        return value
    try:
        read = kind.read(str(value), ReadContext())
    except InvalidRequest as exc:
        flag = f"--{option.name} (-{option.short})" if option.short else f"--{option.name}"
        example = f"-{option.short} {kind.example}" if option.short else f"--{option.name} {kind.example}"
        message = f"{flag}: {exc.detail}; for example {example}" if kind.example else f"{flag}: {exc.detail}"
        raise InvalidRequest(message, fields=[FieldError(("options", option.python_name), message)]) from None
    return read if kind.api_type == "int" and isinstance(read, int) else value
