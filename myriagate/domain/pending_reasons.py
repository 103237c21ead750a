"""Slurm's reasons for a waiting job (squeue ``%r``, sacct ``Reason``) in plain words (pure).

The codes are Slurm's ``job_reason_string`` names (``src/common/slurm_protocol_defs.c``,
22.05 to 25.11) and the man page's JOB REASON CODES. Each maps to a stable ``code`` of ours and
an English message (the catalogs translate it). The many limit codes are matched by family
(``AssocGrp*``, ``QOSMax*PerJob*``…) rather than one by one; a reason no rule knows is shown
as Slurm wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ReasonWords:
    """One reason: our stable code, the plain words, and what to do about it (or None)."""

    code: str
    msgid: str
    hint: str | None = None


WAITING_FOR_RESOURCES = ReasonWords("resources", "waiting for resources")
WAITING_FOR_PRIORITY = ReasonWords("priority", "waiting for higher-priority jobs")
WAITING_FOR_SCHEDULER = ReasonWords("scheduling", "waiting for the scheduler")
PROJECT_LIMIT = ReasonWords(
    "project_limit",
    "waiting: your project's limit is reached",
    "it starts when the project's running jobs leave room, or when the limit is raised",
)
PROJECT_BUDGET = ReasonWords(
    "project_budget",
    "waiting: your project's limit is reached (its computing-time budget is used up)",
    "ask your project lead to raise the project's limit",
)
USER_LIMIT = ReasonWords(
    "user_limit",
    "waiting: you have reached your own limit of jobs or resources at once",
    "it starts when some of your other jobs end",
)
JOB_OVER_LIMIT = ReasonWords(
    "over_job_limit",
    "blocked: it asks for more than one job may use",
    "it will not start: cancel it and submit it again asking for less",
)
NODES_UNAVAILABLE = ReasonWords(
    "nodes_unavailable", "waiting: the nodes it needs are unavailable (down, drained or reserved)"
)
HELD_BY_ADMIN = ReasonWords("held_by_admin", "held by an administrator", "ask the cluster's administrators")
SHORTER_TIME = "cancel it and submit it again with a shorter time limit (-t)"

# Exact codes (and the few free-text reasons slurmctld writes instead of a code).
EXACT: dict[str, ReasonWords] = {
    "Resources": WAITING_FOR_RESOURCES,
    "Priority": WAITING_FOR_PRIORITY,
    "None": WAITING_FOR_SCHEDULER,
    "WaitingForScheduling": WAITING_FOR_SCHEDULER,
    "Dependency": ReasonWords("dependency", "waiting for the jobs it depends on"),
    "DependencyNeverSatisfied": ReasonWords(
        "dependency_never_satisfied",
        "blocked: a job it depends on did not end as required, so it can never start",
        "cancel it, or submit it again with another dependency",
    ),
    "BeginTime": ReasonWords("begin_time", "waiting for its start time (--begin)"),
    "JobHeldUser": ReasonWords(
        "held_by_user", "held by its owner", "release it on the cluster (scontrol release)"
    ),
    "JobHeldAdmin": HELD_BY_ADMIN,
    "JobHoldMaxRequeue": ReasonWords(
        "held_by_admin", "held: it was requeued too many times", "ask the cluster's administrators"
    ),
    "launch failed requeued held": ReasonWords(
        "held_by_admin", "held after a failed launch", "ask the cluster's administrators"
    ),
    "NodeDown": ReasonWords("nodes_unavailable", "waiting: a node it needs is down"),
    "FrontEndDown": NODES_UNAVAILABLE,
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions": (
        NODES_UNAVAILABLE
    ),
    "PartitionDown": ReasonWords("partition_down", "waiting: its partition is down"),
    "PartitionInactive": ReasonWords("partition_down", "waiting: its partition is inactive"),
    "Reservation": ReasonWords("reservation", "waiting for its reservation to start"),
    "Licenses": ReasonWords("licenses", "waiting for licences"),
    "QOSMaxWallDurationPerJobLimit": ReasonWords(
        "over_job_limit", "blocked: its time limit is longer than its QOS allows", SHORTER_TIME
    ),
    "AssocMaxWallDurationPerJobLimit": ReasonWords(
        "over_job_limit", "blocked: its time limit is longer than its project allows", SHORTER_TIME
    ),
    "PartitionTimeLimit": ReasonWords(
        "over_job_limit", "blocked: its time limit is longer than its partition allows", SHORTER_TIME
    ),
    "PartitionNodeLimit": ReasonWords(
        "over_job_limit",
        "blocked: it asks for more nodes than its partition allows",
        "cancel it and submit it again asking for fewer nodes",
    ),
    "BadConstraints": ReasonWords(
        "bad_constraints",
        "blocked: no node matches its constraints",
        "cancel it and submit it again with other constraints",
    ),
    "Cleaning": ReasonWords("cleaning", "waiting: its previous run is still being cleaned up"),
    "Prolog": ReasonWords("prolog", "starting: the cluster is preparing its nodes"),
    "JobArrayTaskLimit": ReasonWords(
        "array_task_limit", "waiting: the array's limit of tasks running at once is reached"
    ),
    "InvalidAccount": ReasonWords(
        "invalid_account",
        "blocked: its project account is not valid on this cluster",
        "cancel it and submit it again with another project",
    ),
    "AccountNotAllowed": ReasonWords(
        "invalid_account",
        "blocked: its project account may not use this partition or QOS",
        "cancel it and submit it again with another project or partition",
    ),
    "InvalidQOS": ReasonWords(
        "invalid_qos", "blocked: its QOS is not valid", "cancel it and submit it again with another QOS"
    ),
    "QOSNotAllowed": ReasonWords(
        "invalid_qos",
        "blocked: its QOS is not allowed here",
        "cancel it and submit it again with another QOS",
    ),
    "SystemFailure": ReasonWords("system_failure", "waiting: the cluster had a system failure"),
    "AssociationJobLimit": PROJECT_LIMIT,
    "AssociationResourceLimit": PROJECT_LIMIT,
    "AssociationTimeLimit": PROJECT_LIMIT,
    "QOSJobLimit": PROJECT_LIMIT,
    "QOSResourceLimit": PROJECT_LIMIT,
    "QOSTimeLimit": PROJECT_LIMIT,
    "QOSUsageThreshold": PROJECT_LIMIT,
    "AssocMaxJobsLimit": USER_LIMIT,
    "AssocMaxSubmitJobLimit": USER_LIMIT,
}

# Families of limit codes, checked in order after the exact codes. A group limit over
# minutes (not "RunMinutes") is a budget: waiting for other jobs to end does not help.
FAMILIES: tuple[tuple[re.Pattern[str], ReasonWords], ...] = (
    (re.compile(r"^ReqNodeNotAvail\b"), NODES_UNAVAILABLE),  # ", UnavailableNodes:vm[1-2]" may follow
    (re.compile(r"^(?:Assoc|QOS)Grp\w*(?<!Run)Minutes(?:Limit)?\Z"), PROJECT_BUDGET),
    (re.compile(r"^(?:Assoc|QOS)Grp\w+\Z"), PROJECT_LIMIT),
    (re.compile(r"^Max\w+PerAccount\Z"), PROJECT_LIMIT),
    (re.compile(r"^(?:Assoc|QOS)Max\w*PerUser\w*\Z"), USER_LIMIT),
    (re.compile(r"^(?:Assoc|QOS)Max\w*Per(?:Job|Node)\w*\Z"), JOB_OVER_LIMIT),
    (re.compile(r"^QOSMin\w+\Z"), JOB_OVER_LIMIT),
)


def words_for(reason: str) -> ReasonWords | None:
    """The plain words for Slurm's ``reason``, or None when no rule knows it."""
    text = reason.strip()
    found = EXACT.get(text)
    if found is not None:
        return found
    return next((words for pattern, words in FAMILIES if pattern.search(text)), None)


def all_words() -> tuple[ReasonWords, ...]:
    """Every ReasonWords of the tables, once (for the catalogs' completeness test)."""
    seen = dict.fromkeys([*EXACT.values(), *(words for _, words in FAMILIES)])
    return tuple(seen)
