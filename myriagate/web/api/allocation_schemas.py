"""The API's models of allocations (docs/allocations.md): balances, the ledger, periods, quotas,
usage reports and estimates. Re-exported by ``schemas``, where the CLI reads every API model."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from myriagate.web.api.api_model import ApiIn as _In
from myriagate.web.api.api_model import ApiModel
from myriagate.web.api.api_model import ApiOut as _Out

# --- allocations (docs/allocations.md) ---------------------------------------------------
# Amounts travel both ways: exact integer seconds (authoritative) and hours for people
# (rounded to 0.01 for display). People send hours; the service refuses NaN, negatives,
# implausible sizes and sub-second fractions (docs/allocations.md).
HoursIn = Decimal


class AmountOut(ApiModel):
    core_seconds: int
    gpu_seconds: int
    core_hours: float = Field(
        description="core_seconds / 3600, rounded to 0.01 (display only); an amount below 0.005 h "
        "keeps two significant digits, so it never reads 0"
    )
    gpu_hours: float = Field(
        description="gpu_seconds / 3600, rounded to 0.01 (display only); an amount below 0.005 h "
        "keeps two significant digits, so it never reads 0"
    )


class AllocationOut(ApiModel):
    """A project's allocation for one period and its balance (remaining = granted − held − charged)."""

    id: UUID
    cluster: str
    account: str = Field(description="The project's Slurm account")
    institution: str
    period_id: UUID
    period_name: str
    granted: AmountOut
    held: AmountOut
    charged: AmountOut
    remaining: AmountOut
    suspended_at: datetime | None = Field(
        default=None, description="Set while an admin suspends the project: no new job is accepted for it"
    )
    suspension_reason: str | None = Field(default=None, description="Why the project is suspended")


LedgerKind = Literal["grant", "hold", "release", "charge", "adjustment"]


class LedgerEntryOut(ApiModel):
    id: int
    kind: LedgerKind
    core_seconds: int = Field(description="Signed for an adjustment, positive otherwise")
    gpu_seconds: int
    core_hours: float
    gpu_hours: float
    job_id: UUID | None = None
    slurm_job_id: str | None = Field(default=None, description="Set for jobs run outside the gateway")
    author: str
    reason: str
    at: datetime


class LedgerPageOut(ApiModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end")


class GrantIn(_In):
    """A grant, or a top-up of an existing allocation (both add to it)."""

    cluster: str | None = Field(default=None, description="Default: the gateway's default cluster")
    account: str = Field(min_length=1, max_length=64, description="The project's Slurm account")
    period_id: UUID | None = Field(default=None, description="Default: the cluster's current period")
    core_hours: HoursIn = Field(default=Decimal(0), description="e.g. 1500 or 0.5")
    gpu_hours: HoursIn = Field(default=Decimal(0))
    reason: str = Field(min_length=1, max_length=2000)


class AdjustmentIn(_In):
    """A signed correction of a grant (negative takes hours back)."""

    core_hours: HoursIn = Field(default=Decimal(0), description="Signed, e.g. -200")
    gpu_hours: HoursIn = Field(default=Decimal(0))
    reason: str = Field(min_length=1, max_length=2000)


class PeriodIn(_In):
    cluster: str | None = Field(default=None, description="Default: the gateway's default cluster")
    name: str = Field(min_length=1, max_length=255)
    starts_at: datetime = Field(description="Inclusive, with a time zone")
    ends_at: datetime = Field(description="Exclusive, with a time zone")


class PeriodOut(_Out):
    id: UUID
    cluster: str
    name: str
    starts_at: datetime
    ends_at: datetime


class QuotaIn(_In):
    core_hours: HoursIn = Field(default=Decimal(0))
    gpu_hours: HoursIn = Field(default=Decimal(0))


class QuotaOut(ApiModel):
    """An institution's quota for a period, what its projects were granted, and what is left."""

    institution: str
    period_id: UUID
    period_name: str
    cluster: str
    quota: AmountOut
    granted: AmountOut
    left: AmountOut


class UsageRowOut(ApiModel):
    month: str
    institution: str
    cluster: str | None
    account: str | None
    user: str | None = Field(description="Username; `(outside)` for jobs run outside the gateway")
    jobs: int
    core_seconds: int
    gpu_seconds: int
    core_hours: float
    gpu_hours: float


class UsageReportOut(ApiModel):
    month: str
    group_by: Literal["institution", "project", "user"]
    rows: list[UsageRowOut]
    total: AmountOut
    jobs: int


class EstimateOut(ApiModel):
    """What a job would hold at submission, and what its project would have left afterwards."""

    account: str | None
    partition: str | None
    allocation_id: UUID | None = Field(description="Null when the project has no allocation now")
    fits: bool
    hold_core_seconds: int
    hold_gpu_seconds: int
    hold_core_hours: float
    hold_gpu_hours: float
    remaining_before_core_seconds: int | None = None
    remaining_before_gpu_seconds: int | None = None
    remaining_before_core_hours: float | None = None
    remaining_before_gpu_hours: float | None = None
    remaining_after_core_seconds: int | None = None
    remaining_after_gpu_seconds: int | None = None
    remaining_after_core_hours: float | None = None
    remaining_after_gpu_hours: float | None = None


class SuspensionIn(_In):
    reason: str = Field(
        max_length=1000, description="Why (shown to the project's researchers, kept in the audit log)"
    )


class SuspensionOut(_Out):
    """A project's suspension by an admin (docs/allocations.md, "Suspending a project")."""

    cluster: str
    account: str
    institution: str
    suspended: bool
    suspended_at: datetime | None
    suspended_by: str | None = Field(description="The admin's username")
    reason: str | None
    queued_jobs: int = Field(description="The project's jobs waiting: a suspension does not touch them")
    running_jobs: int = Field(description="The project's jobs running: a suspension does not touch them")
    can_change: bool = Field(description="Whether you may suspend or resume it")
