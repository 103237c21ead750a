"""Where a job may run and what it may take along: ``--constraint``, ``--qos``,
``--nodelist`` / ``--exclude``, ``--tmp`` and ``--licenses``, against what the profile lists.

A partition that lists no features offers no ``--constraint`` and one that lists no QOS offers
no ``--qos`` (docs/configuration.md); a partition whose nodes the profile does not name cannot
have ``--nodelist`` checked, so it is not offered there either, while ``--exclude`` (which only
narrows) is then left to Slurm. Excluding a host outside the partition is harmless, as in
Slurm; excluding every host of it is refused.
"""

from __future__ import annotations

import re

from myriagate.domain import hostlists
from myriagate.domain.jobs import JobSpec
from myriagate.domain.sbatch_options.kinds import feature_names
from myriagate.errors import FieldError, InvalidRequest
from myriagate.profiles.models import ClusterProfile, Partition
from myriagate.profiles.validation_layout import Layout

# Slurm 22.05 refuses licenses joined by '|' (measured: 'Invalid license specification'); 23.02 is
# believed to be the first release to read them (unconfirmed: no newer Slurm here to try).
_OR_LICENSES_SINCE = (23, 2)


def check_placement(partition: Partition, spec: JobSpec, shape: Layout, problems: list[FieldError]) -> None:
    """Append every problem of the partition-level placement options to ``problems``."""
    _check_constraint(partition, spec.constraint, problems)
    _check_qos(partition, spec.qos, problems)
    if spec.nodelist is not None:
        _check_nodelist(partition, spec.nodelist, shape, problems)
    if spec.exclude is not None:
        _check_exclude(partition, spec.exclude, problems)
    tmp = partition.tmp_per_node_mb
    if spec.tmp_mb is not None and tmp is not None and spec.tmp_mb > tmp:
        problems.append(
            FieldError(
                ("tmp",),
                f"{spec.tmp_mb} MB of local scratch (--tmp) requested; a node of partition "
                f"{partition.name!r} has {tmp} MB",
            )
        )


def _check_constraint(partition: Partition, constraint: str | None, problems: list[FieldError]) -> None:
    if constraint is None:
        return
    name = partition.name
    if not partition.features:
        problems.append(
            FieldError(
                ("constraint",),
                f"--constraint is not offered on partition {name!r}: it lists no node features",
            )
        )
        return
    unknown = [f for f in feature_names(constraint) if f not in partition.features]
    if unknown:
        words = ", ".join(repr(f) for f in unknown)
        problems.append(
            FieldError(
                ("constraint",),
                f"node feature {words} is not on partition {name!r} (its features: "
                f"{', '.join(partition.features)})",
            )
        )


def _check_qos(partition: Partition, qos: str | None, problems: list[FieldError]) -> None:
    if qos is None:
        return
    name = partition.name
    if not partition.qos:
        problems.append(FieldError(("qos",), f"--qos is not offered on partition {name!r}"))
    elif qos not in partition.qos:
        problems.append(
            FieldError(
                ("qos",),
                f"QOS {qos!r} is not allowed on partition {name!r}; allowed: {', '.join(partition.qos)}",
            )
        )


def _hosts(value: str, field: str, problems: list[FieldError]) -> tuple[str, ...] | None:
    try:
        return hostlists.expand(value, field)
    except InvalidRequest as exc:
        problems.append(FieldError((field,), exc.detail))
        return None


def _check_nodelist(partition: Partition, nodelist: str, shape: Layout, problems: list[FieldError]) -> None:
    name = partition.name
    if partition.nodes is None:
        problems.append(
            FieldError(
                ("nodelist",),
                f"--nodelist is not offered on partition {name!r}: the gateway does not know its nodes",
            )
        )
        return
    hosts = _hosts(nodelist, "nodelist", problems)
    if hosts is None:
        return
    offered = set(partition.node_names)
    outside = [h for h in hosts if h not in offered]
    if outside:
        problems.append(
            FieldError(
                ("nodelist",),
                f"{_some(outside)} not in partition {name!r} (its nodes: {partition.nodes})",
            )
        )
    elif len(hosts) > shape.nodes_avail:
        limit = "--nodes" if shape.nodes_avail != partition.max_nodes else f"partition {name!r}'s maximum"
        problems.append(
            FieldError(
                ("nodelist",),
                f"--nodelist names {len(hosts)} nodes; the job may use at most {shape.nodes_avail} ({limit})",
            )
        )


def _check_exclude(partition: Partition, exclude: str, problems: list[FieldError]) -> None:
    hosts = _hosts(exclude, "exclude", problems)
    if hosts is None or partition.nodes is None:
        return
    left = set(partition.node_names) - set(hosts)
    if not left:
        problems.append(
            FieldError(
                ("exclude",),
                f"--exclude={exclude} leaves no node of partition {partition.name!r} "
                f"(its nodes: {partition.nodes})",
            )
        )


def _some(hosts: list[str]) -> str:
    shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
    return f"node {shown} is" if len(hosts) == 1 else f"nodes {shown} are"


def check_licenses(profile: ClusterProfile, licenses: str | None, problems: list[FieldError]) -> None:
    """--licenses: every name among the cluster's, each count (summed per name) within its total."""
    if licenses is None:
        return
    offered = profile.licenses
    where = profile.display_name
    if not offered:
        problems.append(
            FieldError(("licenses",), f"--licenses is not offered on {where}: it lists no licenses")
        )
        return
    if "|" in licenses and _release(profile.slurm_version) < _OR_LICENSES_SINCE:
        problems.append(
            FieldError(
                ("licenses",),
                f"Slurm {profile.slurm_version} on {where} cannot take one licence or another "
                "('|'): join licences with ','",
            )
        )
        return
    wanted: dict[str, int] = {}
    for item in re.split(r"[,|]", licenses):
        name, colon, count = item.rpartition(":")
        if not colon:
            name, count = item, "1"
        wanted[name] = wanted.get(name, 0) + int(count)
    listing = ", ".join(f"{n} ({c})" for n, c in offered.items())
    for name, count in wanted.items():
        if name not in offered:
            problems.append(
                FieldError(
                    ("licenses",), f"licence {name!r} does not exist on {where}; its licences: {listing}"
                )
            )
        elif count > offered[name]:
            problems.append(
                FieldError(
                    ("licenses",),
                    f"{count} {name} licence(s) requested; {where} has {offered[name]} in all",
                )
            )


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)
