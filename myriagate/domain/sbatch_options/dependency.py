"""``--dependency``: read the expression, and write it back with Slurm's own job ids.

A script or the command line names the jobs it waits for by gateway id (a full UUID, or its
first 8+ hex digits as the CLI shows them) or by Slurm job id (``123``, ``123_4``). The
expression is read here; the submission service looks every id up among the jobs **of the
same login** and writes Slurm's ids (``Dependency.with_slurm_ids``), refusing anybody else's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.errors import JobSpecInvalid, Text

TYPES = ("after", "afterany", "afterburstbuffer", "aftercorr", "afternotok", "afterok", "singleton")
ACCEPTED_TYPES = frozenset({"after", "afterany", "aftercorr", "afternotok", "afterok", "singleton"})
# fullmatch everywhere: "$" also matches before a final newline ("123\n" read as a job id);
# ASCII digits only: \d also takes other scripts' digits.
_SLURM_ID = re.compile(r"\d{1,12}(?:_\d{1,9})?", re.ASCII)
_GATEWAY_ID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{0,4}){0,7}")
_TIME = re.compile(r"\d{1,6}", re.ASCII)
# Each id is looked up in the database at submission: a script or request naming thousands
# (one line can hold 100,000) would cost seconds of server time. An array is one id.
MAX_JOBS = 256


@dataclass(frozen=True)
class JobRef:
    """One job a dependency names, as written; ``minutes`` is ``after:<id>+<minutes>``."""

    text: str
    minutes: int | None = None

    @property
    def is_slurm_id(self) -> bool:
        return bool(_SLURM_ID.fullmatch(self.text))


@dataclass(frozen=True)
class Clause:
    type: str
    jobs: tuple[JobRef, ...] = ()

    def render(self, ids: Callable[[JobRef], str]) -> str:
        if self.type == "singleton":
            return "singleton"
        parts = [ids(j) + (f"+{j.minutes}" if j.minutes is not None else "") for j in self.jobs]
        return ":".join([self.type, *parts])


@dataclass(frozen=True)
class Dependency:
    clauses: tuple[Clause, ...]
    any_of: bool = False  # clauses joined by '?' (any one satisfied) instead of ',' (all)

    @property
    def refs(self) -> tuple[JobRef, ...]:
        return tuple(j for c in self.clauses for j in c.jobs)

    def with_slurm_ids(self, slurm_id_of: Callable[[JobRef], str]) -> str:
        sep = "?" if self.any_of else ","
        return sep.join(c.render(slurm_id_of) for c in self.clauses)

    def __str__(self) -> str:
        return self.with_slurm_ids(lambda j: j.text)


def parse(text: str) -> Dependency:
    value = text.strip()
    if "," in value and "?" in value:
        raise JobSpecInvalid(
            Text("%(text)s: join dependencies with ',' (all) or '?' (any), not both", text=repr(text))
        )
    any_of = "?" in value
    clauses = tuple(_clause(part, text) for part in value.split("?" if any_of else ",") if part)
    if not clauses:
        raise JobSpecInvalid(Text("--dependency needs a type and job ids, such as afterok:1234"))
    named = sum(max(len(c.jobs), 1) for c in clauses)
    if named > MAX_JOBS:
        raise JobSpecInvalid(
            Text(
                "--dependency names %(named)s jobs; at most %(max_jobs)s may be named (make them one job "
                "array and name the array)",
                named=named,
                max_jobs=MAX_JOBS,
            )
        )
    return Dependency(clauses, any_of)


def _clause(part: str, text: str) -> Clause:
    kind, _, rest = part.partition(":")
    kind = kind.lower()
    if kind not in TYPES:
        raise JobSpecInvalid(
            Text(
                "%(text)s: %(kind)s is not a dependency type; use %(accepted_types)s",
                text=repr(text),
                kind=repr(kind),
                accepted_types=", ".join(sorted(ACCEPTED_TYPES)),
            )
        )
    if kind not in ACCEPTED_TYPES:
        raise JobSpecInvalid(
            Text(
                "%(text)s: %(kind)s dependencies are not offered (no burst buffers here)",
                text=repr(text),
                kind=kind,
            )
        )
    if kind == "singleton":
        if rest:
            raise JobSpecInvalid(Text("%(text)s: singleton takes no job ids", text=repr(text)))
        return Clause(kind)
    refs = tuple(_ref(r, kind, text) for r in rest.split(":") if r)
    if not refs:
        raise JobSpecInvalid(
            Text(
                "%(text)s: %(kind)s needs at least one job id, such as %(kind)s:1234",
                text=repr(text),
                kind=kind,
            )
        )
    return Clause(kind, refs)


def _ref(word: str, kind: str, text: str) -> JobRef:
    ident, plus, minutes = word.partition("+")
    if plus and (kind != "after" or not _TIME.fullmatch(minutes)):
        raise JobSpecInvalid(Text("%(text)s: only after:<id>+<minutes> takes a delay", text=repr(text)))
    if not (_SLURM_ID.fullmatch(ident) or _GATEWAY_ID.fullmatch(ident)):
        raise JobSpecInvalid(
            Text(
                "%(text)s: %(ident)s is not a job id (a gateway id or a Slurm job id)",
                text=repr(text),
                ident=repr(ident),
            )
        )
    return JobRef(ident.lower(), int(minutes) if plus else None)


def read(text: str, _: ReadContext) -> str:
    """The Kind reader: the expression checked and written back in one canonical form."""
    return str(parse(text))
