"""Gauges read from the database at scrape time: jobs by cluster and state, ledger totals.

Several API processes and workers share one database, so an in-process counter would only
know its own process's share: these values come from the database itself, one GROUP BY
query each, when Prometheus scrapes. The collector is given a ``read`` function (built by the
web layer over a service query) so this module imports nothing of ours but the state names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from myriagate.domain.states import JobState

log = structlog.get_logger(__name__)

LEDGER_KINDS = ("granted", "held", "charged")


@dataclass(frozen=True)
class LedgerTotals:
    """Sums over every allocation of a cluster (all periods), in integer seconds."""

    granted_core_seconds: int = 0
    held_core_seconds: int = 0
    charged_core_seconds: int = 0
    granted_gpu_seconds: int = 0
    held_gpu_seconds: int = 0
    charged_gpu_seconds: int = 0


@dataclass(frozen=True)
class DatabaseGauges:
    """One reading of the database: job counts by (cluster, state) and ledger totals by cluster."""

    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    ledger: dict[str, LedgerTotals] = field(default_factory=dict)


class DatabaseCollector(Collector):
    """A prometheus_client collector calling ``read()`` at every scrape.

    Every state of every known cluster is reported, zero included, so a series does not vanish
    when its last job moves on. A failed read is logged and reported as
    ``myriagate_database_scrape_success 0`` instead of failing the whole scrape.
    """

    def __init__(self, read: Callable[[], DatabaseGauges], clusters: Iterable[str]) -> None:
        self._read = read
        self._clusters: Sequence[str] = tuple(clusters)

    def describe(self) -> Iterable[Metric]:
        # Nothing at registration: describing would otherwise query the database.
        return []

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            gauges = self._read()
        except Exception:
            log.exception("metrics.database_read_failed")
            gauges = None
        elapsed = time.perf_counter() - started
        success = GaugeMetricFamily(
            "myriagate_database_scrape_success", "1 when the database gauges could be read, else 0."
        )
        success.add_metric([], 0.0 if gauges is None else 1.0)
        duration = GaugeMetricFamily(
            "myriagate_database_scrape_duration_seconds", "Time the database gauges took to read."
        )
        duration.add_metric([], elapsed)
        yield success
        yield duration
        if gauges is None:
            return
        yield self._jobs(gauges)
        yield from self._ledger(gauges)

    def _jobs(self, gauges: DatabaseGauges) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "myriagate_jobs",
            "Gateway jobs by cluster and state (from the database).",
            labels=["cluster", "state"],
        )
        clusters = sorted({*self._clusters, *(cluster for cluster, _ in gauges.jobs)})
        states = [s.value for s in JobState]
        states += sorted({state for _, state in gauges.jobs} - set(states))
        for cluster in clusters:
            for state in states:
                family.add_metric([cluster, state], float(gauges.jobs.get((cluster, state), 0)))
        return family

    def _ledger(self, gauges: DatabaseGauges) -> Iterator[GaugeMetricFamily]:
        clusters = sorted({*self._clusters, *gauges.ledger})
        for unit in ("core", "gpu"):
            family = GaugeMetricFamily(
                f"myriagate_ledger_{unit}_seconds",
                f"Ledger totals in {unit}-seconds over every allocation of a cluster, by kind "
                "(granted, held, charged; from the database).",
                labels=["cluster", "kind"],
            )
            for cluster in clusters:
                totals = gauges.ledger.get(cluster, LedgerTotals())
                for kind in LEDGER_KINDS:
                    family.add_metric([cluster, kind], float(getattr(totals, f"{kind}_{unit}_seconds")))
            yield family
