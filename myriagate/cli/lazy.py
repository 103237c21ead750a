"""Commands whose modules are imported only when they run.

``myriagate --help`` and each researcher command must start fast and work with the client
install alone, so every command is listed from a static line and its module imported when it
is invoked: ``jobs list`` pays for the jobs commands and the HTTP client, not for ``submit``'s
option table nor the gateway's own commands (serve, worker, database, demo, Slurm sync). An
operator command run without the server's packages says which install it needs instead of a
traceback.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from myriagate.cli.output import fail
from myriagate.errors import ConfigError

# Packages of the `server` extra (pyproject.toml): missing one means the client install.
SERVER_PACKAGES = frozenset(
    {
        "alembic",
        "babel",
        "cryptography",
        "fastapi",
        "jinja2",
        "multipart",
        "paramiko",
        "prometheus_client",
        "pydantic_settings",
        "sqlalchemy",
        "starlette",
        "structlog",
        "tenacity",
        "uvicorn",
    }
)


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attr`` naming a Typer app, or a command function;
    ``command``: one of the app's commands) and what the parent's help says of it without
    importing it. ``operator``: a command of the server install, which logs through structlog."""

    target: str
    command: str | None = None
    help: str = ""
    hidden: bool = False
    panel: str | None = None
    operator: bool = False


class _Listed(TyperCommand):
    """What help listings see of a lazy command: its name, one line, its panel."""


class LazyGroup(TyperGroup):
    """A Typer group that also offers ``lazy`` commands, imported on first use."""

    lazy: ClassVar[Mapping[str, LazyCommand]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return names + [name for name in self.lazy if name not in names]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        spec = self.lazy.get(cmd_name)
        if found is not None or spec is None:
            return found
        if getattr(ctx, "resilient_parsing", False):  # shell completion: it needs the subcommands
            try:
                return self._load(cmd_name)
            except ModuleNotFoundError:  # the client install: nothing to complete there
                pass
        return _Listed(cmd_name, help=spec.help, hidden=spec.hidden, rich_help_panel=spec.panel)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and not getattr(ctx, "resilient_parsing", False):
            names = self.list_commands(ctx)
            if args[0] not in names:  # Typer suggests only among the commands already loaded
                shown = [n for n in names if not (n in self.lazy and self.lazy[n].hidden)]
                close = difflib.get_close_matches(args[0], shown, n=2)
                if close:
                    ctx.fail(f"No such command {args[0]!r}. Did you mean {' or '.join(map(repr, close))}?")
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Listed) and name is not None:
            command = self._load(name)
        return name, command, rest

    def _load(self, name: str) -> Any:
        spec = self.lazy[name]
        if spec.operator:
            _quiet_logging()
        command = _LOADED.get((name, spec))
        if command is None:
            command = _LOADED[name, spec] = _build(name, spec)
        self.commands[name] = command
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.Exit:
            raise
        except ModuleNotFoundError as exc:
            package = (exc.name or "").partition(".")[0]
            if package not in SERVER_PACKAGES:
                raise
            raise fail(
                ConfigError(
                    f"this command runs the gateway itself and needs its server install "
                    f'(pip install "myriagate[server]"); {package} is missing'
                )
            ) from None
        except Exception as exc:
            # A command's options are parsed here (its context is made inside the group's
            # invoke): Typer's refusal of a value, said in one line (cli/usage_errors.py).
            if not hasattr(exc, "format_message"):
                raise
            from myriagate.cli.usage_errors import said

            line = said(exc, getattr(exc, "ctx", None))
            if line is None:
                raise
            sys.stderr.write(line[0] + "\n")
            raise typer.Exit(line[1]) from None


# Each lazy command is built once per process, not once per group: building it reads the
# signature of every function of its module, and a process that makes the group again (the
# tests invoke the CLI hundreds of times in one process) finds it here.
_LOADED: dict[tuple[str, LazyCommand], Any] = {}


def _build(name: str, spec: LazyCommand) -> Any:
    module, _, attr = spec.target.partition(":")
    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        return group.commands[spec.command] if spec.command else group
    # A command function: the command Typer makes of it alone, without the completion options
    # Typer adds to a program of its own (they belong to `myriagate` itself, not to `login`).
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


def _quiet_logging() -> None:
    """Operator commands log through structlog: to stderr, warnings only unless asked."""
    try:
        from myriagate.logs import configure_logging
    except ModuleNotFoundError:  # the client install: the REST-only admin commands log nothing
        return
    configure_logging(os.environ.get("MYRIAGATE_LOG_LEVEL", "WARNING"), json=False)
