"""GPU requests against a partition: ``--gres=gpu``, ``--gpus``, ``--gpus-per-node``,
``--gpus-per-task``, ``--cpus-per-gpu`` and ``--mem-per-gpu``.

Counts are checked per node against ``gpus_per_node`` (and the job's node count), types against
the partition's offered types (an untyped ``gpu:N`` always passes), and the combinations sbatch
22.05 itself refuses are refused here first, with the same meaning (measured on the dev
cluster: ``--gpus=1 --gpus-per-node=2``, ``--gpus=2 --gpus-per-task=1 -n 1``,
``--cpus-per-gpu`` with ``--cpus-per-task``, ``--mem-per-gpu`` without any GPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from myriagate.domain.jobs import JobSpec
from myriagate.errors import FieldError, Text
from myriagate.profiles.models import Partition
from myriagate.profiles.validation_layout import Layout


@dataclass(frozen=True)
class _Request:
    """One GPU count as an option gives it: ``--gpus=a100:2`` -> (gpus, a100, 2)."""

    field: str
    written: str
    type: str | None
    count: int


def check_gpus(partition: Partition, spec: JobSpec, shape: Layout, problems: list[FieldError]) -> None:
    """Append every GPU problem of ``spec`` on ``partition`` to ``problems``."""
    if spec.cpus_per_gpu is not None and spec.cpus_per_task is not None:
        problems.append(
            FieldError(("cpus_per_gpu",), "--cpus-per-gpu and --cpus-per-task cannot be combined: give one")
        )
    requests = _requests(spec, problems)
    if partition.gpus_per_node == 0:
        _no_gpus_here(partition, spec, requests, problems)
        return
    _check_types(partition, requests, problems)
    per_node = _gpus_per_node(partition, spec, shape, requests, problems)
    _check_per_gpu(partition, spec, shape, per_node, problems)


def _requests(spec: JobSpec, problems: list[FieldError]) -> list[_Request]:
    found: list[_Request] = []
    for gres in spec.gres:
        if gres.name != "gpu":
            problems.append(
                FieldError(("gres",), Text("GRES %(gres)s is not offered; only gpu is", gres=repr(gres.name)))
            )
        else:
            found.append(_Request("gres", f"--gres={gres.render()}", gres.type, gres.count))
    for field in ("gpus", "gpus_per_node", "gpus_per_task"):
        text: str | None = getattr(spec, field)
        if text is not None:
            kind, _, count = text.rpartition(":")
            found.append(_Request(field, f"--{field.replace('_', '-')}={text}", kind or None, int(count)))
    return found


def _no_gpus_here(
    partition: Partition, spec: JobSpec, requests: list[_Request], problems: list[FieldError]
) -> None:
    name = partition.name
    gres = sum(r.count for r in requests if r.field == "gres")
    if gres:
        problems.append(
            FieldError(
                ("gres",),
                Text(
                    "%(gres)s GPU(s) requested but partition %(partition)s has no GPUs",
                    gres=gres,
                    partition=repr(name),
                ),
            )
        )
    for r in requests:
        if r.field != "gres":
            problems.append(
                FieldError(
                    (r.field,),
                    Text(
                        "%(written)s: partition %(partition)s has no GPUs",
                        written=r.written,
                        partition=repr(name),
                    ),
                )
            )
    for field, option in (("cpus_per_gpu", "--cpus-per-gpu"), ("mem_per_gpu_mb", "--mem-per-gpu")):
        if getattr(spec, field) is not None:
            loc = field.removesuffix("_mb")
            problems.append(
                FieldError(
                    (loc,),
                    Text(
                        "%(option)s: partition %(partition)s has no GPUs", option=option, partition=repr(name)
                    ),
                )
            )


def _check_types(partition: Partition, requests: list[_Request], problems: list[FieldError]) -> None:
    offered = partition.offered_gpu_types
    for r in requests:
        if r.type is not None and offered and r.type not in offered:
            where = "" if r.field == "gres" else f"{r.written}: "
            problems.append(
                FieldError(
                    (r.field,),
                    Text(
                        "%(where)sGPU type %(type)s is not on partition %(partition)s (it has: %(offered)s)",
                        where=where,
                        type=repr(r.type),
                        partition=repr(partition.name),
                        offered=", ".join(offered),
                    ),
                )
            )


def _gpus_per_node(
    partition: Partition, spec: JobSpec, shape: Layout, requests: list[_Request], problems: list[FieldError]
) -> int:
    """GPUs on the busiest node, after checking every count against the partition."""
    name, node_gpus = partition.name, partition.gpus_per_node
    by_field = {r.field: r for r in requests if r.field != "gres"}
    busiest = [spec.gres_gpus_per_node]
    if spec.gres_gpus_per_node > node_gpus:
        problems.append(
            FieldError(
                ("gres",),
                Text(
                    "%(gres_gpus_per_node)s GPUs per node requested; a node of partition %(partition)s "
                    "has %(node_gpus)s",
                    gres_gpus_per_node=spec.gres_gpus_per_node,
                    partition=repr(name),
                    node_gpus=node_gpus,
                ),
            )
        )
    per_node = by_field.get("gpus_per_node")
    if per_node is not None:
        busiest.append(per_node.count)
        if per_node.count > node_gpus:
            problems.append(
                FieldError(
                    ("gpus_per_node",),
                    Text(
                        "%(written)s: %(count)s GPUs per node; a node of partition %(partition)s has "
                        "%(node_gpus)s",
                        written=per_node.written,
                        count=per_node.count,
                        partition=repr(name),
                        node_gpus=node_gpus,
                    ),
                )
            )
    total = by_field.get("gpus")
    if total is not None:
        busiest.append(min(total.count, node_gpus))
        at_least = max(spec.gres_gpus_per_node, per_node.count if per_node is not None else 0)
        _check_total(partition, spec, shape, total, at_least, problems)
    per_task = by_field.get("gpus_per_task")
    if per_task is not None:
        busiest.append(_check_per_task(partition, spec, shape, per_task, total, problems))
    return min(max(busiest), node_gpus)


def _check_total(
    partition: Partition,
    spec: JobSpec,
    shape: Layout,
    total: _Request,
    per_node: int,
    problems: list[FieldError],
) -> None:
    name, node_gpus = partition.name, partition.gpus_per_node
    nodes_needed = ceil(total.count / node_gpus)
    if nodes_needed > shape.nodes_avail:
        limit = (
            Text(
                "you asked for %(nodes)s node(s) of partition %(partition)s",
                nodes=spec.nodes,
                partition=repr(name),
            )
            if spec.nodes is not None
            else Text(
                "partition %(partition)s allows at most %(max_nodes)s",
                partition=repr(name),
                max_nodes=partition.max_nodes,
            )
        )
        problems.append(
            FieldError(
                ("gpus",),
                Text(
                    "%(written)s needs %(nodes_needed)s nodes of %(node_gpus)s GPUs; %(limit)s",
                    written=total.written,
                    nodes_needed=nodes_needed,
                    node_gpus=node_gpus,
                    limit=limit,
                ),
            )
        )
    if per_node > total.count:
        problems.append(
            FieldError(
                ("gpus",),
                Text(
                    "%(written)s is fewer than the %(per_node)s GPUs per node asked by --gpus-per-node "
                    "or --gres: give --gpus at least that many",
                    written=total.written,
                    per_node=per_node,
                ),
            )
        )


def _check_per_task(
    partition: Partition,
    spec: JobSpec,
    shape: Layout,
    per_task: _Request,
    total: _Request | None,
    problems: list[FieldError],
) -> int:
    """Check --gpus-per-task; the GPUs it puts on the busiest node."""
    name, node_gpus, count = repr(partition.name), partition.gpus_per_node, per_task.count

    def refuse(message: Text) -> None:
        problems.append(FieldError(("gpus_per_task",), message))

    if total is not None and spec.ntasks is not None and total.count != spec.ntasks * count:
        refuse(Text(
            "%(written)s with %(written2)s means %(total)s tasks, but --ntasks is %(ntasks)s: "
            "give --gpus = tasks × GPUs per task, or leave one out",
            written=total.written, written2=per_task.written, total=format(total.count / count, "g"),
            ntasks=spec.ntasks,
        ))  # fmt: skip
    if count > node_gpus:
        refuse(Text(
            "%(written)s: a node of partition %(partition)s has %(node_gpus)s GPUs",
            written=per_task.written, partition=name, node_gpus=node_gpus,
        ))  # fmt: skip
        return node_gpus
    tasks_fit = node_gpus // count
    if spec.nodes is not None or spec.ntasks_per_node is not None:
        # The job fixed how many tasks share a node: their GPUs must fit on it.
        wanted = shape.tasks_per_node * count
        if wanted > node_gpus:
            refuse(Text(
                "%(tasks_per_node)s tasks per node × %(count)s GPUs = %(wanted)s GPUs per node; "
                "a node of partition %(partition)s has %(node_gpus)s",
                tasks_per_node=shape.tasks_per_node, count=count, wanted=wanted, partition=name,
                node_gpus=node_gpus,
            ))  # fmt: skip
        return wanted
    nodes_needed = ceil(shape.ntasks / min(tasks_fit, shape.task_cap))
    if nodes_needed > partition.max_nodes:
        refuse(Text(
            "%(ntasks)s tasks × 1 GPU need %(nodes_needed)s nodes of %(node_gpus)s "
            "GPUs; partition %(partition)s allows at most %(max_nodes)s",
            ntasks=shape.ntasks, nodes_needed=nodes_needed, node_gpus=node_gpus,
            partition=name, max_nodes=partition.max_nodes,
        ) if count == 1 else Text(
            "%(ntasks)s tasks × %(count)s GPUs need %(nodes_needed)s nodes of %(node_gpus)s "
            "GPUs; partition %(partition)s allows at most %(max_nodes)s",
            ntasks=shape.ntasks, count=count, nodes_needed=nodes_needed, node_gpus=node_gpus,
            partition=name, max_nodes=partition.max_nodes,
        ))  # fmt: skip
    return min(shape.ntasks, tasks_fit) * count


def _check_per_gpu(
    partition: Partition, spec: JobSpec, shape: Layout, gpus: int, problems: list[FieldError]
) -> None:
    """--cpus-per-gpu and --mem-per-gpu, multiplied by the GPUs of the busiest node."""
    name = partition.name
    if spec.mem_per_gpu_mb is not None and gpus == 0:
        problems.append(
            FieldError(
                ("mem_per_gpu",),
                "--mem-per-gpu needs GPUs: ask for them with --gpus, --gpus-per-node, --gpus-per-task "
                "or --gres=gpu:N",
            )
        )
    if not gpus:
        return
    if spec.cpus_per_gpu is not None and spec.cpus_per_gpu * gpus > shape.usable_cpus:
        problems.append(
            FieldError(
                ("cpus_per_gpu",),
                Text(
                    "%(cpus_per_gpu)s CPUs per GPU × %(gpus)s GPUs per node = %(total)s CPUs; a node of "
                    "partition %(partition)s has %(usable_cpus)s",
                    cpus_per_gpu=spec.cpus_per_gpu,
                    gpus=gpus,
                    total=spec.cpus_per_gpu * gpus,
                    partition=repr(name),
                    usable_cpus=shape.usable_cpus,
                ),
            )
        )
    if spec.mem_per_gpu_mb is not None and spec.mem_per_gpu_mb * gpus > partition.mem_per_node_mb:
        problems.append(
            FieldError(
                ("mem_per_gpu",),
                Text(
                    "%(mem_per_gpu_mb)s MB per GPU × %(gpus)s GPUs per node exceeds the "
                    "%(mem_per_node_mb)s MB of a node of partition %(partition)s",
                    mem_per_gpu_mb=spec.mem_per_gpu_mb,
                    gpus=gpus,
                    mem_per_node_mb=partition.mem_per_node_mb,
                    partition=repr(name),
                ),
            )
        )
