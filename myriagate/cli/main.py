"""`myriagate`: the command line.

The researcher's commands (login, submit, jobs, datasets, …) are clients of the REST API
built on ``myriagate.client`` (docs/cli.md); they need only the client install and import
nothing of the server, so they start fast (bench/cli_start.py). The operator's commands live
under ``myriagate admin`` (serve, worker, db, demo, Slurm sync, allocations) and are imported
when run (``cli/lazy.py``); ``myriagate serve``, ``worker`` and ``db`` stay as hidden
spellings of ``admin serve``, ``admin worker`` and ``admin db``.
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
from myriagate.cli import clusters, quota, session, submit, templates, watch
from myriagate.cli.datasets import datasets_app
from myriagate.cli.jobs import jobs_app
from myriagate.cli.lazy import LazyCommand, LazyGroup
from myriagate.cli.notifications import notifications_app
from myriagate.cli.output import print_json

OPERATORS = "Operators (server install)"
_ADMIN = "myriagate.cli.server:admin_app"


class MainGroup(LazyGroup):
    lazy: ClassVar[Mapping[str, LazyCommand]] = {
        "admin": LazyCommand(
            _ADMIN,
            help="Run and administer the gateway: serve, worker, db, demo, slurm-sync, allocations.",
            panel=OPERATORS,
        ),
        "serve": LazyCommand(_ADMIN, command="serve", hidden=True),
        "worker": LazyCommand(_ADMIN, command="worker", hidden=True),
        "db": LazyCommand(_ADMIN, command="db", hidden=True),
    }


app = typer.Typer(
    cls=MainGroup,
    name="myriagate",
    help="Gateway between Normandy's researchers and the Myria supercomputer (CRIANN).",
    epilog="Start with `myriagate login --url https://<your gateway>`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Researcher commands: clients of the gateway's REST API (docs/cli.md).
app.command("login")(session.login)
app.command("logout")(session.logout)
app.command("whoami")(session.whoami)
app.command("submit")(submit.submit)
jobs_app.command("wait")(watch.jobs_wait)  # here, beside the other jobs commands' own module
app.add_typer(jobs_app, name="jobs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(templates.templates_app, name="templates")
app.command("clusters")(clusters.clusters)
app.command("quota")(quota.quota)
app.add_typer(notifications_app, name="notifications")


@app.command()
def version(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print myriagate's version."""
    if json:
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
    _debug_logging()
    app(prog_name="myriagate")  # the same usage lines when run as `python -c …` (tests, systemd)
