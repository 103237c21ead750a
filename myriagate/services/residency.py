"""The residency check every transfer passes before a single byte moves, with its audit trail.

API, CLI (through the API) and worker all call ``ensure_resident``; a refusal is recorded in
the audit log in its own transaction (so it survives the rollback of the refused request)
and raised as ``ResidencyViolation``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

from myriagate.domain.staging import Location, check_residency
from myriagate.errors import ResidencyViolation
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services import audit

log = structlog.get_logger(__name__)


def storage_location(storage: Storage) -> Location:
    return Location(
        endpoint=storage.name, site=storage.site, region=storage.region, operator=storage.operator
    )


def cluster_location(profile: ClusterProfile) -> Location:
    """The cluster as a destination (stage-in); an undeclared region is outside every region."""
    return Location(
        endpoint=profile.name,
        site=profile.site or "undeclared site",
        region=profile.region or "undeclared",
        operator=profile.display_name,
    )


def ensure_resident(
    location: Location,
    allowed_regions: Collection[str],
    *,
    audit_session: Callable[[], Session],
    actor: object,
    subject: tuple[str, object] | None,
    what: str,
    source: str,
    at: datetime,
) -> None:
    """Pass, or audit the refusal (who, what, where, when) and raise ResidencyViolation."""
    try:
        check_residency(location, allowed_regions)
    except ResidencyViolation as exc:
        with audit_session() as session:
            audit.record(
                session,
                actor,
                "staging.residency_refused",
                subject,
                {
                    "what": what,
                    "endpoint": location.endpoint,
                    "site": location.site,
                    "region": location.region,
                    "operator": location.operator,
                    "allowed_regions": sorted(allowed_regions),
                },
                source,
                at=at,
            )
            session.commit()
        log.warning(
            "staging.residency_refused", endpoint=location.endpoint, region=location.region, what=what
        )
        raise exc
