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
from myriagate.errors import FieldError, ProfileViolation, Text, joined
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
        _check_time(profile, partition, spec, time_limit_s, problems)
        shape = layout(partition, spec, problems)
        _check_memory(partition, spec, shape, problems)
        check_gpus(partition, spec, shape, problems)
        check_placement(partition, spec, shape, problems)
    check_licenses(profile, spec.licenses, problems)

    account = _account(spec.account, allowed_accounts, problems)
    if account is not None:
        updates["account"] = account

    if problems:
        raise ProfileViolation(joined([p.message for p in problems]), fields=problems)
    return spec.model_copy(update=updates)


def _partition(profile: ClusterProfile, spec: JobSpec, problems: list[FieldError]) -> Partition | None:
    valid = ", ".join(profile.partition_names)
    if spec.partition is None:
        default = profile.default_partition
        if default is None:
            problems.append(
                FieldError(
                    ("partition",),
                    Text(
                        "%(cluster)s has no default partition: choose one of %(valid)s",
                        cluster=profile.display_name,
                        valid=valid,
                    ),
                )
            )
        return default
    found = profile.partition(spec.partition)
    if found is None:
        problems.append(
            FieldError(
                ("partition",),
                Text(
                    "partition %(partition)s does not exist on %(cluster)s; valid partitions: %(valid)s",
                    partition=repr(spec.partition),
                    cluster=profile.display_name,
                    valid=valid,
                ),
            )
        )
    return found


def _check_time(
    profile: ClusterProfile,
    partition: Partition,
    spec: JobSpec,
    time_limit_s: int,
    problems: list[FieldError],
) -> None:
    if time_limit_s > partition.max_walltime_s:
        # What to do next: a shorter limit, or a partition that takes this one (issue #15).
        longer = ", ".join(p.name for p in profile.partitions if p.max_walltime_s >= time_limit_s)
        values = {
            "time": format_walltime(time_limit_s),
            "partition": repr(partition.name),
            "max": format_walltime(partition.max_walltime_s),
        }
        too_long = (
            Text(
                "time limit %(time)s exceeds the maximum of partition %(partition)s (%(max)s): shorten it "
                "(-t %(max)s) or choose a partition that allows it (%(longer)s)",
                longer=longer,
                **values,
            )
            if longer
            else Text(
                "time limit %(time)s exceeds the maximum of partition %(partition)s (%(max)s): shorten it "
                "(-t %(max)s)",
                **values,
            )
        )
        problems.append(FieldError(("time",), too_long))
    if spec.time_min_s is not None and spec.time_min_s > time_limit_s:
        if spec.time_limit_s is not None:
            longer = Text(
                "--time-min %(min)s is longer than the time limit %(time)s",
                min=format_walltime(spec.time_min_s),
                time=format_walltime(time_limit_s),
            )
        else:
            longer = Text(
                "--time-min %(min)s is longer than the time limit %(time)s "
                "(partition %(partition)s's default)",
                min=format_walltime(spec.time_min_s),
                time=format_walltime(time_limit_s),
                partition=repr(partition.name),
            )
        problems.append(FieldError(("time_min",), longer))


def _check_memory(partition: Partition, spec: JobSpec, shape: Layout, problems: list[FieldError]) -> None:
    name = partition.name
    if spec.mem_mb is not None and spec.mem_mb > partition.mem_per_node_mb:
        problems.append(
            FieldError(
                ("mem",),
                Text(
                    "%(mem)s MB of memory per node requested; "
                    "a node of partition %(partition)s has %(node)s MB",
                    mem=spec.mem_mb,
                    partition=repr(name),
                    node=partition.mem_per_node_mb,
                ),
            )
        )
    per_cpu = spec.mem_per_cpu_mb
    if per_cpu is not None and per_cpu * shape.cpus_per_node > partition.mem_per_node_mb:
        values = {"per_cpu": per_cpu, "cpus": shape.cpus_per_node, "node": partition.mem_per_node_mb}
        if spec.exclusive is not None:
            too_much = Text(
                "%(per_cpu)s MB per CPU × %(cpus)s CPUs per node (--exclusive: the whole node) exceeds "
                "the %(node)s MB of a node of partition %(partition)s",
                partition=repr(name),
                **values,
            )
        else:
            too_much = Text(
                "%(per_cpu)s MB per CPU × %(cpus)s CPUs per node exceeds the %(node)s MB of a node "
                "of partition %(partition)s",
                partition=repr(name),
                **values,
            )
        problems.append(FieldError(("mem_per_cpu",), too_much))


def _account(requested: str | None, allowed: Collection[str], problems: list[FieldError]) -> str | None:
    choices = ", ".join(sorted(allowed)) or Text("none")
    if requested is not None:
        if requested not in allowed:
            refused = Text(
                "you may not charge account %(account)s; your accounts: %(choices)s",
                account=repr(requested),
                choices=choices,
            )
            problems.append(FieldError(("account",), refused))
        return None
    if len(allowed) == 1:
        return next(iter(allowed))
    if not allowed:
        problems.append(FieldError(("account",), Text("no Slurm account is attached to your login yet")))
    else:
        several = Text("you have several accounts: choose one of %(choices)s", choices=choices)
        problems.append(FieldError(("account",), several))
    return None
