"""The job-script corpus: ``tests/data/scripts/*.sh`` and their expectations (``expected.toml``).

Scripts are read as bytes and kept exactly as written (CRLF line endings and a UTF-8 BOM are
part of the corpus). ``expected.toml`` documents each key; ``problems()`` says what is wrong
with the corpus as a whole, so one unit test keeps scripts and entries in step.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "data" / "scripts"
EXPECTED = SCRIPTS_DIR / "expected.toml"

Outcome = Literal["accepted", "rewritten", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "rewritten", "refused")
CAPABILITIES = frozenset({"gpu", "multinode", "features", "qos", "reservation", "licenses", "tmpdisk"})
STAGES = ("validation", "submission")
PLACEHOLDERS = ("@DEP@", "@HOME@", "@JOBID@")
_KEYS = {"story", "outcome", "args", "reason", "needs", "stage", "plain_sbatch", "dep_owner", "slurm"}


@dataclass(frozen=True)
class Placeholders:
    """Run-time values for ``@DEP@``, ``@HOME@`` and ``@JOBID@``."""

    dep: str = "4242"
    home: str = "/home/alice"
    job_id: str = ""

    def fill(self, text: str) -> str:
        return text.replace("@DEP@", self.dep).replace("@HOME@", self.home).replace("@JOBID@", self.job_id)


@dataclass(frozen=True)
class Entry:
    """One script and what it must give."""

    name: str
    story: str
    outcome: Outcome
    script: bytes
    args: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    needs: frozenset[str] = frozenset()
    stage: str = "validation"
    plain_sbatch: str = ""
    dep_owner: str = "self"
    slurm: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def uses_dependency(self) -> bool:
        return b"@DEP@" in self.script

    def script_with(self, values: Placeholders) -> bytes:
        return self.script.replace(b"@DEP@", values.dep.encode())

    def text_with(self, values: Placeholders) -> str:
        """The script as the gateway receives it from a browser or the CLI (UTF-8 text)."""
        return self.script_with(values).decode("utf-8")

    def overrides(self) -> dict[str, str]:
        """``args`` as the gateway's overrides: {"time": "00:30:00"}; a bare flag maps to ""."""
        out: dict[str, str] = {}
        for arg in self.args:
            name, _, value = arg.removeprefix("--").partition("=")
            out[name] = value
        return out

    def expected_fields(self, values: Placeholders) -> dict[str, tuple[str, ...]]:
        return {k: tuple(values.fill(v) for v in vs) for k, vs in self.slurm.items()}

    def reasons_with(self, values: Placeholders) -> tuple[str, ...]:
        return tuple(values.fill(r) for r in self.reasons)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(cast(list[str], value))
    raise TypeError(f"expected a string or a list of strings, got {value!r}")


def _entry(name: str, raw: Mapping[str, object], script: bytes) -> Entry:
    slurm = cast(Mapping[str, object], raw.get("slurm", {}))
    return Entry(
        name=name,
        story=str(raw.get("story", "")),
        outcome=cast(Outcome, raw.get("outcome")),
        script=script,
        args=_strings(raw.get("args", [])),
        reasons=_strings(raw.get("reason", "")),
        needs=frozenset(_strings(raw.get("needs", []))),
        stage=str(raw.get("stage", "validation")),
        plain_sbatch=str(raw.get("plain_sbatch", "")),
        dep_owner=str(raw.get("dep_owner", "self")),
        slurm={key: _strings(value) for key, value in slurm.items()},
    )


def raw_entries() -> dict[str, dict[str, object]]:
    with EXPECTED.open("rb") as handle:
        data = tomllib.load(handle)
    return cast(dict[str, dict[str, object]], data.get("scripts", {}))


def script_names() -> list[str]:
    return sorted(p.name for p in SCRIPTS_DIR.glob("*.sh"))


def load() -> list[Entry]:
    """Every entry of ``expected.toml`` with its script (sorted by name)."""
    raw = raw_entries()
    return [_entry(name, raw[name], (SCRIPTS_DIR / name).read_bytes()) for name in sorted(raw)]


def entry_problems(name: str, raw: Mapping[str, object]) -> list[str]:
    """What is wrong with one entry of ``expected.toml`` (empty when it is well formed)."""
    found = [f"{name}: unknown key {key!r}" for key in raw if key not in _KEYS]
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        return [*found, f"{name}: outcome {outcome!r} is not one of {', '.join(OUTCOMES)}"]
    if not str(raw.get("story", "")).strip():
        found.append(f"{name}: no story")
    try:
        args, reasons = _strings(raw.get("args", [])), _strings(raw.get("reason", ""))
        needs = _strings(raw.get("needs", []))
        slurm = {k: _strings(v) for k, v in cast(Mapping[str, object], raw.get("slurm", {})).items()}
    except (TypeError, AttributeError) as exc:
        return [*found, f"{name}: {exc}"]
    found += [f"{name}: argument {a!r} is not a long option (--name or --name=value)" for a in args
              if not a.startswith("--") or len(a) < 3]  # fmt: skip
    found += [f"{name}: unknown capability {n!r}" for n in needs if n not in CAPABILITIES]
    if outcome == "accepted" and reasons:
        found.append(f"{name}: an accepted script has no reason")
    if outcome != "accepted" and not reasons:
        found.append(f"{name}: a {outcome} script needs a reason (a phrase of the gateway's message)")
    if outcome == "refused" and slurm:
        found.append(f"{name}: a refused script has no Slurm fields")
    if outcome != "refused" and not slurm:
        found.append(f"{name}: an {outcome} script needs Slurm fields to check")
    found += [f"{name}: Slurm field {k!r} has no value" for k, v in slurm.items() if not v]
    if raw.get("stage", "validation") not in STAGES:
        found.append(f"{name}: stage must be one of {', '.join(STAGES)}")
    if raw.get("plain_sbatch", "") not in ("", "refuses"):
        found.append(f"{name}: plain_sbatch is either absent or 'refuses'")
    if raw.get("dep_owner", "self") not in ("self", "other"):
        found.append(f"{name}: dep_owner is 'self' or 'other'")
    return found


def script_problems(name: str, script: bytes, raw: Mapping[str, object]) -> list[str]:
    """What is wrong with one script file given its entry."""
    found: list[str] = []
    body = script.removeprefix(b"\xef\xbb\xbf")
    if not body.startswith(b"#!"):
        found.append(f"{name}: does not start with #! (after an optional BOM)")
    try:
        script.decode("utf-8")
    except UnicodeDecodeError:
        found.append(f"{name}: is not UTF-8")
    uses_dep = b"@DEP@" in script
    if uses_dep != ("dep_owner" in raw or _mentions_dependency(raw)):
        found.append(f"{name}: @DEP@ in the script and a Dependency field / dep_owner go together")
    return found


def _mentions_dependency(raw: Mapping[str, object]) -> bool:
    slurm = cast(Mapping[str, object], raw.get("slurm", {}))
    return "@DEP@" in str(slurm.get("Dependency", ""))


def problems() -> list[str]:
    """Everything wrong with the corpus: unpaired scripts or entries, malformed entries."""
    raw = raw_entries()
    names = set(script_names())
    found = [f"{n}: script without an entry in expected.toml" for n in sorted(names - set(raw))]
    found += [f"{n}: entry without a script" for n in sorted(set(raw) - names)]
    for name in sorted(set(raw) & names):
        found += entry_problems(name, raw[name])
        found += script_problems(name, (SCRIPTS_DIR / name).read_bytes(), raw[name])
    return found


def by_outcome(entries: Sequence[Entry]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for entry in entries:
        counts[entry.outcome] += 1
    return counts
