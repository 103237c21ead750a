"""Plain-language words for job states and Slurm's pending reasons (English msgids; the
catalogs translate them). An unknown reason is shown as Slurm wrote it, never hidden."""

from __future__ import annotations

from dataclasses import dataclass, field

from myriagate.domain import pending_reasons
from myriagate.web.i18n import Translator
from myriagate.web.stored_text import WORKER_REASONS

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

# Slurm's reason codes (squeue %r) as a person would say them: the one table of
# domain.pending_reasons, which the job's explanation (API, CLI, job page) uses too.
REASONS: dict[str, str] = {code: words.msgid for code, words in pending_reasons.EXACT.items()}


def reason_text(reason: str | None) -> str | None:
    """The plain-language msgid of a reason, or None when Slurm's own words must be shown."""
    if not reason:
        return None
    found = pending_reasons.words_for(reason)
    return found.msgid if found is not None else None


# What the two staging states mean, for the timeline (docs/staging.md).
STATE_EXPLANATIONS: dict[str, str] = {
    "staging_in": "the job's own directory is being prepared on the cluster and its input files, "
    "if any, copied and their checksums checked; the job goes to Slurm once they are all in place",
    "staging_out": "the job has finished; its result files are being copied to the storage "
    "endpoint and their checksums checked",
}

# The staging worker's reasons as patterns (web/stored_text.py): the named groups fill the
# message's placeholders. The job's own words follow in the detail.
_STAGING_REASONS = WORKER_REASONS
STAGING_MESSAGES: tuple[str, ...] = tuple(STATE_EXPLANATIONS.values()) + tuple(m for _, m in _STAGING_REASONS)


@dataclass(frozen=True)
class Words:
    """A reason as a message to translate (``msgid`` % ``values``); ``code`` is Slurm's own
    reason code, shown beside it (None when the message already carries every word)."""

    msgid: str
    values: dict[str, str] = field(default_factory=dict)
    code: str | None = None


def reason_words(reason: str | None) -> Words | None:
    """A job's reason in plain words, or None when it must be shown as it was written."""
    if not reason:
        return None
    slurm = reason_text(reason)
    if slurm is not None:
        return Words(slurm, code=reason)
    for pattern, msgid in _STAGING_REASONS:
        found = pattern.fullmatch(reason.strip())
        if found is not None:
            return Words(msgid, found.groupdict())
    return None


def said_words(words: Words | None, t: Translator) -> Words | None:
    """``words`` with the values it quotes (a staging failure's detail: an adapter's message)
    said in ``t``'s language too, when the gateway said them (web/stored_text.py)."""
    if words is None or not words.values:
        return words
    return Words(words.msgid, {name: t.stored(value) for name, value in words.values.items()}, words.code)


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
    "%(time)s of CPU time", "%(time)s of GPU time",  # web.i18n.Translator.core_time
)  # fmt: skip
