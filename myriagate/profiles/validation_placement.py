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
from myriagate.errors import FieldError, InvalidRequest, Text
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
                Text(
                    "%(tmp_mb)s MB of local scratch (--tmp) requested; a node of partition %(partition)s "
                    "has %(tmp)s MB",
                    tmp_mb=spec.tmp_mb,
                    partition=repr(partition.name),
                    tmp=tmp,
                ),
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
                Text(
                    "--constraint is not offered on partition %(partition)s: it lists no node features",
                    partition=repr(name),
                ),
            )
        )
        return
    unknown = [f for f in feature_names(constraint) if f not in partition.features]
    if unknown:
        words = ", ".join(repr(f) for f in unknown)
        problems.append(
            FieldError(
                ("constraint",),
                Text(
                    "node feature %(words)s is not on partition %(partition)s (its features: %(features)s)",
                    words=words,
                    partition=repr(name),
                    features=", ".join(partition.features),
                ),
            )
        )


def _check_qos(partition: Partition, qos: str | None, problems: list[FieldError]) -> None:
    if qos is None:
        return
    name = partition.name
    if not partition.qos:
        problems.append(
            FieldError(
                ("qos",), Text("--qos is not offered on partition %(partition)s", partition=repr(name))
            )
        )
    elif qos not in partition.qos:
        problems.append(
            FieldError(
                ("qos",),
                Text(
                    "QOS %(qos)s is not allowed on partition %(partition)s; allowed: %(qos2)s",
                    qos=repr(qos),
                    partition=repr(name),
                    qos2=", ".join(partition.qos),
                ),
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
                Text(
                    "--nodelist is not offered on partition %(partition)s: the gateway does not know its "
                    "nodes",
                    partition=repr(name),
                ),
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
                Text(
                    "%(outside)s not in partition %(partition)s (its nodes: %(nodes)s)",
                    outside=_some(outside),
                    partition=repr(name),
                    nodes=partition.nodes,
                ),
            )
        )
    elif len(hosts) > shape.nodes_avail:
        limit = (
            "--nodes"
            if shape.nodes_avail != partition.max_nodes
            else Text("partition %(partition)s's maximum", partition=repr(name))
        )
        problems.append(
            FieldError(
                ("nodelist",),
                Text(
                    "--nodelist names %(hosts)s nodes; the job may use at most %(nodes_avail)s (%(limit)s)",
                    hosts=len(hosts),
                    nodes_avail=shape.nodes_avail,
                    limit=limit,
                ),
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
                Text(
                    "--exclude=%(exclude)s leaves no node of partition %(partition)s (its nodes: %(nodes)s)",
                    exclude=exclude,
                    partition=repr(partition.name),
                    nodes=partition.nodes,
                ),
            )
        )


def _some(hosts: list[str]) -> str:
    shown = ", ".join(hosts[:5])
    if len(hosts) > 5:
        shown = Text("%(shown)s and %(more)s more", shown=shown, more=len(hosts) - 5)
    return (
        Text("node %(shown)s is", shown=shown)
        if len(hosts) == 1
        else Text("nodes %(shown)s are", shown=shown)
    )


def check_licenses(profile: ClusterProfile, licenses: str | None, problems: list[FieldError]) -> None:
    """--licenses: every name among the cluster's, each count (summed per name) within its total."""
    if licenses is None:
        return
    offered = profile.licenses
    where = profile.display_name
    if not offered:
        problems.append(
            FieldError(
                ("licenses",),
                Text("--licenses is not offered on %(where)s: it lists no licenses", where=where),
            )
        )
        return
    if "|" in licenses and _release(profile.slurm_version) < _OR_LICENSES_SINCE:
        problems.append(
            FieldError(
                ("licenses",),
                Text(
                    "Slurm %(slurm_version)s on %(where)s cannot take one licence or another ('|'): join "
                    "licences with ','",
                    slurm_version=profile.slurm_version,
                    where=where,
                ),
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
                    ("licenses",),
                    Text(
                        "licence %(licence)s does not exist on %(where)s; its licences: %(listing)s",
                        licence=repr(name),
                        where=where,
                        listing=listing,
                    ),
                )
            )
        elif count > offered[name]:
            problems.append(
                FieldError(
                    ("licenses",),
                    Text(
                        "%(count)s %(licence)s licence(s) requested; %(where)s has %(offered)s in all",
                        count=count,
                        licence=name,
                        where=where,
                        offered=offered[name],
                    ),
                )
            )


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)
