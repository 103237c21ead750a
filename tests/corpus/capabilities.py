"""What the dev cluster offers, so a corpus script that needs more is skipped with the reason.

Read from the dev cluster's profile (what the gateway knows) and, for the real-cluster tests,
from Slurm itself (what the cluster has). A capability counts only when both have it.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "cluster_profiles" / "devcluster.toml"


@cache
def _profile() -> dict[str, object]:
    with PROFILE.open("rb") as handle:
        return tomllib.load(handle)


def _partitions() -> list[Mapping[str, object]]:
    parts = _profile().get("partitions", [])
    return [p for p in parts if isinstance(p, Mapping)] if isinstance(parts, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _any_partition(key: str) -> bool:
    return any(bool(p.get(key)) for p in _partitions())


def _slurm_section(key: str) -> bool:
    section = _profile().get("slurm", {})
    return isinstance(section, Mapping) and bool(section.get(key))


# Keys of profiles/models.py: Partition.features, .qos, .tmp_per_node_mb, [slurm] licenses.
# Reservations are not listed in profiles: the gateway checks the name's form, Slurm the rest.
PROFILE_CHECKS: dict[str, Callable[[], bool]] = {
    "multinode": lambda: any(_int(p.get("max_nodes")) >= 2 for p in _partitions()),
    "gpu": lambda: any(_int(p.get("gpus_per_node")) > 0 for p in _partitions()),
    "features": lambda: _any_partition("features"),
    "qos": lambda: _any_partition("qos"),
    "reservation": lambda: True,
    "licenses": lambda: _slurm_section("licenses"),
    "tmpdisk": lambda: _any_partition("tmp_per_node_mb"),
}


def in_profile() -> frozenset[str]:
    """The capabilities the dev cluster's profile declares."""
    return frozenset(name for name, check in PROFILE_CHECKS.items() if check())


def _scontrol(*args: str) -> str:
    done = subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout if done.returncode == 0 else ""


def _nodes() -> list[dict[str, str]]:
    lines = _scontrol("show", "node", "-o").splitlines()
    return [dict(w.split("=", 1) for w in line.split() if "=" in w) for line in lines]


SLURM_CHECKS: dict[str, Callable[[], bool]] = {
    "multinode": lambda: len(_nodes()) >= 2,
    "gpu": lambda: any("gpu" in n.get("Gres", "") for n in _nodes()),
    "features": lambda: any(n.get("AvailableFeatures", "(null)") != "(null)" for n in _nodes()),
    "qos": lambda: True,  # every association has QOS normal
    "reservation": lambda: "ReservationName=" in _scontrol("show", "reservation", "-o"),
    "licenses": lambda: "LicenseName=" in _scontrol("show", "licenses", "-o"),
    "tmpdisk": lambda: any(_int_text(n.get("TmpDisk", "0")) > 0 for n in _nodes()),
}


def _int_text(text: str) -> int:
    return int(text) if text.isdigit() else 0


def in_slurm() -> frozenset[str]:
    """The capabilities the running dev cluster has (asks slurmctld)."""
    return frozenset(name for name, check in SLURM_CHECKS.items() if check())


def missing(needs: frozenset[str], have: frozenset[str]) -> str | None:
    """A skip reason naming what the dev cluster lacks, or None."""
    lacking = sorted(needs - have)
    if not lacking:
        return None
    return (
        f"the dev cluster does not offer {', '.join(lacking)} yet "
        "(cluster_profiles/devcluster.toml and deploy/devcluster/slurm.conf.in)"
    )
