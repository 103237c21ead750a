"""Every in-process metric of the gateway, defined once (the usual prometheus_client pattern).

They register in prometheus_client's default registry when this module is imported. With
``PROMETHEUS_MULTIPROC_DIR`` set *before the process starts* (prometheus_client reads it when
it is first imported), their values live in files of that directory, shared by every process
that writes there (uvicorn workers): see ``exposition``.

Labels are closed sets on purpose (a route template, a command name from a known list, a
status class): a raw path or a job id would create a new time series per request.
Gauges derived from the database (jobs by state, ledger totals) are not here: several API
processes share one database, so they are read from it at scrape time (``database``).
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Histogram

# Request latencies: a few ms (a job page) to seconds (a submission waiting for sbatch).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A Slurm command: milliseconds locally or over a pooled SSH channel (docs/performance.md), up to
# its 60 s timeout.
_COMMAND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A poll tick: one squeue (+ sacct) and a few SQL statements, or a stalled cluster.
_TICK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# A transfer call: one small input file to a whole results tree.
_TRANSFER_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
# Bytes per second of one transfer call: 100 kB/s (a stalled link) to 1 GB/s.
_RATE_BUCKETS = (1e5, 1e6, 1e7, 2.5e7, 5e7, 1e8, 2e8, 5e8, 1e9)

HTTP_REQUEST_SECONDS = Histogram(
    "myriagate_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status class.",
    ["route", "method", "status_class"],
    buckets=_LATENCY_BUCKETS,
)
SUBMISSION_SECONDS = Histogram(
    "myriagate_job_submission_duration_seconds",
    "Time to answer a job submission (API or web form), by interface and HTTP status.",
    ["interface", "status"],
    buckets=_LATENCY_BUCKETS,
)
SLURM_COMMAND_SECONDS = Histogram(
    "myriagate_slurm_command_duration_seconds",
    "Time a Slurm command took on a cluster (successful or not), by cluster and command.",
    ["cluster", "command"],
    buckets=_COMMAND_BUCKETS,
)
SLURM_COMMAND_ERRORS = Counter(
    "myriagate_slurm_command_errors_total",
    "Slurm commands that failed: a non-zero exit status or an error raised by the runner.",
    ["cluster", "command", "error"],
)
POLL_TICK_SECONDS = Histogram(
    "myriagate_poll_tick_duration_seconds",
    "Time of one worker poll tick of a cluster (reconcile, then squeue/sacct; not settlement).",
    ["cluster", "outcome"],
    buckets=_TICK_BUCKETS,
)
JOBS_VANISHED = Counter(
    "myriagate_jobs_vanished_total",
    "Jobs neither squeue nor sacct knew for MYRIAGATE_VANISHED_JOB_RELEASE_S: ended failed, hold released.",
    ["cluster"],
)
TRANSFER_BYTES = Counter(
    "myriagate_transfer_bytes_total",
    "Bytes moved by data staging, by direction (upload: to a host; download: from it) and host.",
    ["direction", "host"],
)
TRANSFER_SECONDS = Histogram(
    "myriagate_transfer_duration_seconds",
    "Time of one staging transfer call (several files), by direction and host.",
    ["direction", "host"],
    buckets=_TRANSFER_BUCKETS,
)
TRANSFER_RATE = Histogram(
    "myriagate_transfer_rate_bytes_per_second",
    "Throughput of each staging transfer call that moved bytes, by direction and host.",
    ["direction", "host"],
    buckets=_RATE_BUCKETS,
)
TRANSFER_ERRORS = Counter(
    "myriagate_transfer_errors_total",
    "Staging transfer calls that raised, by direction, host and error code.",
    ["direction", "host", "error"],
)

# Commands the gateway runs on clusters; anything else is counted as "other" so a label can
# never carry an argument, a path or a hostile string.
KNOWN_COMMANDS = frozenset(
    {"sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sacctmgr", "sshare", "tail", "printenv"}
)


# A job's output is read by ``find … -exec tail`` (slurm.commands.tail): still counted as tail.
_ALIASES = {"find": "tail"}


def command_label(argv0: str) -> str:
    """The ``command`` label of an argv's first element (``/usr/bin/sacct`` → ``sacct``)."""
    name = os.path.basename(argv0)
    name = _ALIASES.get(name, name)
    return name if name in KNOWN_COMMANDS else "other"


def status_class(status: int) -> str:
    """``2xx``, ``4xx``…: the ``status_class`` label of an HTTP status."""
    return f"{status // 100}xx"


def observe_tick(cluster: str, started: float, *, failed: bool) -> None:
    """Record a poll tick begun at ``started`` (``time.perf_counter()``)."""
    outcome = "error" if failed else "ok"
    POLL_TICK_SECONDS.labels(cluster, outcome).observe(time.perf_counter() - started)
