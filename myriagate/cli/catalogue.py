"""`myriagate templates list|show` and `myriagate clusters [NAME]`: what the gateway offers."""

from __future__ import annotations

from typing import Annotated

import typer

from myriagate.cli.context import localised, open_gateway
from myriagate.cli.output import console, guarded, print_json, print_table

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

templates_app = typer.Typer(help="Job-script templates.", no_args_is_help=True)


@templates_app.command("list")
@guarded
def templates_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Templates offered by the gateway."""
    with open_gateway(ctx) as client:
        items = client.templates()
    if json:
        print_json([t.model_dump(mode="json") for t in items])
    else:
        print_table(("name", "title"), [(t.name, localised(t.title)) for t in items])


@templates_app.command("show")
@guarded
def templates_show(ctx: typer.Context, name: str, json: JsonOpt = False) -> None:
    """A template and its parameters (pass them with `submit --template NAME --param k=v`)."""
    with open_gateway(ctx) as client:
        detail = client.template(name)
    if json:
        print_json(detail.model_dump(mode="json"))
        return
    console().print(f"[bold]{detail.name}[/bold]: {localised(detail.title)}\n{localised(detail.description)}")
    rows = [
        (
            p.name,
            p.type,
            "" if p.default is None else p.default,
            ", ".join(p.choices or []) or _range(p.min, p.max),
            localised(p.help),
        )
        for p in detail.parameters
    ]
    print_table(("parameter", "type", "default", "allowed", "help"), rows)


def _range(low: int | None, high: int | None) -> str:
    if low is None and high is None:
        return ""
    return f"{'' if low is None else low}..{'' if high is None else high}"


@guarded
def clusters(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A cluster: show its partitions and health.")] = None,
    json: JsonOpt = False,
) -> None:
    """Clusters and partitions you can submit to (with NAME: live health too)."""
    with open_gateway(ctx) as client:
        items = [client.cluster(name)] if name else client.clusters()
    if json:
        data = [c.model_dump(mode="json") for c in items]
        print_json(data[0] if name else data)
        return
    for cluster in items:
        label = f"{cluster.name}{' (default)' if cluster.is_default else ''} — Slurm {cluster.slurm_version}"
        health = getattr(cluster, "health", None)
        if health is not None:
            state = "reachable" if health.reachable else f"UNREACHABLE: {health.detail or ''}"
            latency = f", {health.latency_ms:.0f} ms" if health.latency_ms is not None else ""
            label += f" — {state}{latency}"
        rows = [
            (
                p.name + (" *" if p.default else ""),
                p.max_walltime,
                p.default_walltime or "",
                p.max_nodes or "",
                p.cpus_per_node or "",
                p.mem_per_node_mb or "",
                p.gpus_per_node,
                health.partitions.get(p.name, "") if health is not None else "",
            )
            for p in cluster.partitions
        ]
        columns = (
            "partition",
            "max time",
            "default time",
            "max nodes",
            "cpus/node",
            "mem MB",
            "gpus",
            "state",
        )
        print_table(
            columns if health is not None else columns[:-1], [r if health else r[:-1] for r in rows], label
        )
