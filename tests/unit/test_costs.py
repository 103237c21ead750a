"""What a job costs: its billing TRES × seconds in core-seconds, its GPUs × seconds in GPU-seconds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from myriagate.domain.costs import Cost, Tres, Weights, cost_of, hours_to_seconds, job_cost
from myriagate.errors import InvalidRequest

HOUR = 3600


def test_slurm_documentation_example_cpu_mem_gpu_weights() -> None:
    # slurm.conf(5): TRESBillingWeights="CPU=1.0,Mem=0.25G,GRES/gpu=2.0" and a job with
    # 2 CPUs, 4 GB and 1 GPU bills 2*1.0 + 4*0.25 + 1*2.0 = 5 per second (summed). Before,
    # the gateway kept the GPU term apart (3 core-hours + 2 "GPU-hours"); now the billing is
    # Slurm's whole number and GPU-hours are the GPU's real hours.
    weights = Weights(cpu=Decimal("1.0"), mem_per_gb=Decimal("0.25"), gpu=Decimal("2.0"))
    cost = job_cost(Tres(cpus=2, mem_mb=4096, gpus=1), HOUR, weights)
    assert cost == Cost(core_seconds=5 * HOUR, gpu_seconds=1 * HOUR)


def test_default_weights_bill_cpus_only() -> None:
    # No TRESBillingWeights: Slurm bills allocated CPUs; the GPUs still count as GPU-hours.
    cost = job_cost(Tres(cpus=28, mem_mb=120_000, gpus=2), 2 * HOUR, Weights())
    assert cost == Cost(core_seconds=56 * HOUR, gpu_seconds=4 * HOUR)


def test_billing_is_truncated_once_per_second_of_rate_not_per_job() -> None:
    # 1 CPU + 1000 MB × 0.25/GB = 1.244 per second: Slurm shows billing=1, so 100 s cost 100.
    # (The old rule rounded the job's total up: ⌈124.4⌉ = 125.)
    court = Weights(cpu=Decimal("1.0"), mem_per_gb=Decimal("0.25"))
    assert job_cost(Tres(cpus=1, mem_mb=1000), 100, court) == Cost(100)


def test_zero_elapsed_costs_nothing() -> None:
    assert job_cost(Tres(cpus=64, mem_mb=1000, gpus=4), 0, Weights(gpu=Decimal(1))).is_zero


@pytest.mark.parametrize("field", ["cpus", "mem_mb", "gpus"])
def test_negative_resources_are_refused(field: str) -> None:
    args = {"cpus": 1, "mem_mb": 1, "gpus": 1, field: -1}
    with pytest.raises(InvalidRequest):
        Tres(cpus=args["cpus"], mem_mb=args["mem_mb"], gpus=args["gpus"])


@pytest.mark.parametrize("args", [(-1, 0, 1), (1, -1, 1), (1, 0, -1)])
def test_negative_rates_or_durations_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(InvalidRequest):
        cost_of(*args)


@pytest.mark.parametrize("bad", [-1, 1.5, float("nan"), True, "10", None])
def test_costs_are_non_negative_whole_numbers(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        Cost(core_seconds=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        Cost(gpu_seconds=bad)  # type: ignore[arg-type]


def test_cost_arithmetic() -> None:
    assert Cost(5, 1) + Cost(2, 3) == Cost(7, 4)
    assert Cost(5, 1).minus_floor_zero(Cost(7, 0)) == Cost(0, 1)
    assert Cost(1, 1).fits_in(Cost(1, 1)) and not Cost(1, 2).fits_in(Cost(5, 1))
    assert Cost(7200, 1800).core_hours == 2 and Cost(7200, 1800).gpu_hours == Decimal("0.5")


@pytest.mark.parametrize(
    ("hours", "seconds"),
    [
        ("1500", 5_400_000),
        ("0.5", 1800),
        (2, 7200),
        (Decimal("0.25"), 900),
        ("0", 0),
        ("1e12", 3600 * 10**12),
    ],
)
def test_hours_given_by_people_become_whole_seconds(hours: object, seconds: int) -> None:
    assert hours_to_seconds(hours) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "hours", ["nan", "NaN", "inf", "-inf", "-1", "1e13", "0.0001", "abc", "", "1,5", float("nan")]
)
def test_implausible_hours_are_refused(hours: object) -> None:
    with pytest.raises(InvalidRequest):
        hours_to_seconds(hours)  # type: ignore[arg-type]
