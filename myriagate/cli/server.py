"""`myriagate admin serve` and `admin worker`: the gateway itself, run in-process.

Imported only when an operator command runs (``cli/lazy.py``), with the rest of ``admin``;
``myriagate serve`` and ``myriagate worker`` stay as hidden spellings of the same commands
(systemd units and scripts use them). Both need the server install and its settings: a
missing or placeholder setting is one plain sentence naming the variable, exit 78.
"""

from __future__ import annotations

from typing import Annotated

import typer

from myriagate.cli.admin import admin_app
from myriagate.cli.output import guarded, print_json
from myriagate.logs import configure_logging
from myriagate.settings import get_settings

admin_app.info.help = (
    "Run and administer the gateway (server install): serve, worker, db, demo, slurm-sync, allocations."
)

# Longer than any client's or proxy's idle keep-alive (nginx upstreams: 60 s, httpx: 5 s): the
# server closing an idle connection just as the client reuses it fails that request
# (ReadError), and a POST is not retried.
KEEP_ALIVE_S = 75


@admin_app.command()
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


@admin_app.command()
@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
) -> None:
    """Run the gateway's web server (REST API and pages) with uvicorn, in-process."""
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
        timeout_keep_alive=KEEP_ALIVE_S,
    )
