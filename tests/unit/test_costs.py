"""What a job costs: Slurm's TRESBillingWeights rule in integer core- and GPU-seconds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from myriagate.domain.costs import Cost, Weights, hours_to_seconds, job_cost
from myriagate.errors import InvalidRequest

HOUR = 3600


def test_slurm_documentation_example_cpu_mem_gpu_weights() -> None:
    # slurm.conf(5): TRESBillingWeights="CPU=1.0,Mem=0.25G,GRES/gpu=2.0" and a job with
    # 2 CPUs, 4 GB and 1 GPU bills 2*1.0 + 4*0.25 + 1*2.0 = 5 per second (summed). We keep the
    # GPU term apart, in GPU-seconds, so it can be granted separately.
    weights = Weights(cpu=Decimal("1.0"), mem_per_gb=Decimal("0.25"), gpu=Decimal("2.0"))
    cost = job_cost(cpus=2, mem_mb=4096, gpus=1, seconds=HOUR, weights=weights)
    assert cost == Cost(core_seconds=3 * HOUR, gpu_seconds=2 * HOUR)


def test_default_weights_bill_cpus_only() -> None:
    # No TRESBillingWeights: Slurm bills allocated CPUs, memory and GPUs cost nothing.
    cost = job_cost(cpus=28, mem_mb=120_000, gpus=0, seconds=2 * HOUR, weights=Weights())
    assert cost == Cost(core_seconds=56 * HOUR)


def test_memory_weight_counts_mebibytes_as_fractions_of_a_gigabyte() -> None:
    weights = Weights(cpu=Decimal(0), mem_per_gb=Decimal(1))
    assert job_cost(cpus=0, mem_mb=512, gpus=0, seconds=100, weights=weights) == Cost(50)


def test_fractions_are_rounded_up_per_job() -> None:
    weights = Weights(cpu=Decimal("1.5"))
    assert job_cost(cpus=1, mem_mb=0, gpus=0, seconds=1, weights=weights) == Cost(2)
    # One MB for one second at 1 per GB is 1/1024 of a core-second: still costs 1.
    tiny = Weights(cpu=Decimal(0), mem_per_gb=Decimal(1))
    assert job_cost(cpus=0, mem_mb=1, gpus=0, seconds=1, weights=tiny) == Cost(1)
    # Rounding happens once, on the whole job, not per second.
    assert job_cost(cpus=1, mem_mb=0, gpus=0, seconds=10, weights=weights) == Cost(15)


def test_zero_elapsed_costs_nothing() -> None:
    assert job_cost(cpus=64, mem_mb=1000, gpus=4, seconds=0, weights=Weights(gpu=Decimal(1))).is_zero


@pytest.mark.parametrize("field", ["cpus", "mem_mb", "gpus", "seconds"])
def test_negative_resources_are_refused(field: str) -> None:
    args = {"cpus": 1, "mem_mb": 1, "gpus": 1, "seconds": 1, field: -1}
    with pytest.raises(InvalidRequest):
        job_cost(**args, weights=Weights())


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
