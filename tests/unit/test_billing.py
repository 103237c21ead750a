"""Slurm's billing TRES, as assoc_mgr_tres_weighted() computes it and the controller stores it.

The expected numbers come from Slurm itself: the dev cluster's partitions (``scontrol show
partition``: TRES=cpu=32,mem=62.50G,node=1,billing=47 on court) and jobs (``scontrol show
job``, tests/integration/test_billing_real.py), and from Slurm 22.05's source where the dev
cluster cannot show it (MAX_TRES, typed GPU weights).
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from myriagate.domain.billing import BillingRule, Tres, Weights, billing, parse_weights
from myriagate.errors import InvalidRequest

COURT = parse_weights("CPU=1.0,Mem=0.25G")
LONG = parse_weights("CPU=1.5,Mem=0.25G")
GPU = parse_weights("CPU=1.0,Mem=0.25G,GRES/gpu=4.0")
VM = Tres(cpus=32, mem_mb=64000, nodes=1, gpus=2)  # the dev node, whole


def test_partition_totals_match_what_scontrol_shows() -> None:
    # scontrol show partition: court billing=47, long 63, gpu 55 (vm), parallel 237 (4 nodes).
    assert billing(VM, COURT) == 47  # 32 + 15.625 = 47.625, truncated
    assert billing(VM, LONG) == 63  # 48 + 15.625
    assert billing(VM, GPU) == 55  # 32 + 15.625 + 8
    assert billing(Tres(cpus=112, mem_mb=512_000, nodes=4), COURT) == 237  # 112 + 125


def test_jobs_as_scontrol_shows_them() -> None:
    # scontrol show job on the dev cluster (TRES=…,billing=N), one line per shape.
    assert billing(Tres(1, 1000), COURT) == 1
    assert billing(Tres(4, 8000), COURT) == 5
    assert billing(Tres(3, 3000), LONG) == 5  # 4.5 + 0.73
    assert billing(Tres(1, 1000, gpus=1), GPU) == 5
    assert billing(Tres(1, 4000, gpus=2), GPU) == 9
    assert billing(Tres(4, 4000, gpus=1), GPU) == 8
    assert billing(Tres(32, 32000), COURT) == 39  # --exclusive on vm
    assert billing(Tres(56, 56000, nodes=2), COURT) == 69  # -N2 --ntasks-per-node=28 on parallel


def test_truncation_is_toward_zero_never_up() -> None:
    assert billing(Tres(1, 1023), parse_weights("CPU=0,Mem=1G")) == 0  # 0.999…
    assert billing(Tres(1, 1024), parse_weights("CPU=0,Mem=1G")) == 1
    assert billing(Tres(3, 0), parse_weights("CPU=0.5")) == 1


def test_doubles_as_c_computes_them_not_exact_decimals() -> None:
    # 100 × 0.29 is 28.999999999999996 in IEEE doubles: Slurm stores 28 where exact
    # arithmetic would give 29. The gateway must show (and charge) Slurm's number.
    assert billing(Tres(100, 0), parse_weights("CPU=0.29")) == 28
    # The memory weight is strtod(w) / 1024 in Slurm; Decimal w/1024 rounds to the same double.
    assert billing(Tres(0, 3 * 1024 * 1024), parse_weights("CPU=0,Mem=0.1G")) == 307


def test_a_weight_per_gb_is_the_double_slurm_divides() -> None:
    # Slurm: strtod("0.3") / 1024 for Mem=0.3G; the gateway: float(Decimal("0.3") / 1024).
    rng = random.Random(11)
    for _ in range(5000):
        text = f"{rng.randint(0, 10**6)}e-{rng.randint(0, 9)}"
        assert float(Decimal(text) / 1024) == float(text) / 1024, text


def test_no_weights_bills_cpus() -> None:
    # A partition without TRESBillingWeights: billing = CPUs, under every rule.
    for rule in BillingRule:
        assert billing(Tres(28, 128_000, nodes=1, gpus=4), Weights(), rule) == 28


def test_max_tres_takes_the_largest_weighted_tres_of_the_job() -> None:
    weights = parse_weights("CPU=1.0,Mem=0.25G,GRES/gpu=4.0")
    big_memory = Tres(cpus=2, mem_mb=256 * 1024)  # 2 vs 64
    assert billing(big_memory, weights, BillingRule.MAX_TRES) == 64
    assert billing(big_memory, weights, BillingRule.SUM) == 66
    gpu_job = Tres(cpus=4, mem_mb=16 * 1024, gpus=2)  # 4, 4, 8
    assert billing(gpu_job, weights, BillingRule.MAX_TRES) == 8
    # Totals over the job, not per node (the code, whatever the flag's name suggests):
    # 2 nodes × 28 CPUs = 56, not 28.
    assert billing(Tres(cpus=56, mem_mb=2000, nodes=2), weights, BillingRule.MAX_TRES) == 56


def test_max_tres_gres_adds_the_gpus_to_the_largest_of_the_rest() -> None:
    weights = parse_weights("CPU=1.0,Mem=0.25G,GRES/gpu=4.0")
    job = Tres(cpus=4, mem_mb=32 * 1024, gpus=2)  # max(4, 8) + 8
    assert billing(job, weights, BillingRule.MAX_TRES_GRES) == 16
    assert billing(job, weights, BillingRule.MAX_TRES) == 8


def test_gpu_type_weights_add_to_the_generic_one() -> None:
    # GRES/gpu and GRES/gpu:a100 are two TRES: a job on A100s counts both when both weigh.
    typed = parse_weights("CPU=1,GRES/gpu:a100=8,GRES/gpu:v100=4")
    a100 = Tres(cpus=16, mem_mb=0, gpus=2, typed_gpus=(("a100", 2),))
    assert billing(a100, typed) == 16 + 16
    assert billing(Tres(16, 0, gpus=2, typed_gpus=(("v100", 2),)), typed) == 16 + 8
    assert billing(a100, typed, BillingRule.MAX_TRES) == 16
    both = parse_weights("CPU=1,GRES/gpu=1,GRES/gpu:a100=8")
    assert billing(a100, both) == 16 + 2 + 16
    assert billing(Tres(16, 0, gpus=2), typed) == 16  # no type counted, no typed weight


def test_node_weight() -> None:
    assert billing(Tres(cpus=2, mem_mb=0, nodes=3), parse_weights("CPU=1,Node=10")) == 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CPU=1.0,Mem=0.25G", Weights(cpu=Decimal(1), mem_per_gb=Decimal("0.25"))),
        # No unit: memory weights are per MB (Slurm's base unit for mem).
        ("Mem=0.25", Weights(cpu=Decimal(0), mem_per_gb=Decimal(256))),
        ("mem=1T", Weights(cpu=Decimal(0), mem_per_gb=Decimal(1) / 1024)),
        ("Mem=2M", Weights(cpu=Decimal(0), mem_per_gb=Decimal(2048))),  # M is the base: per MB
        ("Mem=2K", Weights(cpu=Decimal(0), mem_per_gb=Decimal(2048))),  # below the base: unchanged
        ("CPU=2K", Weights(cpu=Decimal(2) / 1024)),  # CPU's base is no unit: K divides by 1024
        ("cpu=1, GRES/gpu=4", Weights(gpu=Decimal(4))),
        ("CPU=1,GRES/gpu:a100=8", Weights(gpu_types=(("a100", Decimal(8)),))),
        ("CPU=1,Node=2", Weights(node=Decimal(2))),
        ("CPU=1,License/matlab=0,FS/disk=0", Weights()),  # zero weights of other TRES are harmless
        ("", Weights()),  # no weights at all: Slurm bills the CPUs
    ],
)
def test_weights_read_as_slurm_reads_them(text: str, expected: Weights) -> None:
    assert parse_weights(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CPU", "is not a TRES weight"),
        ("CPU=abc", "is not a TRES weight"),
        ("CPU=-1", "0 or more"),
        ("Mem=0.25X", "is not a TRES weight"),
        ("License/matlab=2", "cannot price TRES License/matlab"),
        ("GRES/mps=1", "cannot price TRES GRES/mps"),
        ("Energy=1", "cannot price TRES Energy"),
    ],
)
def test_weights_the_gateway_cannot_apply_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_weights(text)
