"""`myriagate`: the command line.

``serve``, ``worker`` and ``admin …`` run in-process (they need the database); the
researcher-facing commands (login, submit, jobs, …) are clients of the REST API
(docs/cli.md).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from myriagate import __version__
from myriagate.cli import clusters, quota, session, submit, templates
from myriagate.cli.admin import admin_app, db_app
from myriagate.cli.datasets import datasets_app
from myriagate.cli.jobs import jobs_app
from myriagate.cli.notifications import notifications_app
from myriagate.cli.output import guarded, print_json
from myriagate.logs import configure_logging
from myriagate.settings import get_settings

app = typer.Typer(
    name="myriagate",
    help="Gateway between Normandy's researchers and the Myria supercomputer (CRIANN).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(admin_app, name="admin")
# `myriagate db upgrade` as the issue names it; the same commands as `myriagate admin db …`.
app.add_typer(db_app, name="db")
# Researcher commands: clients of the gateway's REST API (docs/cli.md).
app.command("login")(session.login)
app.command("logout")(session.logout)
app.command("whoami")(session.whoami)
app.command("submit")(submit.submit)
app.add_typer(jobs_app, name="jobs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(templates.templates_app, name="templates")
app.command("clusters")(clusters.clusters)
app.command("quota")(quota.quota)
app.add_typer(notifications_app, name="notifications")


@app.callback()
def main() -> None:
    """Gateway between Normandy's researchers and the Myria supercomputer (CRIANN)."""
    # Log lines go to stderr, and only warnings unless asked: stdout is for results (--json).
    # ``worker`` and ``serve`` reconfigure from their settings.
    configure_logging(os.environ.get("MYRIAGATE_LOG_LEVEL", "WARNING"), json=False)


@app.command()
def version(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print myriagate's version."""
    if json:
        print_json({"version": __version__})
    else:
        typer.echo(f"myriagate {__version__}")


@app.command()
@guarded
def worker(
    cluster: Annotated[
        list[str] | None,
        typer.Option("--cluster", "-M", help="Cluster to track (repeatable; default: the default cluster)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One tick per cluster, then exit.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."),
    ] = None,
    metrics_addr: Annotated[
        str, typer.Option("--metrics-addr", help="Address of the metrics port (no authentication).")
    ] = "127.0.0.1",
) -> None:
    """Track jobs: one poller per cluster, guarded by a database lease, until stopped."""
    from myriagate.state_permissions import check_state_permissions, prepare_state
    from myriagate.wiring import build_gateway

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    prepare_state(settings)  # umask 077: what this process creates is private
    check_state_permissions(settings)  # exit 78 when the database, spool or CA key is not
    gateway = build_gateway(settings)
    clusters = cluster or [settings.default_cluster]
    try:
        for name in clusters:
            gateway.profile(name)  # unknown names fail before anything starts
            gateway.check_tag_lookup(name)  # AccountingStoreFlags=job_comment, or exit 78
        runtime = gateway.worker_runtime(clusters)
        if metrics_port is not None:
            from myriagate.observability.exposition import start_metrics_server

            start_metrics_server(metrics_port, metrics_addr)  # a daemon thread, gone with the process
        if once:
            print_json(runtime.run_once())
        else:
            runtime.run()  # until SIGINT or SIGTERM
    finally:
        gateway.close()


KEEP_ALIVE_S = 75


@app.command()
@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the gateway's web server (REST API) with uvicorn, in-process."""
    import uvicorn

    from myriagate.state_permissions import check_state_permissions, prepare_state
    from myriagate.wiring import build_gateway

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    prepare_state(settings)  # umask 077, inherited by uvicorn's worker processes
    check_state_permissions(settings)
    build_gateway(settings).close()  # a bad setting or profile fails here, before any worker starts
    uvicorn.run(
        "myriagate.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # keep our structlog pipeline (configure_logging)
        # The client address must stay the proxy's own: a trusted proxy is recognised by it.
        proxy_headers=False,
        # Longer than any client's or proxy's idle keep-alive (nginx upstreams: 60 s, httpx:
        # 5 s): the server closing an idle connection just as the client reuses it fails
        # that request (ReadError), and a POST is not retried.
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def run() -> None:
    app()
