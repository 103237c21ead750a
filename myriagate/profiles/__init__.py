"""Cluster profiles: frozen models of ``cluster_profiles/*.toml``, their loader and job checks."""

from myriagate.profiles.loader import load_all_profiles, load_profile, parse_profile
from myriagate.profiles.models import (
    BillingWeights,
    ClusterProfile,
    Connection,
    Partition,
    SlurmSection,
    Storage,
)
from myriagate.profiles.validation import check_job

__all__ = [
    "BillingWeights",
    "ClusterProfile",
    "Connection",
    "Partition",
    "SlurmSection",
    "Storage",
    "check_job",
    "load_all_profiles",
    "load_profile",
    "parse_profile",
]
