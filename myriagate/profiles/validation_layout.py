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
from myriagate.errors import FieldError
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
    cpt = spec.cpus_per_task or 1
    if spec.nodes is not None and spec.nodes > partition.max_nodes:
        problems.append(
            FieldError(
                ("nodes",),
                f"{spec.nodes} nodes requested; partition {partition.name!r} allows at most "
                f"{partition.max_nodes}",
            )
        )
    usable = _usable_cpus(partition, spec, problems)
    if cpt > usable:
        problems.append(
            FieldError(
                ("cpus_per_task",),
                f"{cpt} CPUs per task requested; a node of partition {partition.name!r} has {usable}"
                + _threads_note(partition, spec),
            )
        )
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
                f"{ntasks} tasks × {cpt} CPUs" if why == CPUS else f"{ntasks} tasks, {cap} per node ({why}),"
            )
            problems.append(
                FieldError(
                    ("ntasks",),
                    f"{shape} need {nodes_needed} nodes; partition {partition.name!r} allows at most "
                    f"{partition.max_nodes}",
                )
            )
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
                f"--hint=nomultithread uses one thread per core, but --threads-per-core asks for {wanted}",
            )
        )
    node_threads = partition.threads_per_core
    if wanted is not None and node_threads is not None and wanted > node_threads:
        problems.append(
            FieldError(
                ("threads_per_core",),
                f"{wanted} threads per core requested; the cores of partition {partition.name!r} have "
                f"{node_threads}",
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
    return f" using {used} thread(s) per core ({why})"


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
                    f"{per_node} tasks per node × {cpt} CPUs = {per_node * cpt} CPUs; a node of "
                    f"partition {partition.name!r} has {usable}",
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
                        f"--ntasks-per-node={per_node} is more than {socket_limit[1]} of a node of "
                        f"partition {partition.name!r} allow ({socket_limit[0]} tasks)",
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
    where = "a socket" if sockets else "a node"
    if per_socket * cpt > socket_cpus:
        problems.append(
            FieldError(
                ("ntasks_per_socket",),
                f"{per_socket} tasks per socket × {cpt} CPUs = {per_socket * cpt} CPUs; {where} of "
                f"partition {partition.name!r} has {socket_cpus}",
            )
        )
        return None
    if sockets is None:
        return None
    return per_socket * sockets, f"--ntasks-per-socket={per_socket} × {sockets} sockets"


def _crowded(partition: Partition, nodes: int, ntasks: int, cpt: int, usable: int, why: str) -> str:
    """Too many tasks for ``nodes`` nodes: say which limit they pass."""
    per_node = ceil(ntasks / nodes)
    if why == CPUS:
        return (
            f"{ntasks} tasks × {cpt} CPUs on {nodes} node(s) needs {per_node * cpt} CPUs per node; "
            f"a node of partition {partition.name!r} has {usable}"
        )
    return (
        f"{ntasks} tasks on {nodes} node(s) is {per_node} per node, more than {why} allows on "
        f"partition {partition.name!r}"
    )
