"""Why a job is waiting, or how it ended, in plain words: the one place the CLI, the API and
the pages take it from (pure; English msgids that the catalogs translate).

A waiting job is explained by Slurm's reason (``domain.pending_reasons``). An ended job by its
state and what accounting recorded: the exit code *or* the signal (a job killed by a signal,
cancelled or timed out has no meaningful exit code, and sacct prints ``0`` there), the memory
it used against what it asked for, who cancelled it, its time limit.

Out of memory is told two ways: Slurm's own ``OUT_OF_MEMORY`` state (the cgroup OOM
notifier), and, on clusters that enforce memory by polling (``JobAcctGatherParams=
OverMemoryKill``, no cgroups: the dev cluster), ``FAILED`` with signal 9 (or exit code 137,
a child killed by it; or, under load, exit code 9 and no signal) and a peak RSS near (past,
for exit code 9) the request; sacct has no other trace of it there (deploy/devcluster/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from myriagate.domain import pending_reasons, skipped_results
from myriagate.domain.skipped_results import SkippedFiles
from myriagate.domain.states import JobState

# A peak RSS at least this share of the request, with a SIGKILL, is taken for a memory kill:
# the polling gatherer kills a step once it sees it over its limit, so the recorded peak is
# at or past the request; 90 % leaves room for a peak sampled just before the kill.
OOM_SHARE = Decimal("0.9")
# Logins that cancel on the cluster's behalf (an operator's scancel, slurmctld itself).
ADMIN_LOGINS: frozenset[str] = frozenset({"root", "slurm"})

# Linux signal numbers (the cluster's, whatever the gateway host runs).
SIGNALS: dict[int, str] = dict(enumerate((
    "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
    "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
    "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
    "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
)))  # fmt: skip
SIGKILL = 9
# Ends whose exit code is the script's own (the others are Slurm's doing).
_OWN_ENDINGS = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.OUT_OF_MEMORY})


@dataclass(frozen=True)
class Memory:
    """A memory size, said in Slurm's (binary) units: ``--mem=1G`` is 1 GB here, as there."""

    size_bytes: int


@dataclass(frozen=True)
class Duration:
    """A length of time, said as ``10 min``, ``1 h 30 min``, ``2 d 4 h``."""

    seconds: int


Value = str | int | Memory | Duration | SkippedFiles


@dataclass(frozen=True)
class Phrase:
    """An English message (a catalog msgid) and the values of its ``%(name)s`` placeholders."""

    msgid: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def say(self, gettext: Callable[[str], str], number: Callable[[Decimal], str]) -> str:
        """This phrase in a language: ``gettext`` translates a msgid, ``number`` writes a
        decimal number (``1.2`` or ``1,2``). Untranslated, it is the English text."""
        filled = {name: _say_value(value, gettext, number) for name, value in self.values.items()}
        text = gettext(self.msgid)
        return text % filled if filled else text

    @property
    def english(self) -> str:
        return self.say(lambda msgid: msgid, str)


@dataclass(frozen=True)
class Explanation:
    """Why a job is where it is: a stable ``code`` (``resources``, ``out_of_memory``…), the
    words, what to do next when there is something to do, and Slurm's own word for it (its
    reason code or state) to show beside the words, or None when the words already hold it."""

    code: str
    text: Phrase
    hint: Phrase | None = None
    slurm_code: str | None = None


