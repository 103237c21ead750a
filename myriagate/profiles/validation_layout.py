"""How a job's tasks and CPUs fit on a partition's nodes, checked as Slurm 22.05 checks them.

``layout`` reads ``--nodes``, ``--ntasks``, ``--ntasks-per-node``, ``--ntasks-per-socket``,
``--cpus-per-task``, ``--threads-per-core``, ``--hint`` and ``--exclusive`` against a
partition's node shape and returns the busiest node's share (tasks, CPUs) for the memory and
GPU checks. What each rule follows was measured on the dev cluster with ``sbatch --test-only``
(deploy/devcluster/README.md): ``--ntasks-per-node`` is a maximum per node when ``--ntasks``
is given (``-N1 -n4 --ntasks-per-node=2`` is refused, ``-N1 -n2 --ntasks-per-node=4`` runs),
``--ntasks-per-socket`` × sockets bounds the tasks of a node, ``--hint=nomultithread`` counts
one CPU per core, and ``--exclusive`` takes every CPU of a node (so ``--mem-per-cpu`` is
multiplied by all of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from myriagate.domain.jobs import JobSpec
from myriagate.errors import FieldError, Text
from myriagate.profiles.models import Partition


@dataclass(frozen=True)
class Layout:
    """A job's shape on one partition: totals and the busiest node's share."""

    ntasks: int
    cpus_per_task: int
    # The most nodes the job may use: --nodes, or the partition's maximum.
    nodes_avail: int
    # CPUs of one node the job can use (one per core with --hint=nomultithread...).
    usable_cpus: int
    # Tasks one node can hold (CPUs, --ntasks-per-node, --ntasks-per-socket × sockets).
    task_cap: int
    # Tasks and CPUs on the busiest node.
    tasks_per_node: int
    cpus_per_node: int


CPUS = "CPUs"  # the task limit of a node is its CPUs (not an option of the job)


def layout(partition: Partition, spec: JobSpec, problems: list[FieldError]) -> Layout:
    """The job's layout on ``partition``; every problem found is appended to ``problems``."""
    cpt, name = spec.cpus_per_task or 1, repr(partition.name)
    if spec.nodes is not None and spec.nodes > partition.max_nodes:
        problems.append(FieldError(("nodes",), Text(
            "%(nodes)s nodes requested; partition %(partition)s allows at most %(max_nodes)s",
            nodes=spec.nodes, partition=name, max_nodes=partition.max_nodes,
        )))  # fmt: skip
    usable = _usable_cpus(partition, spec, problems)
    if cpt > usable:
        problems.append(FieldError(("cpus_per_task",), Text(
            "%(cpt)s CPUs per task requested; a node of partition %(partition)s has %(usable)s%(note)s",
            cpt=cpt, partition=name, usable=usable, note=_threads_note(partition, spec),
        )))  # fmt: skip
        cpt = usable  # the rest is checked as if it fitted, so one mistake gives one message
    cap, why = _task_cap(partition, spec, usable, cpt, problems)
    ntasks = _ntasks(spec)
    nodes_avail = spec.nodes if spec.nodes is not None else partition.max_nodes
    if spec.nodes is not None:
        tasks_per_node = ceil(ntasks / spec.nodes)
        if tasks_per_node > cap:
            problems.append(
                FieldError(("ntasks",), _crowded(partition, spec.nodes, ntasks, cpt, usable, why))
            )
        tasks_per_node = min(tasks_per_node, cap)
    else:
        nodes_needed = ceil(ntasks / cap)
        if nodes_needed > partition.max_nodes:
            shape = (
                Text("%(ntasks)s tasks × 1 CPU", ntasks=ntasks)  # not "1 CPUs"
                if why == CPUS and cpt == 1
                else Text("%(ntasks)s tasks × %(cpt)s CPUs", ntasks=ntasks, cpt=cpt)
                if why == CPUS
                else Text("%(ntasks)s tasks, %(cap)s per node (%(why)s),", ntasks=ntasks, cap=cap, why=why)
            )
            problems.append(FieldError(("ntasks",), Text(
                "%(shape)s need %(nodes_needed)s nodes; partition %(partition)s allows at most %(max_nodes)s",
                shape=shape, nodes_needed=nodes_needed, partition=name, max_nodes=partition.max_nodes,
            )))  # fmt: skip
        tasks_per_node = min(ntasks, cap)
    # --exclusive takes whole nodes: every CPU of them counts (for --mem-per-cpu, Slurm too).
    cpus_per_node = usable if spec.exclusive is not None else tasks_per_node * cpt
    return Layout(ntasks, cpt, nodes_avail, usable, cap, tasks_per_node, cpus_per_node)


def _ntasks(spec: JobSpec) -> int:
    """--ntasks, or --nodes × --ntasks-per-node when only those are given (sbatch's rule)."""
    if spec.ntasks is not None:
        return spec.ntasks
    if spec.ntasks_per_node is not None:
        return (spec.nodes or 1) * spec.ntasks_per_node
    return 1


