"""Check a job request against a cluster profile and fill in the cluster's defaults.

Every problem found is reported at once (one ``FieldError`` each), in plain words that
name the limit and the partition, so a researcher can fix the whole form in one go; nothing
reaches Slurm before this passes. The checks live by subject: tasks and CPUs
(``validation_layout``), GPUs (``validation_gpus``), features, QOS, nodes, scratch and
licences (``validation_placement``); time, memory and the account here.
"""

from __future__ import annotations

from collections.abc import Collection

from myriagate.domain.jobs import JobSpec
from myriagate.domain.walltime import format_walltime
from myriagate.errors import FieldError, ProfileViolation
from myriagate.profiles.models import ClusterProfile, Partition
from myriagate.profiles.validation_gpus import check_gpus
from myriagate.profiles.validation_layout import Layout, layout
from myriagate.profiles.validation_placement import check_licenses, check_placement


def check_job(profile: ClusterProfile, spec: JobSpec, *, allowed_accounts: Collection[str]) -> JobSpec:
    """``spec`` with the partition, time limit and account filled in, or ProfileViolation."""
    problems: list[FieldError] = []
    updates: dict[str, object] = {}

    partition = _partition(profile, spec, problems)
    if partition is not None:
        updates["partition"] = partition.name
        time_limit_s = spec.time_limit_s or partition.default_walltime_s
        updates["time_limit_s"] = time_limit_s
        _check_time(partition, spec, time_limit_s, problems)
        shape = layout(partition, spec, problems)
        _check_memory(partition, spec, shape, problems)
        check_gpus(partition, spec, shape, problems)
        check_placement(partition, spec, shape, problems)
    check_licenses(profile, spec.licenses, problems)

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


def _check_time(partition: Partition, spec: JobSpec, time_limit_s: int, problems: list[FieldError]) -> None:
    if time_limit_s > partition.max_walltime_s:
        problems.append(
            FieldError(
                ("time",),
                f"time limit {format_walltime(time_limit_s)} exceeds the maximum of partition "
                f"{partition.name!r} ({format_walltime(partition.max_walltime_s)})",
            )
        )
    if spec.time_min_s is not None and spec.time_min_s > time_limit_s:
        given = "" if spec.time_limit_s is not None else f" (partition {partition.name!r}'s default)"
        problems.append(
            FieldError(
                ("time_min",),
                f"--time-min {format_walltime(spec.time_min_s)} is longer than the time limit "
                f"{format_walltime(time_limit_s)}{given}",
            )
        )


def _check_memory(partition: Partition, spec: JobSpec, shape: Layout, problems: list[FieldError]) -> None:
    name = partition.name
    if spec.mem_mb is not None and spec.mem_mb > partition.mem_per_node_mb:
        problems.append(
            FieldError(
                ("mem",),
                f"{spec.mem_mb} MB of memory per node requested; a node of partition {name!r} has "
                f"{partition.mem_per_node_mb} MB",
            )
        )
    per_cpu = spec.mem_per_cpu_mb
    if per_cpu is not None and per_cpu * shape.cpus_per_node > partition.mem_per_node_mb:
        whole = " (--exclusive: the whole node)" if spec.exclusive is not None else ""
        problems.append(
            FieldError(
                ("mem_per_cpu",),
                f"{per_cpu} MB per CPU × {shape.cpus_per_node} CPUs per node{whole} exceeds the "
                f"{partition.mem_per_node_mb} MB of a node of partition {name!r}",
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
