"""Plain-language words for job states and Slurm's pending reasons (English msgids; the
catalogs translate them). An unknown reason is shown as Slurm wrote it, never hidden."""

from __future__ import annotations

STATE_LABELS: dict[str, str] = {
    "staging_in": "copying input files",
    "submitting": "being submitted",
    "pending": "waiting",
    "running": "running",
    "suspended": "suspended",
    "staging_out": "copying results",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timeout": "time limit reached",
    "out_of_memory": "out of memory",
    "node_fail": "node failure",
    "preempted": "preempted",
    "boot_fail": "node failed to boot",
    "deadline": "deadline passed",
}

# Slurm's reason codes (squeue %r) as a person would say them.
REASONS: dict[str, str] = {
    "Priority": "waiting: other jobs have priority",
    "Resources": "waiting: resources are busy",
    "None": "waiting for the scheduler",
    "BeginTime": "waiting: start time not reached",
    "Dependency": "waiting: depends on another job",
    "DependencyNeverSatisfied": "blocked: its dependency can never be met",
    "JobHeldUser": "held by its owner",
    "JobHeldAdmin": "held by an administrator",
    "AssocGrpCPUMinutesLimit": "waiting: project limit reached",
    "AssocGrpBillingMinutes": "waiting: project limit reached",
    "AssocGrpCpuLimit": "waiting: project is using all its CPUs",
    "AssocGrpJobsLimit": "waiting: project has too many jobs running",
    "AssocGrpSubmitJobsLimit": "waiting: project submissions are paused",
    "AssocMaxJobsLimit": "waiting: you have too many jobs running",
    "QOSMaxJobsPerUserLimit": "waiting: you have too many jobs running",
    "PartitionTimeLimit": "blocked: time limit above the partition's maximum",
    "PartitionDown": "waiting: partition is down",
    "ReqNodeNotAvail": "waiting: requested nodes are unavailable",
    "NodeDown": "waiting: a node is down",
    "launch failed requeued held": "held after a failed launch",
}


def reason_text(reason: str | None) -> str | None:
    """The plain-language msgid of a reason, or None when Slurm's own words must be shown."""
    if not reason:
        return None
    return REASONS.get(reason.strip())


# Messages chosen at run time (error titles, ledger entry kinds, form messages): listed here so
# the catalogs carry them and the catalog test checks them like the templates' own.
RUNTIME_MESSAGES: tuple[str, ...] = (
    "Wrong username or password.",
    "Invalid request", "Invalid job request", "Not allowed on this cluster", "Unsafe value",
    "Not authenticated", "Permission denied", "CSRF check failed", "Not found", "Conflict",
    "Job cannot be cancelled", "Already exists", "Insufficient allocation", "Data residency violation",
    "Cluster error", "Slurm refused the request", "Cluster unavailable", "Submission outcome unknown",
    "Data transfer failed", "Checksum mismatch", "Configuration error", "Internal error",
    "Not Found", "Method Not Allowed", "Unprocessable Content", "Unprocessable Entity",
    "grant", "hold", "release", "charge", "adjustment",
)  # fmt: skip
