"""`myriagate`: the command line.

``serve``, ``worker`` and ``admin …`` run in-process (they need the database); the
researcher-facing commands (login, submit, jobs, …) are clients of the REST API
(docs/cli.md).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Annotated

import typer

from myriagate import __version__
from myriagate.cli import allocations, catalogue, researcher
from myriagate.cli.admin import admin_app, db_app
from myriagate.cli.datasets import datasets_app
from myriagate.cli.jobs import jobs_app
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
app.command("login")(researcher.login)
app.command("logout")(researcher.logout)
app.command("whoami")(researcher.whoami)
app.command("submit")(researcher.submit)
app.add_typer(jobs_app, name="jobs")
app.add_typer(datasets_app, name="datasets")
app.add_typer(catalogue.templates_app, name="templates")
app.command("clusters")(catalogue.clusters)
app.command("quota")(allocations.quota)


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
    from myriagate.cli.notices_thread import notice_thread
    from myriagate.clock import SystemClock
    from myriagate.services.runtime import worker as worker_service
    from myriagate.services.staging import step as staging_service
    from myriagate.state_permissions import check_state_permissions, prepare_state
    from myriagate.wiring import build_gateway

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    prepare_state(settings)  # umask 077: what this process creates is private
    check_state_permissions(settings)  # exit 78 when the database, spool or CA key is not
    gateway = build_gateway(settings)
    clusters = cluster or [settings.default_cluster]
    for name in clusters:
        gateway.profile(name)  # unknown names fail before anything starts
        gateway.backends(name).check_tag_lookup()  # AccountingStoreFlags=job_comment, or exit 78
    clock = SystemClock()
    if metrics_port is not None:
        from myriagate.observability.exposition import start_metrics_server

        start_metrics_server(metrics_port, metrics_addr)  # a daemon thread, gone with the process
    try:
        if once:
            results = {
                name: worker_service.run_once(
                    gateway.session_factory,
                    cluster=name,
                    backends=gateway.backends(name),
                    clock=clock,
                    settings=settings,
                    profile=gateway.profile(name),
                    ledger=gateway.ledger,
                )
                for name in clusters
            }
            staged = {
                name: staging_service.run_pending(
                    gateway.staging_context(name, clock, worker_service.holder_id())
                )
                for name in clusters
                if staging_service.can_stage(gateway.profile(name))
            }
            print_json(
                {
                    name: {
                        **(r.__dict__ if r is not None else {"lease": "held elsewhere"}),
                        "staged": staged.get(name, 0),
                    }
                    for name, r in results.items()
                }
            )
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        threads = [
            threading.Thread(
                target=worker_service.run,
                name=f"poll-{name}",
                kwargs={
                    "cluster": name,
                    "backends": gateway.backends(name),
                    "clock": clock,
                    "settings": settings,
                    "stop": stop,
                    "profile": gateway.profile(name),
                    "ledger": gateway.ledger,
                },
                args=(gateway.session_factory,),
                daemon=True,
            )
            for name in clusters
        ]
        # Transfers run beside the pollers, so a long stage-out never delays a poll tick.
        threads += [
            threading.Thread(
                target=staging_service.run_loop,
                name=f"staging-{name}",
                args=(gateway.staging_context(name, clock, worker_service.holder_id()), stop),
                kwargs={"min_s": settings.poll_min_s, "max_s": settings.poll_max_s},
                daemon=True,
            )
            for name in clusters
            if staging_service.can_stage(gateway.profile(name))
        ]
        if settings.notifications_enabled:  # e-mails, webhooks, balance watch (docs/notifications.md)
            threads.append(notice_thread(gateway.session_factory, settings, clock, stop))
        for thread in threads:
            thread.start()
        while not stop.is_set() and any(t.is_alive() for t in threads):
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
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
