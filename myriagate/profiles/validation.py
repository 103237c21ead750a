"""Check a job request against a cluster profile and fill in the cluster's defaults.

Every problem found is reported at once (one ``FieldError`` each), in plain words that
name the limit, so a researcher can fix the whole form in one go.
"""

from __future__ import annotations

from collections.abc import Collection
from math import ceil

from myriagate.domain.jobs import JobSpec
from myriagate.domain.walltime import format_walltime
from myriagate.errors import FieldError, ProfileViolation
from myriagate.profiles.models import ClusterProfile, Partition


def check_job(profile: ClusterProfile, spec: JobSpec, *, allowed_accounts: Collection[str]) -> JobSpec:
    """``spec`` with the partition, time limit and account filled in, or ProfileViolation."""
    problems: list[FieldError] = []
    updates: dict[str, object] = {}

    partition = _partition(profile, spec, problems)
    if partition is not None:
        updates["partition"] = partition.name
        time_limit_s = spec.time_limit_s or partition.default_walltime_s
        updates["time_limit_s"] = time_limit_s
        _check_time(partition, time_limit_s, problems)
        _check_size(partition, spec, problems)
        _check_gpus(partition, spec, problems)

    account = _account(spec.account, allowed_accounts, problems)
    if account is not None:
        updates["account"] = account

    if problems:
        raise ProfileViolation("; ".join(p.message for p in problems), fields=problems)
    return spec.model_copy(update=updates)


def _partition(profile: ClusterProfile, spec: JobSpec, problems: list[FieldError]) -> Partition | None:
    valid = ", ".join(profile.partition_names)
    if spec.partition is None:
        default = profile.default_partition
        if default is None:
            problems.append(
                FieldError(
                    ("partition",), f"{profile.display_name} has no default partition: choose one of {valid}"
                )
            )
        return default
    found = profile.partition(spec.partition)
    if found is None:
        problems.append(
            FieldError(
                ("partition",),
                f"partition {spec.partition!r} does not exist on {profile.display_name}; "
                f"valid partitions: {valid}",
            )
        )
    return found


def _check_time(partition: Partition, time_limit_s: int, problems: list[FieldError]) -> None:
    if time_limit_s > partition.max_walltime_s:
        problems.append(
            FieldError(
                ("time",),
                f"time limit {format_walltime(time_limit_s)} exceeds the maximum of partition "
                f"{partition.name!r} ({format_walltime(partition.max_walltime_s)})",
            )
        )


def _check_size(partition: Partition, spec: JobSpec, problems: list[FieldError]) -> None:
    name = partition.name
    ntasks = spec.ntasks or 1
    cpus_per_task = spec.cpus_per_task or 1
    if spec.nodes is not None and spec.nodes > partition.max_nodes:
        problems.append(
            FieldError(
                ("nodes",),
                f"{spec.nodes} nodes requested; partition {name!r} allows at most {partition.max_nodes}",
            )
        )
    if cpus_per_task > partition.cpus_per_node:
        problems.append(
            FieldError(
                ("cpus_per_task",),
                f"{cpus_per_task} CPUs per task requested; a node of partition {name!r} has "
                f"{partition.cpus_per_node}",
            )
        )
        return
    if spec.nodes is not None:
        cpus_per_node = ceil(ntasks / spec.nodes) * cpus_per_task
        if cpus_per_node > partition.cpus_per_node:
            problems.append(
                FieldError(
                    ("ntasks",),
                    f"{ntasks} tasks × {cpus_per_task} CPUs on {spec.nodes} node(s) needs "
                    f"{cpus_per_node} CPUs per node; a node of partition {name!r} has "
                    f"{partition.cpus_per_node}",
                )
            )
    else:
        tasks_per_node = partition.cpus_per_node // cpus_per_task
        cpus_per_node = min(ntasks, tasks_per_node) * cpus_per_task
        nodes_needed = ceil(ntasks / tasks_per_node)
        if nodes_needed > partition.max_nodes:
            problems.append(
                FieldError(
                    ("ntasks",),
                    f"{ntasks} tasks × {cpus_per_task} CPUs need {nodes_needed} nodes; partition {name!r} "
                    f"allows at most {partition.max_nodes}",
                )
            )
    if spec.mem_mb is not None and spec.mem_mb > partition.mem_per_node_mb:
        problems.append(
            FieldError(
                ("mem",),
                f"{spec.mem_mb} MB of memory per node requested; a node of partition {name!r} has "
                f"{partition.mem_per_node_mb} MB",
            )
        )
    if spec.mem_per_cpu_mb is not None and spec.mem_per_cpu_mb * cpus_per_node > partition.mem_per_node_mb:
        problems.append(
            FieldError(
                ("mem_per_cpu",),
                f"{spec.mem_per_cpu_mb} MB per CPU × {cpus_per_node} CPUs per node exceeds the "
                f"{partition.mem_per_node_mb} MB of a node of partition {name!r}",
            )
        )


def _check_gpus(partition: Partition, spec: JobSpec, problems: list[FieldError]) -> None:
    name = partition.name
    for gres in spec.gres:
        if gres.name != "gpu":
            problems.append(FieldError(("gres",), f"GRES {gres.name!r} is not offered; only gpu is"))
        elif (
            gres.type is not None
            and partition.offered_gpu_types
            and gres.type not in partition.offered_gpu_types
        ):
            offered = ", ".join(partition.offered_gpu_types)
            problems.append(
                FieldError(
                    ("gres",), f"GPU type {gres.type!r} is not on partition {name!r} (it has: {offered})"
                )
            )
    wanted = spec.gres_gpus_per_node
    if wanted and partition.gpus_per_node == 0:
        problems.append(
            FieldError(("gres",), f"{wanted} GPU(s) requested but partition {name!r} has no GPUs")
        )
    elif wanted > partition.gpus_per_node:
        problems.append(
            FieldError(
                ("gres",),
                f"{wanted} GPUs per node requested; a node of partition {name!r} has "
                f"{partition.gpus_per_node}",
            )
        )


def _account(requested: str | None, allowed: Collection[str], problems: list[FieldError]) -> str | None:
    choices = ", ".join(sorted(allowed)) or "none"
    if requested is not None:
        if requested not in allowed:
            problems.append(
                FieldError(
                    ("account",), f"you may not charge account {requested!r}; your accounts: {choices}"
                )
            )
        return None
    if len(allowed) == 1:
        return next(iter(allowed))
    if not allowed:
        problems.append(FieldError(("account",), "no Slurm account is attached to your login yet"))
    else:
        problems.append(FieldError(("account",), f"you have several accounts: choose one of {choices}"))
    return None
