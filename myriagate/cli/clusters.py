"""`myriagate clusters [NAME]`: the clusters the gateway reaches, their partitions and limits."""

from __future__ import annotations

from typing import Annotated

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.output import JsonOpt, WideOpt, guarded, print_json, print_table
from myriagate.cli.tables import Col


@guarded
def clusters(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A cluster: show its partitions and health.")] = None,
    wide: WideOpt = False,
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
        label += f" via {cluster.backend}"
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
        # Limits stay whole; on a narrow terminal the default time, then the node count give way.
        columns = (
            Col("partition", whole=True),
            Col("max time", whole=True),
            Col("default time", whole=True, priority=2),
            Col("max nodes", whole=True, priority=1),
            Col("cpus/node", whole=True),
            Col("mem MB", whole=True),
            Col("gpus", whole=True),
            Col("state", whole=True),
        )
        print_table(
            columns if health is not None else columns[:-1],
            [r if health else r[:-1] for r in rows],
            label,
            wide=wide,
        )
