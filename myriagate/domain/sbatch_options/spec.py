"""One entry of the sbatch option table (``table.py``): its names, value, surfaces and policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from myriagate.domain.sbatch_options.kinds import Kind

Surface = Literal["script", "cli", "api", "form"]
Policy = Literal["accepted", "rewritten", "refused"]
EVERYWHERE: frozenset[Surface] = frozenset({"script", "cli", "api", "form"})
NOT_FORM: frozenset[Surface] = frozenset({"script", "cli", "api"})
SCRIPT_ONLY: frozenset[Surface] = frozenset({"script"})


@dataclass(frozen=True)
class Text:
    en: str
    fr: str


@dataclass(frozen=True)
class OptionSpec:
    """One sbatch option as the gateway treats it."""

    name: str  # sbatch's long name, without dashes
    help: Text
    kind: Kind | None = None  # None for refused options
    field: str | None = None  # the JobSpec field that holds it
    short: str | None = None
    aliases: tuple[str, ...] = ()  # other names sbatch (or older sbatch) reads as this option
    surfaces: frozenset[Surface] = EVERYWHERE
    policy: Policy = "accepted"
    reason: Text | None = None  # refused: why; rewritten: what the gateway does instead
    cost: str = ""  # how it enters the cost estimate and hold ("" when it does not)
    group: str = "other"  # the form section

    @property
    def python_name(self) -> str:
        return self.name.replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return self.kind is not None and self.kind.bare is None


def t(en: str, fr: str) -> Text:
    return Text(en, fr)


def refused(name: str, en: str, fr: str, *, short: str | None = None) -> OptionSpec:
    return OptionSpec(name, t("", ""), short=short, surfaces=frozenset(), policy="refused", reason=t(en, fr))
