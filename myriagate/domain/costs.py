"""What a job costs, in integer core-seconds and GPU-seconds (never floats).

The rule is Slurm's ``TRESBillingWeights`` (summed): one second of a job costs
``cpus × w_cpu + mem_GB × w_mem`` core-seconds and ``gpus × w_gpu`` GPU-seconds, with the
partition's weights from the cluster profile; fractions are rounded up, per job. A job
*holds* its worst case (requested resources × time limit) when it is submitted and is
*charged* what it really used (allocated resources × elapsed time, from sacct) when it ends.
See docs/allocations.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from myriagate.errors import InvalidRequest


@dataclass(frozen=True, order=True)
class Cost:
    """An amount of compute time: core-seconds and GPU-seconds, both non-negative integers."""

    core_seconds: int = 0
    gpu_seconds: int = 0

    def __post_init__(self) -> None:
        for name in ("core_seconds", "gpu_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(f"{name} must be a whole number, not {value!r}")
            if value < 0:
                raise InvalidRequest(f"{name} must not be negative")

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


@dataclass(frozen=True)
class Weights:
    """A partition's billing weights (Decimal, exact): per CPU, per GB of memory, per GPU."""

    cpu: Decimal = Decimal(1)
    mem_per_gb: Decimal = Decimal(0)
    gpu: Decimal = Decimal(0)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def job_cost(*, cpus: int, mem_mb: int, gpus: int, seconds: int, weights: Weights) -> Cost:
    """The cost of ``seconds`` of a job holding these resources (all counts for the whole job)."""
    if min(cpus, mem_mb, gpus, seconds) < 0:
        raise InvalidRequest("resources and durations cannot be negative")
    per_second_core = Decimal(cpus) * weights.cpu + Decimal(mem_mb) / 1024 * weights.mem_per_gb
    per_second_gpu = Decimal(gpus) * weights.gpu
    return Cost(_ceil(per_second_core * seconds), _ceil(per_second_gpu * seconds))


def hours_to_seconds(hours: Decimal | int | str) -> int:
    """Whole seconds in an amount of hours given by a person (``"1500"``, ``"0.5"``).

    Refuses NaN, infinities, negatives and amounts past 10^12 hours.
    """
    try:
        value = Decimal(str(hours))
    except ArithmeticError as exc:
        raise InvalidRequest(f"{hours!r} is not a number of hours") from exc
    if not value.is_finite():
        raise InvalidRequest(f"{hours!r} is not a finite number of hours")
    if value < 0:
        raise InvalidRequest("an amount of hours cannot be negative")
    if value > Decimal(10) ** 12:
        raise InvalidRequest("an amount above 10^12 hours is not plausible")
    seconds = value * 3600
    if seconds != seconds.to_integral_value():
        raise InvalidRequest(f"{hours!r} hours is not a whole number of seconds")
    return int(seconds)


__all__ = ["ZERO", "Cost", "Weights", "hours_to_seconds", "job_cost"]
