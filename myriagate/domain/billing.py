"""Slurm's billing TRES: what one second of a job counts, as the controller computes it (pure).

Slurm gives every job a ``billing`` TRES (``scontrol show job``, sacct's ``AllocTRES``): the
partition's ``TRESBillingWeights`` applied to the job's TRES counts, whole-job totals
(``assoc_mgr_tres_weighted()`` in src/common/assoc_mgr.c, Slurm 22.05 to 25.11):

- **sum** (the default): ``Σ count × weight`` over every TRES;
- **MAX_TRES** (``PriorityFlags=MAX_TRES``): the largest ``count × weight`` among the node
  TRES (cpu, mem, node, every gres), plus the sum of the global ones (licenses, …);
- **MAX_TRES_GRES** (Slurm 25.05+): the largest among cpu, mem and node, plus the sum of the
  gres, plus the global ones.

The count is the job's *total* (all nodes), not a node's, whatever the flag's name suggests.
A partition without ``TRESBillingWeights`` bills its CPUs. The controller computes in C
``double`` and stores the job's billing as an integer by a plain cast
(``tres_alloc_cnt[TRES_ARRAY_BILLING] = calc_job_billable_tres(...)`` in job_mgr.c), which
truncates: ``CPU=1.0,Mem=0.25G`` on a whole 32-CPU, 64000 MB node is 47.625, shown as
``billing=47``. ``billing()`` repeats that computation operation by operation with Python
floats (IEEE 754 doubles, like C's) so the integer is the one Slurm shows, to the unit; the
float never leaves this function, and every amount the gateway stores is an integer.

Weights are read as Slurm reads ``TRESBillingWeights`` (``_tres_weight_item()`` in
src/common/slurm_protocol_api.c): ``TYPE[/NAME]=NUMBER[UNIT]``, types case-insensitive; a
unit divides the weight by 1024 per step above the TRES's base unit (MB for memory, none for
the others), so ``Mem=0.25G`` is 0.25 per GB and ``Mem=0.25`` is 0.25 per MB. A TRES that is
not listed weighs 0 (``CPU`` too, once any weight is given).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from myriagate.errors import InvalidRequest

MB_PER_GB = 1024
_ITEM = re.compile(r"^\s*([A-Za-z]+)(?:/([\w.:-]+))?\s*=\s*([0-9.eE+-]+)\s*([KMGTPkmgtp]?)\s*\Z")
_UNITS = "KMGTP"  # Slurm's get_unit_type(): K = 1 … P = 5; the unit-less index is 0
_MEM_BASE = 2  # memory's base unit is the MB (slurmdb_get_tres_base_unit)
# TRES the gateway cannot count for a job: a nonzero weight on one is refused, not ignored.
_UNPRICED = ("energy", "fs", "vmem", "pages", "license", "bb", "ic")


class BillingRule(StrEnum):
    """How a partition's weighted TRES add up (Slurm's ``PriorityFlags``)."""

    SUM = "sum"
    MAX_TRES = "max_tres"
    MAX_TRES_GRES = "max_tres_gres"


@dataclass(frozen=True)
class Weights:
    """A partition's ``TRESBillingWeights``, exact: per CPU, per GB of memory (1024 MB), per
    node, per GPU (``GRES/gpu``) and per GPU of a named type (``GRES/gpu:a100``).

    The default, CPU=1 and nothing else, bills what a partition without weights bills: its CPUs.
    """

    cpu: Decimal = Decimal(1)
    mem_per_gb: Decimal = Decimal(0)
    node: Decimal = Decimal(0)
    gpu: Decimal = Decimal(0)
    gpu_types: tuple[tuple[str, Decimal], ...] = ()

    def gpu_type(self, name: str) -> Decimal:
        """The weight of ``GRES/gpu:<name>`` (0 when none is given)."""
        return next((w for t, w in self.gpu_types if t.lower() == name.lower()), Decimal(0))

    @property
    def doubles(self) -> tuple[float, float, float, float]:
        """cpu, mem per MB, node and gpu weights as the C doubles Slurm multiplies by.

        ``float(w / 1024)`` equals Slurm's ``strtod(w) / 1024``: dividing by a power of two
        commutes with rounding to a double, and ``w / 1024`` is exact in Decimal.
        """
        return _doubles(self)


@functools.lru_cache(maxsize=256)
def _doubles(w: Weights) -> tuple[float, float, float, float]:
    return (float(w.cpu), float(w.mem_per_gb / MB_PER_GB), float(w.node), float(w.gpu))


@dataclass(frozen=True)
class Tres:
    """A job's trackable resources, totals over all its nodes (Slurm's ``tres_cnt``).

    ``typed_gpus`` counts GPUs per type, as Slurm counts ``gres/gpu:<type>`` next to
    ``gres/gpu`` when that typed TRES is tracked (``AccountingStorageTRES``).
    """

    cpus: int
    mem_mb: int
    nodes: int = 1
    gpus: int = 0
    typed_gpus: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        counts = (self.cpus, self.mem_mb, self.nodes, self.gpus, *(n for _, n in self.typed_gpus))
        if min(counts) < 0:
            raise InvalidRequest("resources cannot be negative")


def billing(tres: Tres, weights: Weights, rule: BillingRule = BillingRule.SUM) -> int:
    """The billing TRES of a job holding ``tres`` on a partition weighted by ``weights``: the
    integer Slurm shows as ``billing=`` (see the module docstring for the rule and rounding)."""
    w_cpu, w_mem, w_node, w_gpu = weights.doubles
    # In Slurm's order (TRES ids: cpu 1, mem 2, node 4, then the gres), each product a double;
    # the TRES the gateway does not count weigh 0 and add 0.0.
    node_side = [float(tres.cpus) * w_cpu, float(tres.mem_mb) * w_mem, float(tres.nodes) * w_node]
    gres = [float(tres.gpus) * w_gpu]
    gres += [float(n) * float(weights.gpu_type(name)) for name, n in tres.typed_gpus]
    if rule is BillingRule.MAX_TRES:
        total = max(0.0, *node_side, *gres)
    elif rule is BillingRule.MAX_TRES_GRES:
        total = max(0.0, *node_side) + _sum(gres)
    else:
        total = _sum(node_side + gres)
    # C's (uint64_t) cast of a non-negative double: truncation toward zero.
    return int(total)


def _sum(values: list[float]) -> float:
    """Left to right from 0.0, as the C loop adds (float addition is not associative)."""
    total = 0.0
    for value in values:
        total += value
    return total


def parse_weights(text: str) -> Weights:
    """Slurm's ``TRESBillingWeights`` string (``"CPU=1.0,Mem=0.25G,GRES/gpu=4.0"``) as Weights.

    InvalidRequest names the item Slurm would refuse, or a nonzero weight on a TRES the
    gateway cannot count for a job (licenses, burst buffers, energy, …).
    """
    if not text.strip():
        return Weights()  # no weights at all: Slurm bills the CPUs
    found: dict[str, Decimal] = {"cpu": Decimal(0), "mem": Decimal(0), "node": Decimal(0), "gpu": Decimal(0)}
    types: dict[str, Decimal] = {}
    for item in (i for i in text.split(",") if i.strip()):
        m = _ITEM.match(item)
        if m is None:
            raise InvalidRequest(f"{item.strip()!r} is not a TRES weight such as CPU=1.0 or Mem=0.25G")
        kind, name, number, unit = m.group(1).lower(), m.group(2), m.group(3), m.group(4).upper()
        value = _scaled(_number(number, item), unit, _MEM_BASE if kind == "mem" else 0)
        if kind in ("cpu", "mem", "node") and name is None:
            found[kind] = value
        elif kind == "gres" and name is not None and name.lower() == "gpu":
            found["gpu"] = value
        elif kind == "gres" and name is not None and name.lower().startswith("gpu:"):
            types[name.split(":", 1)[1]] = value
        elif (kind in _UNPRICED or kind == "gres") and value == 0:
            continue
        else:
            raise InvalidRequest(
                f"the gateway cannot price TRES {m.group(1)}{'/' + name if name else ''} "
                "(it counts CPUs, memory, nodes and GPUs)"
            )
    return Weights(
        cpu=found["cpu"],
        mem_per_gb=found["mem"] * MB_PER_GB,
        node=found["node"],
        gpu=found["gpu"],
        gpu_types=tuple(sorted(types.items())),
    )


def _number(text: str, item: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidRequest(f"{item.strip()!r}: {text!r} is not a number") from exc
    if not value.is_finite() or value < 0:
        raise InvalidRequest(f"{item.strip()!r}: a weight is a finite number, 0 or more")
    return value


def _scaled(value: Decimal, unit: str, base: int) -> Decimal:
    """Slurm's unit rule: divide by 1024 per step of ``unit`` above the TRES's base unit."""
    steps = (_UNITS.index(unit) + 1 - base) if unit else 0
    return value / (Decimal(1024) ** steps) if steps > 0 else value


__all__ = ["BillingRule", "Tres", "Weights", "billing", "parse_weights"]
