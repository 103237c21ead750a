"""What a job costs, in integer core-seconds and GPU-seconds (never floats).

One second of a job costs its **billing TRES** in core-seconds (Slurm's own number: the
partition's ``TRESBillingWeights`` over the job's CPUs, memory, nodes and GPUs, summed or,
with ``PriorityFlags=MAX_TRES``, the largest; ``domain.billing``) and its **allocated GPUs**
in GPU-seconds, whatever the GPUs' weight: CPU-hours are Slurm's billing hours, GPU-hours
are real GPU hours. Both are integers per second, so nothing is rounded after the billing
TRES itself. A job *holds* its worst case (the billing of what Slurm would allocate × time
limit) when it is submitted and is *charged* what it used (sacct's ``billing`` × elapsed
time, run by run) when it ends. See docs/allocations.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from myriagate.domain.billing import BillingRule, Tres, Weights, billing
from myriagate.errors import InvalidRequest, Text


@dataclass(frozen=True, order=True)
class Cost:
    """An amount of compute time: core-seconds and GPU-seconds, both non-negative integers."""

    core_seconds: int = 0
    gpu_seconds: int = 0

    def __post_init__(self) -> None:
        for name in ("core_seconds", "gpu_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(
                    Text("%(name)s must be a whole number, not %(value)s", name=name, value=repr(value))
                )
            if value < 0:
                raise InvalidRequest(Text("%(name)s must not be negative", name=name))

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.core_seconds + other.core_seconds, self.gpu_seconds + other.gpu_seconds)

    def fits_in(self, other: Cost) -> bool:
        return self.core_seconds <= other.core_seconds and self.gpu_seconds <= other.gpu_seconds

    def minus_floor_zero(self, other: Cost) -> Cost:
        return Cost(
            max(0, self.core_seconds - other.core_seconds), max(0, self.gpu_seconds - other.gpu_seconds)
        )

    @property
    def is_zero(self) -> bool:
        return self.core_seconds == 0 and self.gpu_seconds == 0

    @property
    def core_hours(self) -> Decimal:
        return Decimal(self.core_seconds) / 3600

    @property
    def gpu_hours(self) -> Decimal:
        return Decimal(self.gpu_seconds) / 3600


ZERO = Cost()


def cost_of(billing_tres: int, gpus: int, seconds: int) -> Cost:
    """``seconds`` of a job billed ``billing_tres`` per second and holding ``gpus`` GPUs."""
    if min(billing_tres, gpus, seconds) < 0:
        raise InvalidRequest(Text("resources and durations cannot be negative"))
    return Cost(billing_tres * seconds, gpus * seconds)


def job_cost(tres: Tres, seconds: int, weights: Weights, rule: BillingRule = BillingRule.SUM) -> Cost:
    """The cost of ``seconds`` of a job holding ``tres`` (whole-job totals) on a partition
    weighted by ``weights`` under ``rule``: its billing TRES × seconds, its GPUs × seconds."""
    return cost_of(billing(tres, weights, rule), tres.gpus, seconds)


def hours_to_seconds(hours: Decimal | int | str) -> int:
    """Whole seconds in an amount of hours given by a person (``"1500"``, ``"0.5"``).

    Refuses NaN, infinities, negatives and amounts past 10^12 hours.
    """
    try:
        value = Decimal(str(hours))
    except ArithmeticError as exc:
        raise InvalidRequest(Text("%(hours)s is not a number of hours", hours=repr(hours))) from exc
    if not value.is_finite():
        raise InvalidRequest(Text("%(hours)s is not a finite number of hours", hours=repr(hours)))
    if value < 0:
        raise InvalidRequest(Text("an amount of hours cannot be negative"))
    if value > Decimal(10) ** 12:
        raise InvalidRequest(Text("an amount above 10^12 hours is not plausible"))
    seconds = value * 3600
    if seconds != seconds.to_integral_value():
        raise InvalidRequest(Text("%(hours)s hours is not a whole number of seconds", hours=repr(hours)))
    return int(seconds)


__all__ = [
    "ZERO",
    "BillingRule",
    "Cost",
    "Tres",
    "Weights",
    "billing",
    "cost_of",
    "hours_to_seconds",
    "job_cost",
]