class JobFacts(Protocol):
    """What an explanation is made from (``services.jobs.queries.JobRecord`` has all of it)."""

    @property
    def state(self) -> JobState: ...
    @property
    def slurm_state(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def signal(self) -> int | None: ...
    @property
    def max_rss_bytes(self) -> int | None: ...
    @property
    def mem_requested_bytes(self) -> int | None: ...
    @property
    def time_limit_s(self) -> int | None: ...
    @property
    def cancelled_by(self) -> str | None: ...


def explain(job: JobFacts) -> Explanation | None:
    """Why ``job`` waits or how it ended; None for states the gateway itself explains
    (staging, submitting) and for a running job."""
    state = job.state
    if state is JobState.PENDING:
        return pending(job.reason)
    if state is JobState.SUSPENDED:
        return Explanation("suspended", Phrase("suspended by the cluster; it resumes later"))
    if not state.is_final:
        return None
    if state is JobState.COMPLETED:
        return _completed(job)
    if state is JobState.OUT_OF_MEMORY or _memory_killed(job):
        return _out_of_memory(job)
    if state is JobState.FAILED:
        return _failed(job)
    if state is JobState.TIMEOUT:
        return _timed_out(job)
    if state is JobState.CANCELLED:
        return _cancelled(job)
    return _ENDINGS[state]


def pending(reason: str | None) -> Explanation:
    """A waiting job's reason in plain words; a reason no rule knows is shown as written."""
    if reason is None or reason.strip() in ("", "None", "(null)"):
        words = pending_reasons.WAITING_FOR_SCHEDULER
        return Explanation(words.code, Phrase(words.msgid))
    found = pending_reasons.words_for(reason)
    if found is None:
        return Explanation("other", Phrase("waiting: %(reason)s", {"reason": reason.strip()}))
    hint = Phrase(found.hint) if found.hint else None
    return Explanation(found.code, Phrase(found.msgid), hint, slurm_code=reason.strip())


def exit_code_shown(state: JobState, exit_code: int | None, signal: int | None) -> int | None:
    """The exit code worth showing: the script's own, for a job that ended by itself
    (completed, failed, out of memory) and not by a signal. None for a job cancelled, timed
    out, preempted… or killed, for which sacct prints ``0`` as its exit code."""
    if state not in _OWN_ENDINGS or signal:
        return None
    return exit_code


def signal_phrase(signal: int) -> Phrase:
    """``killed by signal 9 (SIGKILL)``; a number Linux does not name is said alone."""
    name = SIGNALS.get(signal)
    if name:
        return Phrase("killed by signal %(signal)s (%(name)s)", {"signal": signal, "name": name})
    return Phrase("killed by signal %(signal)s", {"signal": signal})


def _memory_killed(job: JobFacts) -> bool:
    """FAILED by a SIGKILL (of the job, or of a program it ran: exit code 137) with a peak
    RSS near the request: the polling gatherer's memory kill, which sacct records as such."""
    if job.state is not JobState.FAILED:
        return False
    used, asked = job.max_rss_bytes, job.mem_requested_bytes
    if used is None or not asked:
        return False
    if job.signal == SIGKILL or (not job.signal and job.exit_code == 128 + SIGKILL):
        return Decimal(used) >= OOM_SHARE * Decimal(asked)
    # Under load, Slurm 22.05 has recorded that kill as exit code 9 with no signal (the dev
    # cluster, in CI): then only a peak past the request itself says the gatherer killed it.
    return not job.signal and job.exit_code == SIGKILL and used > asked


def _out_of_memory(job: JobFacts) -> Explanation:
    used, asked = job.max_rss_bytes, job.mem_requested_bytes
    hint = Phrase("submit it again asking for more memory (--mem)")
    slurm = job.slurm_state if job.state is JobState.OUT_OF_MEMORY else _signal_code(job)
    if used and asked:
        text = Phrase(
            "ran out of memory (used %(used)s of %(requested)s)",
            {"used": Memory(used), "requested": Memory(asked)},
        )
    elif asked:
        text = Phrase("ran out of memory (it asked for %(requested)s)", {"requested": Memory(asked)})
    else:
        text = Phrase("ran out of memory")
    return Explanation("out_of_memory", text, hint, slurm_code=slurm)


def _signal_code(job: JobFacts) -> str | None:
    """sacct's ``ExitCode`` as it printed it (``0:9``), to show beside the words."""
    if job.exit_code is None:
        return None
    return f"{job.exit_code}:{job.signal or 0}"


def _failed(job: JobFacts) -> Explanation:
    if job.signal:
        return Explanation("killed_by_signal", signal_phrase(job.signal), slurm_code=_signal_code(job))
    code = job.exit_code
    if code and code > 128 and SIGNALS.get(code - 128):
        # The shell reports a child killed by signal N as 128+N.
        values: dict[str, Value] = {"code": code, "signal": code - 128, "name": SIGNALS[code - 128]}
        text = Phrase(
            "failed with exit code %(code)s (a program it ran was killed by signal %(signal)s, %(name)s)",
            values,
        )
        return Explanation("exit_code", text)
    if code:
        return Explanation("exit_code", Phrase("failed with exit code %(code)s", {"code": code}))
    reason = (job.reason or "").strip()
    if NO_ASSOCIATION in reason:
        return Explanation("no_association", Phrase(_NO_ASSOCIATION_TEXT), Phrase(_NO_ASSOCIATION_HINT))
    if reason == "JobLaunchFailure":
        text = Phrase("failed: Slurm could not start it (for example, its output file could not be written)")
        return Explanation("launch_failed", text, slurm_code=reason)
    return Explanation("failed", Phrase("failed"), slurm_code=reason or job.slurm_state or None)


# sbatch's refusal of a login with no association in the account: a member the gateway added
# reaches Slurm only at the next ``admin slurm-sync`` (docs/allocations.md, "Members").
NO_ASSOCIATION = "Invalid account or account/partition combination"
_NO_ASSOCIATION_TEXT = (
    "refused by Slurm: your cluster login is not a user of the project's account on Slurm yet"
)
_NO_ASSOCIATION_HINT = (
    "a member just added can submit once the project's admins have brought Slurm's accounts up to "
    "date (myriagate admin slurm-sync): ask them, then submit it again"
)
_SKIPPED_HINT = (
    "%(n)s result file(s) not stored, as they cannot be stored safely: %(files)s. Links are never "
    "followed, only regular files are copied, and a name starting with '-' or holding a control "
    "character is refused: rename them, or copy them yourself"
)
_SKIPPED_MORE = "and %(n)s more"


def _completed(job: JobFacts) -> Explanation:
    """Done; with, when its stage-out left files behind (``skipped_results``), which ones."""
    done = Phrase("finished successfully (exit code 0)")
    skipped = skipped_results.from_reason(job.reason)
    if skipped is None:
        return Explanation("completed", done)
    return Explanation("completed", done, Phrase(_SKIPPED_HINT, {"n": skipped.count, "files": skipped}))


def _timed_out(job: JobFacts) -> Explanation:
    hint = Phrase("submit it again with a longer time limit (-t), or let it save its progress and resume")
    if job.time_limit_s:
        text = Phrase("reached its time limit (%(limit)s)", {"limit": Duration(job.time_limit_s)})
    else:
        text = Phrase("reached its time limit")
    return Explanation("timeout", text, hint)


def _cancelled(job: JobFacts) -> Explanation:
    who = job.cancelled_by
    if who in ADMIN_LOGINS:
        return Explanation("cancelled", Phrase("cancelled by a cluster administrator"))
    if who:
        return Explanation("cancelled", Phrase("cancelled by %(name)s", {"name": who}))
    return Explanation("cancelled", Phrase("cancelled"))


_ENDINGS: dict[JobState, Explanation] = {
    JobState.NODE_FAIL: Explanation(
        "node_fail", Phrase("stopped: a node it ran on failed"), Phrase("submit it again")
    ),
    JobState.PREEMPTED: Explanation(
        "preempted",
        Phrase("stopped: a higher-priority job took its place (preempted)"),
        Phrase("submit it again"),
    ),
    JobState.BOOT_FAIL: Explanation(
        "boot_fail", Phrase("never started: its node failed to boot"), Phrase("submit it again")
    ),
    JobState.DEADLINE: Explanation(
        "deadline", Phrase("cancelled: it could not end before its deadline (--deadline)")
    ),
}


# --- saying values ------------------------------------------------------------------------
_MEMORY_UNITS: tuple[tuple[int, str], ...] = (
    (1024**4, "%(n)s TB"), (1024**3, "%(n)s GB"), (1024**2, "%(n)s MB"), (1024, "%(n)s KB"),
)  # fmt: skip


def _say_value(value: Value, gettext: Callable[[str], str], number: Callable[[Decimal], str]) -> str:
    if isinstance(value, Memory):
        return _say_memory(value.size_bytes, gettext, number)
    if isinstance(value, Duration):
        return _say_duration(value.seconds, gettext)
    if isinstance(value, SkippedFiles):
        kinds = ((kind, gettext(words)) for kind, words in skipped_results.KIND_WORDS.items())
        return skipped_results.say(value, kinds, gettext(_SKIPPED_MORE))
    return str(value)


def _say_memory(size: int, gettext: Callable[[str], str], number: Callable[[Decimal], str]) -> str:
    """``1288490189`` -> ``1.2 GB``, ``324435968`` -> ``309 MB``: one decimal below 10 of a
    unit (none when it is ``.0``), whole numbers from 10 up."""
    for unit, msgid in _MEMORY_UNITS:
        if size >= unit:
            amount = Decimal(size) / unit
            amount = amount.quantize(Decimal("0.1") if amount < 10 else Decimal(1))
            amount = amount.quantize(Decimal(1)) if amount == amount.to_integral() else amount
            return gettext(msgid) % {"n": number(amount)}
    return gettext("%(n)s B") % {"n": size}


def _say_duration(seconds: int, gettext: Callable[[str], str]) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return gettext("%(d)s d %(h)s h") % {"d": days, "h": hrs} if hrs else gettext("%(d)s d") % {"d": days}
    if hours:
        return (
            gettext("%(h)s h %(m)s min") % {"h": hours, "m": mins}
            if mins
            else gettext("%(h)s h") % {"h": hours}
        )
    if minutes:
        return gettext("%(m)s min") % {"m": minutes}
    return gettext("%(s)s s") % {"s": secs}


def messages() -> tuple[str, ...]:
    """Every msgid this module and ``pending_reasons`` may say (for the catalogs' test)."""
    words = pending_reasons.all_words()
    ended = [e.text.msgid for e in _ENDINGS.values()] + [e.hint.msgid for e in _ENDINGS.values() if e.hint]
    return tuple(dict.fromkeys([
        *(w.msgid for w in words), *(w.hint for w in words if w.hint), *ended, *_MESSAGES,
        *(msgid for _, msgid in _MEMORY_UNITS), _SKIPPED_HINT, _SKIPPED_MORE,
        _NO_ASSOCIATION_TEXT, _NO_ASSOCIATION_HINT,
        *skipped_results.KIND_WORDS.values(),
    ]))  # fmt: skip


_MESSAGES: tuple[str, ...] = (
    "waiting: %(reason)s", "suspended by the cluster; it resumes later",
    "finished successfully (exit code 0)",
    "killed by signal %(signal)s (%(name)s)", "killed by signal %(signal)s",
    "submit it again asking for more memory (--mem)", "ran out of memory (used %(used)s of %(requested)s)",
    "ran out of memory (it asked for %(requested)s)", "ran out of memory",
    "failed with exit code %(code)s (a program it ran was killed by signal %(signal)s, %(name)s)",
    "failed with exit code %(code)s",
    "failed: Slurm could not start it (for example, its output file could not be written)", "failed",
    "submit it again with a longer time limit (-t), or let it save its progress and resume",
    "reached its time limit (%(limit)s)", "reached its time limit", "cancelled by a cluster administrator",
    "cancelled by %(name)s", "cancelled", "%(n)s B", "%(d)s d %(h)s h", "%(d)s d", "%(h)s h %(m)s min",
    "%(h)s h", "%(m)s min", "%(s)s s",
)  # fmt: skip
