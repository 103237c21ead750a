"""``myriagate submit``'s sbatch options, generated from the sbatch option table.

Every accepted option whose surfaces include "cli" becomes a command-line option with
sbatch's long and short names and the table's English help, shown in ``--help`` under its
group's panel. Typer builds a command from ``inspect.signature``: ``with_sbatch_options``
appends one keyword parameter per option to the command's own signature, and the command
receives them in ``**sbatch``. Values are only typed here; the server reads and checks them
(``domain.sbatch_options.merge``), once for every client.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import typer

from myriagate.domain.sbatch_options import table
from myriagate.domain.sbatch_options.groups import GROUPS
from myriagate.domain.sbatch_options.spec import OptionSpec

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
        # No bound here: the API model's (ge=1, or 0 for --nice) refuses with exit 5 and the field.
        common["metavar"] = "N"
        annotation, info = int | None, typer.Option(None, *option_names(option), **common)
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


def given(values: Mapping[str, object]) -> dict[str, str | int | bool]:
    """The options typed on the command line: None (not given) and False (flag absent) left out."""
    return {k: v for k, v in values.items() if isinstance(v, str | int) and v is not False}
