"""Options from the script, then from the command line / form / API, into one JobSpec.

sbatch's rules: within one source a later option replaces an earlier one; the command line
wins over the script. Options of one family (``--mem`` / ``--mem-per-cpu`` /
``--mem-per-gpu``, ``--requeue`` / ``--no-requeue``, ``--cpus-per-task`` / ``--cpus-per-gpu``)
replace each other as a whole: an override of one drops the script's other. Within one source,
two memory options or both CPU options are an error (as in sbatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from myriagate.domain import values
from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.domain.sbatch_options import lookup, table
from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.errors import FieldError, InvalidRequest, JobSpecInvalid, Text, UnsafeValue, joined

FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"mem", "mem-per-cpu", "mem-per-gpu"}),
    frozenset({"requeue", "no-requeue"}),
    frozenset({"cpus-per-task", "cpus-per-gpu"}),
)
# The longest value an option may have. Every value travels in the one command line the login's
# shell runs over SSH, which the kernel caps at 128 KiB (MAX_ARG_STRLEN): a --mail-type,
# --export, --licenses or --array list past it failed as an uncertain submission, retried.
# 16 KiB holds 256 --dependency ids in full; the few options without a shorter bound of their
# own stay well under 128 KiB together.
MAX_VALUE_LENGTH = 16384
# Kinds whose value is free text sbatch takes as written (a name, a path), any digits included.
_FREE_TEXT = frozenset({"job_name", "file", "chdir"})
# Families sbatch refuses to see twice in one source (the others: the last one wins).
_EXCLUSIVE_WITHIN_SOURCE = (FAMILIES[0], FAMILIES[2])


class ScriptOption(Protocol):
    @property
    def option(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def line_no(self) -> int: ...


# option -> (value as written, where the error points, how the message names it, source)
Chosen = dict[str, tuple[str, tuple[str | int, ...], str, str]]


def merge(
    directives: Iterable[ScriptOption],
    overrides: Mapping[str, str | int | bool | None] | None = None,
    *,
    home: str | None = None,
) -> JobSpec:
    """A validated JobSpec: script directives, then overrides (the form or command line) win.

    ``home`` is the user's home directory on the cluster: an absolute ``--chdir`` must lie
    under it, and ``~`` / ``~/x`` are expanded to it. Override keys are option names
    (``time``, ``cpus-per-task``; underscores and leading dashes are accepted); a value of
    None (or False for a flag) leaves the script's value in place.
    """
    problems: list[FieldError] = []
    chosen: Chosen = {}
    for d in directives:
        where: str = Text("line %(line)s: --%(option)s", line=d.line_no, option=d.option)
        _choose(chosen, d.option, d.value, ("script", d.line_no), where, "script", problems)
    for key, raw in (overrides or {}).items():
        _override(chosen, key, raw, problems)
    fields: dict[str, object] = {}
    unsafe = False
    context = ReadContext(home=home)
    for option, (value, loc, where, _) in chosen.items():
        spec = table.BY_NAME[option]
        assert spec.kind is not None and spec.field is not None  # accepted options have both
        if (problem := _unreadable(spec.kind.name, value)) is not None:
            problems.append(FieldError(loc, Text("%(where)s: %(problem)s", where=where, problem=problem)))
            continue
        try:
            fields[spec.field] = _stored(spec.field, spec.kind.read(value, context))
        except InvalidRequest as exc:
            unsafe = unsafe or isinstance(exc, UnsafeValue)
            problems.append(FieldError(loc, Text("%(where)s: %(problem)s", where=where, problem=exc.detail)))
    if problems:
        cls = UnsafeValue if unsafe else JobSpecInvalid
        raise cls(joined([p.message for p in problems]), fields=problems)
    return JobSpec.model_validate(fields)


def _unreadable(kind: str, value: str) -> str | None:
    """Why sbatch could not be given ``value`` at all, before its reader looks at it."""
    if len(value) > MAX_VALUE_LENGTH:
        return Text("%(length)s characters; at most %(max)s", length=len(value), max=MAX_VALUE_LENGTH)
    # Only names and paths are free text. Elsewhere the readers' \d, int(), upper() and
    # IGNORECASE take other scripts' digits (٤, ４) and letters that fold to ASCII (the Kelvin
    # sign K, the long s ſ), which sbatch reads otherwise or refuses: --switches=1@1０ waited
    # 1 minute, and --mem=1024K (Kelvin) crashed the memory reader.
    if kind not in _FREE_TEXT and not value.isascii():
        shown = value if len(value) <= 40 else value[:40] + "…"
        return Text("%(value)s: write it in plain ASCII (digits 0-9, letters a-z)", value=repr(shown))
    return None


def _choose(
    chosen: Chosen,
    option: str,
    value: str,
    loc: tuple[str | int, ...],
    where: str,
    source: str,
    problems: list[FieldError],
) -> None:
    """Set ``option`` from one source; within it, a later one replaces its family."""
    family = next((f for f in FAMILIES if option in f), frozenset({option}))
    clash = [o for o in family if o != option and o in chosen and chosen[o][3] == source]
    if clash and family in _EXCLUSIVE_WITHIN_SOURCE:
        others = ", ".join(f"--{o}" for o in sorted(clash))
        problems.append(
            FieldError(
                loc,
                Text(
                    "%(where)s cannot be combined with %(others)s: give only one of them",
                    where=where,
                    others=others,
                ),
            )
        )
    for other in family:
        chosen.pop(other, None)
    chosen[option] = (value, loc, where, source)


def _override(chosen: Chosen, key: str, raw: str | int | bool | None, problems: list[FieldError]) -> None:
    name = key.strip().lstrip("-").replace("_", "-")
    spec = lookup.resolve_option(name, where=Text("option %(key)s", key=repr(key)), loc=(key,))
    if raw is None or raw is False:
        return
    if raw is True:
        if spec.takes_value:
            problems.append(
                FieldError((spec.name,), Text("--%(option)s needs a value, not true", option=spec.name))
            )
            return
        raw = ""
    if not isinstance(raw, str | int):
        problems.append(
            FieldError((spec.name,), Text("--%(option)s: expected text or a number", option=spec.name))
        )
        return
    # The command line replaces the script's whole family (its --mem drops the script's
    # --mem-per-cpu), then one source's own clash rule applies.
    family = next((f for f in FAMILIES if spec.name in f), frozenset({spec.name}))
    for other in family:
        if other in chosen and chosen[other][3] == "script":
            chosen.pop(other)
    _choose(chosen, spec.name, str(raw), (spec.name,), f"--{spec.name}", "override", problems)


def _stored(field: str, value: object) -> object:
    """The JobSpec form of a read value where it differs (GRES as typed requests)."""
    if field == "gres":
        return tuple(GresRequest(name=n, type=t, count=c) for n, t, c in values.parse_gres(str(value)))
    return value