def _usable_cpus(partition: Partition, spec: JobSpec, problems: list[FieldError]) -> int:
    """CPUs of one node the job may use, after --threads-per-core and --hint."""
    wanted = spec.threads_per_core
    if wanted is not None and spec.hint == "nomultithread" and wanted > 1:
        problems.append(
            FieldError(
                ("hint",),
                Text(
                    "--hint=nomultithread uses one thread per core, but --threads-per-core asks for "
                    "%(wanted)s",
                    wanted=wanted,
                ),
            )
        )
    node_threads = partition.threads_per_core
    if wanted is not None and node_threads is not None and wanted > node_threads:
        problems.append(
            FieldError(
                ("threads_per_core",),
                Text(
                    "%(wanted)s threads per core requested; the cores of partition %(partition)s have "
                    "%(node_threads)s",
                    wanted=wanted,
                    partition=repr(partition.name),
                    node_threads=node_threads,
                ),
            )
        )
    used = _threads_used(partition, spec)
    if used is None or partition.sockets_per_node is None or partition.cores_per_socket is None:
        return partition.cpus_per_node
    return partition.sockets_per_node * partition.cores_per_socket * used


def _threads_used(partition: Partition, spec: JobSpec) -> int | None:
    """Threads of each core the job uses; None when the profile does not give the node shape."""
    node_threads = partition.threads_per_core
    if node_threads is None:
        return None
    if spec.hint == "nomultithread":
        return 1
    return min(spec.threads_per_core or node_threads, node_threads)


def _threads_note(partition: Partition, spec: JobSpec) -> str:
    used = _threads_used(partition, spec)
    if used is None or used == partition.threads_per_core:
        return ""
    why = "--hint=nomultithread" if spec.hint == "nomultithread" else f"--threads-per-core={used}"
    return Text(" using %(used)s thread(s) per core (%(why)s)", used=used, why=why)


def _task_cap(
    partition: Partition, spec: JobSpec, usable: int, cpt: int, problems: list[FieldError]
) -> tuple[int, str]:
    """How many tasks one node can hold, and what sets that number (``CPUS`` or an option)."""
    limits = [(usable // cpt, CPUS)]
    per_node = spec.ntasks_per_node
    if per_node is not None:
        if per_node * cpt > usable:
            problems.append(
                FieldError(
                    ("ntasks_per_node",),
                    Text(
                        "%(per_node)s tasks per node × %(cpt)s CPUs = %(total)s CPUs; a node of "
                        "partition %(partition)s has %(usable)s",
                        per_node=per_node,
                        cpt=cpt,
                        total=per_node * cpt,
                        partition=repr(partition.name),
                        usable=usable,
                    ),
                )
            )
        else:
            limits.append((per_node, f"--ntasks-per-node={per_node}"))
    if spec.ntasks_per_socket is not None:
        socket_limit = _socket_limit(partition, spec.ntasks_per_socket, usable, cpt, problems)
        if socket_limit is not None:
            limits.append(socket_limit)
            if per_node is not None and per_node > socket_limit[0]:
                problems.append(
                    FieldError(
                        ("ntasks_per_node",),
                        Text(
                            "--ntasks-per-node=%(per_node)s is more than %(limit)s of a node of "
                            "partition %(partition)s allow (%(tasks)s tasks)",
                            per_node=per_node,
                            limit=socket_limit[1],
                            partition=repr(partition.name),
                            tasks=socket_limit[0],
                        ),
                    )
                )
    # The first of equal limits wins, so a job limited by CPUs anyway is told about CPUs.
    cap, why = min(limits, key=lambda limit: limit[0])
    return max(cap, 1), why


def _socket_limit(
    partition: Partition, per_socket: int, usable: int, cpt: int, problems: list[FieldError]
) -> tuple[int, str] | None:
    """The tasks --ntasks-per-socket lets one node hold (None when the profile cannot say)."""
    sockets = partition.sockets_per_node
    socket_cpus = usable // sockets if sockets else usable
    where = Text("a socket") if sockets else Text("a node")
    if per_socket * cpt > socket_cpus:
        problems.append(
            FieldError(
                ("ntasks_per_socket",),
                Text(
                    "%(per_socket)s tasks per socket × %(cpt)s CPUs = %(total)s CPUs; %(where)s of "
                    "partition %(partition)s has %(socket_cpus)s",
                    per_socket=per_socket,
                    cpt=cpt,
                    total=per_socket * cpt,
                    where=where,
                    partition=repr(partition.name),
                    socket_cpus=socket_cpus,
                ),
            )
        )
        return None
    if sockets is None:
        return None
    per_sockets = Text(
        "--ntasks-per-socket=%(per_socket)s × %(sockets)s sockets", per_socket=per_socket, sockets=sockets
    )
    return per_socket * sockets, per_sockets


def _crowded(partition: Partition, nodes: int, ntasks: int, cpt: int, usable: int, why: str) -> str:
    """Too many tasks for ``nodes`` nodes: say which limit they pass."""
    per_node = ceil(ntasks / nodes)
    if why == CPUS:
        return Text(
            "%(ntasks)s tasks × %(cpt)s CPUs on %(nodes)s node(s) needs %(cpus)s CPUs per node; "
            "a node of partition %(partition)s has %(usable)s",
            ntasks=ntasks,
            cpt=cpt,
            nodes=nodes,
            cpus=per_node * cpt,
            partition=repr(partition.name),
            usable=usable,
        )
    return Text(
        "%(ntasks)s tasks on %(nodes)s node(s) is %(per_node)s per node, more than %(why)s allows on "
        "partition %(partition)s",
        ntasks=ntasks,
        nodes=nodes,
        per_node=per_node,
        why=why,
        partition=repr(partition.name),
    )
