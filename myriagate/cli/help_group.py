"""A command group whose help listing gives each command's first paragraph as one line.

Typer's rich help keeps the single line breaks of a docstring's first paragraph in the list of
commands, so a docstring wrapped at the source's width was shown broken mid-sentence at 80
columns (``files --help``, ``interactive --help``). Here that paragraph becomes the command's
``short_help`` with its line breaks joined; the terminal wraps it where it fits.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import TyperGroup


def one_line(help_text: str) -> str:
    """The first paragraph of ``help_text``, its lines joined."""
    return " ".join(inspect.cleandoc(help_text).split("\n\n")[0].split())


class OneLineHelpGroup(TyperGroup):
    """``typer.Typer(cls=OneLineHelpGroup, cls=OneLineHelpGroup)``: its commands listed with one-line help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            if command.short_help is None and command.help:
                command.short_help = one_line(command.help)
