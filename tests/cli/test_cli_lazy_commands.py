"""Every command is imported only when it runs (myriagate/cli/main.py, cli/lazy.py): what
`myriagate --help` lists without importing them must be what each command says of itself."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.testing import CliRunner

from myriagate.cli.main import RESEARCHER_COMMANDS, MainGroup, app


def _loaded(name: str) -> typer.core.TyperCommand | typer.core.TyperGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, MainGroup)
    ctx = group.make_context("myriagate", [name, "--help"], resilient_parsing=True)
    command = group.get_command(ctx, name)  # resilient parsing: the real command, loaded
    assert command is not None
    return command  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(RESEARCHER_COMMANDS))
def test_the_listed_line_is_the_commands_own_help(name: str) -> None:
    listed = RESEARCHER_COMMANDS[name][1]
    own = inspect.cleandoc(_loaded(name).help or "").split("\n\n")[0].replace("\n", " ")
    assert own == listed


def test_help_lists_every_researcher_command_in_order() -> None:
    done = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    rows = [
        line.split() for line in done.output.splitlines() if line.startswith("│ ") and len(line.split()) > 2
    ]
    listed = [row[1] for row in rows if not row[1].startswith("-")]
    assert listed[: len(RESEARCHER_COMMANDS)] == list(RESEARCHER_COMMANDS)
    assert listed[len(RESEARCHER_COMMANDS) :] == ["admin"]


@pytest.mark.parametrize(
    "argv", [["jobs", "wait", "--help"], ["datasets", "get", "--help"], ["submit", "--help"]]
)
def test_a_lazy_commands_own_subcommands_and_options_are_there(argv: list[str]) -> None:
    done = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "Usage: myriagate " + " ".join(argv[:-1]) in " ".join(done.output.split())


@pytest.mark.parametrize(
    ("typo", "meant"), [("jbos", "'jobs'"), ("sumbit", "'submit'"), ("qouta", "'quota'")]
)
def test_a_misspelt_command_is_answered_with_the_one_meant(typo: str, meant: str) -> None:
    done = CliRunner().invoke(app, [typo, "list"], env={"COLUMNS": "200"})
    assert done.exit_code == 2
    assert f"No such command '{typo}'. Did you mean {meant}?" in " ".join(done.output.split())


def test_a_lazy_command_is_built_once_per_process_not_once_per_group() -> None:
    # Each CliRunner.invoke makes the group again: the command it loads must not be rebuilt.
    first, again = _loaded("jobs"), _loaded("jobs")
    assert again is first
    assert typer.main.get_command(app) is not typer.main.get_command(app)


@pytest.mark.parametrize("name", sorted(RESEARCHER_COMMANDS))
def test_a_commands_help_lists_no_shell_completion_options(name: str) -> None:
    """`--install-completion` and `--show-completion` are `myriagate`'s own options: `login
    --help` listed them too (a command built alone got Typer's program options; found reading
    the help at 80 columns)."""
    done = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    assert "completion" not in done.output
    whole = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert "--install-completion" in whole.output
