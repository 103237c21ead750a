"""The residency check every transfer passes before a single byte moves, with its audit trail.

API, CLI (through the API) and worker all call ``ensure_resident``; a refusal is recorded in
the audit log in its own transaction (so it survives the rollback of the refused request)
and raised as ``ResidencyViolation``. Every other staging refusal (an unknown endpoint, an
address or host instead of an endpoint name, a path trick) is recorded the same way, through
``audit_refusal``, as one ``staging.refused`` event whose ``reason`` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session

from myriagate.domain.staging import Location, check_residency, escaped
from myriagate.errors import ResidencyViolation
from myriagate.profiles.models import ClusterProfile, Storage
from myriagate.services.common import audit

log = structlog.get_logger(__name__)

REFUSED = "staging.refused"


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
    actor: audit.Actor,
    subject: tuple[str, object] | None,
    what: str,
    source: str,
    at: datetime,
) -> None:
    """Pass, or audit the refusal (who, what, where, when) and raise ResidencyViolation."""
    try:
        check_residency(location, allowed_regions)
    except ResidencyViolation as exc:
        audit_refusal(
            audit_session, actor=actor, subject=subject, reason="other_region", value=location.endpoint,
            what=what, source=source, at=at,
            extra={"endpoint": location.endpoint, "site": location.site, "region": location.region,
                   "operator": location.operator, "allowed_regions": sorted(allowed_regions)},
        )  # fmt: skip
        raise exc


def audit_refusal(
    audit_session: Callable[[], Session],
    *,
    actor: audit.Actor,
    subject: tuple[str, object] | None,
    reason: str,
    value: str,
    what: str,
    source: str,
    at: datetime,
    field: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Record one ``staging.refused`` event in a transaction of its own, committed at once.

    ``reason`` is a short stable code (``unknown_endpoint``, ``ip_literal``,
    ``host_not_configured``, ``unsafe_path``, ``other_region``); ``value`` is what was refused,
    stored and logged escaped (``domain.staging.escaped``) so that it can neither forge a log
    or audit line nor carry markup, with its length in characters.
    """
    shown = escaped(value)
    detail: dict[str, Any] = {"reason": reason, "value": shown, "value_length": len(value), "what": what}
    if field is not None:
        detail["field"] = field
    detail.update(extra or {})
    with audit_session() as session:
        audit.record(session, actor, REFUSED, subject, detail, source, at=at)
        session.commit()
    log.warning(REFUSED, reason=reason, value=shown, field=field, what=what, source=source)
