"""The dev cluster's real profile, for service tests that submit through the real checks."""

from __future__ import annotations

from functools import lru_cache

from myriagate.profiles.loader import load_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.settings import Settings


@lru_cache(maxsize=1)
def dev_profile() -> ClusterProfile:
    """``cluster_profiles/devcluster.toml`` (partitions court, long, debug; storage caen, paris)."""
    return load_profile("devcluster", Settings(dev_mode=True))
