"""`myriagate`: the command line.

The researcher's commands (login, submit, jobs, datasets, …) are clients of the REST API
built on ``myriagate.client`` (docs/cli.md); they need only the client install and import
nothing of the server. Every command's module is imported only when that command runs
(``cli/lazy.py``): ``myriagate --help`` and ``version`` import no command and no HTTP client,
``jobs list`` imports the jobs commands and the client, nothing else (bench/cli_start.py).
The one-line helps below are what ``--help`` lists; tests/cli/test_cli_lazy_commands.py
checks each against its command's own. The operator's commands live under ``myriagate admin``
(serve, worker, db, demo, Slurm sync, allocations); ``myriagate serve``, ``worker`` and ``db``
stay as hidden spellings of ``admin serve``, ``admin worker`` and ``admin db``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Annotated, ClassVar

import typer

from myriagate import __version__
from myriagate.cli.lazy import LazyCommand, LazyGroup

OPERATORS = "Operators (server install)"
_ADMIN = "myriagate.cli.server:admin_app"


# The researcher's commands: where each lives, and the line `--help` lists for it.
RESEARCHER_COMMANDS: dict[str, tuple[str, str]] = {
    "login": (
        "myriagate.cli.session:login",
        "Log in once: store the gateway URL and a personal token (file readable by you only).",
    ),
    "logout": ("myriagate.cli.session:logout", "Revoke the stored token on the gateway and forget it here."),
    "whoami": (
        "myriagate.cli.session:whoami",
        "Who the gateway thinks you are: roles, projects, cluster login.",
    ),
    "submit": (
        "myriagate.cli.submit:submit",
        "Submit a job script (or a template) to the cluster, with sbatch's options and data staging.",
    ),
    "clusters": (
        "myriagate.cli.clusters:clusters",
        "Clusters and partitions you can submit to (with NAME: live health too).",
    ),
    "quota": (
        "myriagate.cli.quota:quota",
        "Your projects' balances in CPU-hours: granted, used (charged), held and remaining.",
    ),
    "version": ("myriagate.cli.main:version", "Print myriagate's version."),
    "jobs": ("myriagate.cli.jobs:jobs_app", "Your jobs (and your projects' jobs, by role)."),
    "datasets": (
        "myriagate.cli.datasets:datasets_app",
        "Datasets: staged results and inputs, where they are stored.",
    ),
    "files": (
        "myriagate.cli.files:files_app",
        "Your files on the cluster: areas, listings, previews and downloads, as your own login.",
    ),
    "templates": ("myriagate.cli.templates:templates_app", "Job-script templates."),
    "interactive": (
        "myriagate.cli.interactive:interactive_app",
        "Interactive sessions: JupyterLab on a compute node, opened through the gateway.",
    ),
    "notifications": (
        "myriagate.cli.notifications:notifications_app",
        "Notifications: which events reach you, by e-mail and webhooks; your address.",
    ),
}


class MainGroup(LazyGroup):
    lazy: ClassVar[Mapping[str, LazyCommand]] = {
        **{name: LazyCommand(target, help=line) for name, (target, line) in RESEARCHER_COMMANDS.items()},
        "admin": LazyCommand(
            _ADMIN,
            help="Run and administer the gateway: serve, worker, db, demo, slurm-sync, allocations.",
            panel=OPERATORS,
            operator=True,
        ),
        "serve": LazyCommand(_ADMIN, command="serve", hidden=True, operator=True),
        "worker": LazyCommand(_ADMIN, command="worker", hidden=True, operator=True),
        "db": LazyCommand(_ADMIN, command="db", hidden=True, operator=True),
    }


app = typer.Typer(
    cls=MainGroup,
    name="myriagate",
    help="Gateway between Normandy's researchers and the Myria supercomputer (CRIANN).",
    epilog="Start with `myriagate login --url https://<your gateway>`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    # Every command is lazy (MainGroup.lazy): without a callback, Typer would make a program
    # of no command instead of a group.
    pass


def version(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print myriagate's version."""
    if json:
        from myriagate.cli.output import print_json

        print_json({"version": __version__})
    else:
        typer.echo(f"myriagate {__version__}")


def _debug_logging() -> None:
    """``MYRIAGATE_LOG_LEVEL=DEBUG`` (or INFO) shows the client's HTTP requests on stderr, to
    find out what a command asked the gateway; nothing is configured otherwise, so a normal
    start pays nothing. Secrets are redacted (tests/web/test_secrets_not_logged.py): by the
    server install's log pipeline when present, else by a filter hiding URL passwords, the only
    secret httpx's request lines can hold (tokens travel in headers, which it does not log)."""
    level = os.environ.get("MYRIAGATE_LOG_LEVEL", "").upper()
    if level not in {"DEBUG", "INFO"}:
        return
    try:
        from myriagate.logs import configure_logging
    except ModuleNotFoundError:  # the client install: no structlog
        logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.addFilter(_hide_url_passwords)
        return
    configure_logging(level, json=False)


_URL_PASSWORD = re.compile(r"(://[^\s/@:]*):[^\s/@]*@")


def _hide_url_passwords(record: logging.LogRecord) -> bool:
    record.msg = _URL_PASSWORD.sub(r"\1:[redacted]@", record.getMessage())
    record.args = None
    return True


def run() -> None:
    # pydantic scans every installed distribution's entry points for plugins the first time it
    # builds a model (~10 ms of each start); the command line uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _debug_logging()
    app(prog_name="myriagate")  # the same usage lines when run as `python -c …` (tests, systemd)
