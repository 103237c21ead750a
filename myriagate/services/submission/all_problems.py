"""Every independent problem of a submission at once, not one per attempt.

A researcher's trial (bob, in English): a memory size sbatch cannot read hid a time limit over
the partition's maximum and an absolute result pattern; each showed only once the one before
was fixed. The option readers (``sbatch_options.merge``) and the profile checks
(``profiles.validation``) each report all their own problems, but the profile checks ran only
once every option could be read, and the staging checks only once the job was valid.

Here, when options cannot be read, the profile checks run again with those options left out,
and only the problems that cannot come from leaving them out are added: none when the
partition could not be read (another partition's limits would be checked); only the time,
account, licence and partition checks when an option of the job's shape (tasks, CPUs,
memory, GPUs, nodes) could not be read (its default would change what fits). The staging
checks run on an invalid job too, so a refused result pattern or endpoint is said (and
audited, as any refusal) with the rest. Nothing is weakened: the submission is refused as
before, with more of its problems named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from myriagate.domain import directives
from myriagate.domain.directives import Directive
from myriagate.errors import FieldError, InvalidRequest, NotFound, ResidencyViolation, joined
from myriagate.profiles import validation
from myriagate.profiles.models import ClusterProfile

# Options whose default, when the value written cannot be read, changes what fits a node.
SHAPE = frozenset({
    "nodes", "ntasks", "ntasks-per-node", "ntasks-per-socket", "ntasks-per-core", "ntasks-per-gpu",
    "cpus-per-task", "cpus-per-gpu", "mem", "mem-per-cpu", "mem-per-gpu", "gpus", "gpus-per-node",
    "gpus-per-task", "gpus-per-socket", "gres", "exclusive", "sockets-per-node", "cores-per-socket",
    "threads-per-core", "extra-node-info", "hint", "distribution", "array",
})  # fmt: skip
# Checks that read no option of the job's shape.
SHAPELESS_FIELDS = frozenset({"time", "time-min", "account", "partition", "licenses"})


def _name(part: object) -> str:
    return str(part).strip().lstrip("-").replace("_", "-")


def _unread(exc: InvalidRequest, found: Sequence[Directive]) -> tuple[set[int], set[str]]:
    """The script lines and the override names ``exc`` refused."""
    lines = {int(f.loc[1]) for f in exc.fields if len(f.loc) == 2 and f.loc[0] == "script"}
    names = {_name(f.loc[0]) for f in exc.fields if len(f.loc) == 1}
    return lines, names


def _independent(field: FieldError, dropped: set[str]) -> bool:
    """Whether ``field`` is a problem whatever the options left out were meant to be."""
    name = _name(field.loc[0]) if field.loc else ""
    if name in dropped or (name == "time-min" and "time" in dropped):
        return False
    return name in SHAPELESS_FIELDS or not dropped & SHAPE


def with_profile_problems(
    exc: InvalidRequest,
    *,
    profile: ClusterProfile,
    found: Sequence[Directive],
    overrides: Mapping[str, str | bool],
    accounts: Sequence[str],
) -> InvalidRequest:
    """``exc`` (options that cannot be read) with the profile's problems of the other options."""
    lines, names = _unread(exc, found)
    dropped = {d.option for d in found if d.line_no in lines} | names
    if "partition" in dropped or (not lines and not names):
        return exc
    kept = [d for d in found if d.line_no not in lines]
    rest = {key: value for key, value in overrides.items() if _name(key) not in names}
    try:
        validation.check_job(profile, directives.merge(kept, rest), allowed_accounts=accounts)
    except InvalidRequest as more:
        return combined(exc, [f for f in more.fields if _independent(f, dropped)])
    return exc


def with_staging_problems(exc: InvalidRequest, check: Callable[[], object]) -> InvalidRequest:
    """``exc`` with the problems of the submission's staging request, checked by ``check``
    (``staging.plan.check``, which audits a refusal); a missing upload or dataset is left to
    the next attempt (its 404 is not a field of the form)."""
    try:
        check()
    except ResidencyViolation as refused:
        fields = refused.fields or (FieldError(("staging", "store"), refused.detail),)
        return combined(exc, fields)
    except NotFound:
        return exc
    except InvalidRequest as more:
        return combined(exc, more.fields)
    return exc


def combined(exc: InvalidRequest, more: Sequence[FieldError]) -> InvalidRequest:
    """``exc`` (the same error: class, code, audited value) with ``more`` field problems
    appended to its own."""
    new = [f for f in more if f not in exc.fields]
    if new:
        exc.detail = joined([exc.detail, *(f.message for f in new)])
        exc.fields = (*exc.fields, *new)
        exc.args = (exc.detail,)
    return exc
