"""``--dependency`` between gateway jobs: what the expression means once its jobs are known.

The submission service finds the jobs an expression names (``services.submission.dependencies``)
and this module decides, for each, what goes to sbatch:

- a job Slurm knows and that has not ended in the gateway: its Slurm id (Slurm waits for it);
- a job that has ended: the gateway already knows whether the condition holds. Satisfied
  clauses are dropped, and an expression that can never be satisfied is refused (at
  submission) or ends the waiting job (later). Slurm 22.05 takes a dependency on a job it has
  already purged (``MinJobAge``) as satisfied, so passing the old id would run a job after a
  failure; the gateway's record decides instead;
- a job that has no Slurm id yet (still staging its inputs, or submitting): the dependent job
  waits in the gateway. Its ``--dependency=`` argv element then names that job by its full
  gateway id, which is how a waiting job is recognised (no extra column; it survives a
  restart), and ``release_waiting`` (each tracking tick) sends it once every job it names has
  a Slurm id, writing Slurm's ids into the argv first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from myriagate.domain.sbatch_options.dependency import Clause, Dependency, JobRef
from myriagate.domain.states import JobState
from myriagate.errors import Text

ARG = "--dependency="
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


class Dependee(Protocol):
    """What the decision reads of a job named by a dependency (a ``db.models.Job``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def state(self) -> JobState: ...
    @property
    def slurm_job_id(self) -> str | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def reason(self) -> str | None: ...


class _Met(Enum):
    YES = "yes"
    NEVER = "never"


@dataclass(frozen=True)
class Outcome:
    """What to do with a dependency now.

    ``value`` is the ``--dependency`` text to send (None: nothing left to wait for);
    ``waiting_on`` the jobs without a Slurm id yet (then ``value`` names them by gateway id
    and the job must wait); ``never`` says why the expression can never be satisfied.
    """

    value: str | None
    waiting_on: tuple[Dependee, ...] = ()
    never: str | None = None


# A job named in the expression, or None for a Slurm id the gateway does not track (sent as is).
DependeeOf = Callable[[JobRef], Dependee | None]


def evaluate(dependency: Dependency, dependee_of: DependeeOf) -> Outcome:
    """Decide ``dependency`` with what the gateway knows of the jobs it names."""
    kept: list[str] = []
    waiting: list[Dependee] = []
    never: list[str] = []
    for clause in dependency.clauses:
        met, text, clause_waiting = _clause(clause, dependee_of)
        if met is _Met.YES and dependency.any_of:
            return Outcome(None)  # one satisfied alternative is enough
        if met is _Met.NEVER:
            never.append(text)
        elif met is None:
            kept.append(text)
            waiting.extend(clause_waiting)
    if never and (not dependency.any_of or not kept):
        return Outcome(None, never="; ".join(never))
    if not kept:
        return Outcome(None)
    return Outcome(("?" if dependency.any_of else ",").join(kept), tuple(waiting))


def _clause(clause: Clause, dependee_of: DependeeOf) -> tuple[_Met | None, str, list[Dependee]]:
    """(YES / NEVER / None when still open, the clause's text or why it fails, jobs waited for)."""
    if clause.type == "singleton":
        return None, "singleton", []
    refs: list[str] = []
    waiting: list[Dependee] = []
    for ref in clause.jobs:
        job = dependee_of(ref)
        met = _ref_met(clause.type, ref, job)
        if met is _Met.NEVER:
            assert job is not None
            return _Met.NEVER, _never(clause.type, ref, job), []
        if met is _Met.YES:
            continue
        if job is None or ref.is_slurm_id:
            text = ref.text  # a Slurm id as written (an array task such as 123_4 stays one)
        elif job.slurm_job_id is not None:
            text = job.slurm_job_id
        else:
            text = str(job.id)
            waiting.append(job)
        refs.append(text + (f"+{ref.minutes}" if ref.minutes is not None else ""))
    if not refs:
        return _Met.YES, "", []
    return None, ":".join([clause.type, *refs]), waiting


def _ref_met(kind: str, ref: JobRef, job: Dependee | None) -> _Met | None:
    """Whether one job already satisfies (or can never satisfy) its clause; None: not yet known."""
    if job is None or not job.state.is_final:
        return None
    ok = job.state is JobState.COMPLETED
    if kind == "afterany":
        return _Met.YES
    if kind == "after":
        started = job.started_at is not None or job.state is JobState.CANCELLED
        return _Met.YES if started else _Met.NEVER
    task = "_" in ref.text  # one array task: the job's overall end says only "all succeeded"
    if kind in ("afterok", "aftercorr"):
        return _Met.YES if ok else (None if task else _Met.NEVER)
    if kind == "afternotok":
        return _Met.NEVER if ok else (None if task else _Met.YES)
    return None


def _never(kind: str, ref: JobRef, job: Dependee) -> str:
    """Why a clause can never be satisfied, one whole message per case: it is stored as the
    job's reason and said again on French pages (web/stored_text.py)."""
    values = {"clause": f"{kind}:{ref.text}", "job": job.id, "how": job.state.value.replace("_", " ")}
    reached = job.slurm_job_id is not None
    if job.reason and job.state is not JobState.COMPLETED:
        if reached:
            return Text("%(clause)s can never be satisfied: job %(job)s ended %(how)s (%(why)s)",
                        why=job.reason, **values)  # fmt: skip
        return Text(
            "%(clause)s can never be satisfied: job %(job)s ended %(how)s before reaching Slurm (%(why)s)",
            why=job.reason, **values,
        )  # fmt: skip
    if reached:
        return Text("%(clause)s can never be satisfied: job %(job)s ended %(how)s", **values)
    return Text(
        "%(clause)s can never be satisfied: job %(job)s ended %(how)s before reaching Slurm", **values
    )


def dependency_arg(sbatch_args: Sequence[str]) -> str | None:
    """The ``--dependency`` value of an sbatch argv, or None."""
    return next((a.removeprefix(ARG) for a in sbatch_args if a.startswith(ARG)), None)


def with_dependency(sbatch_args: Sequence[str], value: str | None) -> list[str]:
    """``sbatch_args`` with the ``--dependency`` element set to ``value`` (dropped for None)."""
    out = [a for a in sbatch_args if not a.startswith(ARG)]
    if value is None:
        return out
    at = next((i for i, a in enumerate(sbatch_args) if a.startswith(ARG)), len(out))
    return [*out[:at], ARG + value, *out[at:]]


def is_gateway_ref(text: str) -> bool:
    """A full gateway id, as a waiting job's argv names a job without a Slurm id yet."""
    return bool(_UUID.match(text))


def is_waiting(sbatch_args: Sequence[str]) -> bool:
    """Whether a job's argv still names a job by gateway id: it must not reach sbatch yet."""
    value = dependency_arg(sbatch_args)
    if value is None:
        return False
    return any(is_gateway_ref(word.partition("+")[0]) for word in re.split(r"[,?:]", value))


def waiting_reason(waiting_on: Sequence[Dependee]) -> str:
    """What a waiting job's ``reason`` says."""
    names = ", ".join(f"{j.id} ({j.state.value.replace('_', ' ')})" for j in waiting_on)
    return f"waiting for job {names} to reach Slurm (--dependency)"
