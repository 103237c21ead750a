"""What one cluster's staging step works with: sessions, profile, ports, limits.

Built once per cluster by the composition root (``myriagate.wiring``) and handed to both
halves of the step: ``step`` (claims, state moves) and ``transfers`` (the bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from myriagate.ports import Clock, SlurmBackendFactory, Stager
from myriagate.profiles.models import ClusterProfile


@dataclass
class StagingContext:
    """Everything one cluster's staging step needs; built by the worker from the wiring."""

    session_factory: Callable[[], Session]
    profile: ClusterProfile
    backends: SlurmBackendFactory
    stager: Stager
    clock: Clock
    allowed_regions: Collection[str]
    spool_dir: Path
    holder: str
    claim_s: float = 600.0
    max_attempts: int = 5
    upload_ttl_s: float = 7 * 86400.0
