"""The submit form's sbatch option fields, generated from the sbatch option table.

Every accepted option whose surfaces include "form" is a field named as the API's option
(``cpus_per_task``), labelled with sbatch's name (``--cpus-per-task``) and helped in the
page's language. The common ones are shown at once; the others sit in one collapsible
section per group (``domain.sbatch_options.groups``), open when one of their fields is
filled in or refused. Flags are checkboxes; the partition and the account are chosen from
the cluster's partitions and the user's accounts, a value with a few fixed spellings
(``--open-mode``, ``--hint``) from those, a list of them (``--mail-type``'s events) as one
checkbox each; a text field shows its kind's example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import FormData

from myriagate.domain.sbatch_options import kinds, table
from myriagate.domain.sbatch_options.groups import GROUPS
from myriagate.domain.sbatch_options.kinds import ApiType
from myriagate.domain.sbatch_options.spec import OptionSpec

# Shown without opening anything: what nearly every job sets (job-name and account too, as
# the form always offered them).
COMMON = ("account", "partition", "time", "nodes", "ntasks", "cpus-per-task", "mem", "job-name")
CHECKED = "on"  # what a ticked checkbox posts
NOT_SET = "—"  # the blank choice of a fixed-choice option: sbatch's own default
# Values with a few fixed spellings, by kind: a select, not a field to type them in.
FIXED_CHOICES: dict[str, tuple[str, ...]] = {
    kinds.K_OPEN_MODE.name: ("append", "truncate"),
    kinds.K_YES_NO.name: ("yes", "no"),
    kinds.K_HINT.name: tuple(sorted(kinds.HINTS)),
}
# Lists of fixed spellings, by kind: a checkbox each, posted as repeated fields and joined.
_MAIL_EVENTS = "BEGIN END FAIL TIME_LIMIT TIME_LIMIT_90 TIME_LIMIT_80 TIME_LIMIT_50 REQUEUE INVALID_DEPEND"
LISTED_CHOICES: dict[str, tuple[str, ...]] = {
    kinds.K_MAIL_TYPES.name: (*_MAIL_EVENTS.split(), "STAGE_OUT", "ARRAY_TASKS", "ALL", "NONE"),
}

Widget = Literal["text", "number", "checkbox", "select", "checkboxes"]
_WIDGETS: dict[ApiType, Widget] = {"flag": "checkbox", "int": "number", "str": "text"}


@dataclass(frozen=True)
class OptionField:
    name: str  # the form field: the API's option name
    label: str  # sbatch's name, as researchers write it
    help: str
    widget: Widget
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    blank: str | None = None  # the select's empty choice
    example: str = ""  # a value of the right shape, shown greyed in an empty text field


@dataclass(frozen=True)
class OptionSection:
    key: str
    title: str
    fields: tuple[OptionField, ...]
    open: bool


@dataclass(frozen=True)
class OptionFields:
    common: tuple[OptionField, ...]
    sections: tuple[OptionSection, ...]


def form_options() -> tuple[OptionSpec, ...]:
    """The options the form offers, in the table's order."""
    return tuple(o for o in table.ACCEPTED if "form" in o.surfaces)


def _field(option: OptionSpec, lang: str, choices: Mapping[str, tuple[Sequence[str], str]]) -> OptionField:
    assert option.kind is not None
    label, help_text = f"--{option.name}", option.help.fr if lang == "fr" else option.help.en
    if option.python_name in choices:
        listed, blank = choices[option.python_name]
        return OptionField(option.python_name, label, help_text, "select", choices=tuple(listed), blank=blank)
    if option.kind.name in LISTED_CHOICES:
        listed = LISTED_CHOICES[option.kind.name]
        return OptionField(option.python_name, label, help_text, "checkboxes", choices=listed)
    if option.kind.name in FIXED_CHOICES:
        fixed = FIXED_CHOICES[option.kind.name]
        return OptionField(option.python_name, label, help_text, "select", choices=fixed, blank=NOT_SET)
    widget = _WIDGETS[option.kind.api_type]
    minimum = None
    if widget == "number":
        minimum = 0 if option.kind is kinds.K_NON_NEGATIVE else 1
    # A name's example ("normal") fits a QOS, not a reservation: names go without one.
    example = option.kind.example if widget == "text" and option.kind is not kinds.K_NAME else ""
    return OptionField(option.python_name, label, help_text, widget, minimum, example=example)


def option_fields(
    lang: str,
    values: Mapping[str, str],
    errors: Mapping[str, Any],
    choices: Mapping[str, tuple[Sequence[str], str]],
) -> OptionFields:
    """The form's option fields; ``choices`` maps a field to (its choices, the blank's text)."""
    options = form_options()
    fields = {o.name: _field(o, lang, choices) for o in options}
    common = tuple(fields[name] for name in COMMON if name in fields)
    sections = []
    for key, title in GROUPS.items():
        grouped = tuple(fields[o.name] for o in options if o.group == key and o.name not in COMMON)
        if grouped:
            touched = any(values.get(f.name, "").strip() or f.name in errors for f in grouped)
            sections.append(OptionSection(key, title.fr if lang == "fr" else title.en, grouped, touched))
    return OptionFields(common, tuple(sections))


def listed_values(form: FormData) -> dict[str, str]:
    """The options posted as one checkbox per value (``mail_type=END&mail_type=FAIL``), each
    joined as sbatch writes it (``END,FAIL``); the option's reader checks every value."""
    joined = {}
    for option in form_options():
        if option.kind is not None and option.kind.name in LISTED_CHOICES:
            ticked = [v for v in form.getlist(option.python_name) if isinstance(v, str) and v.strip()]
            if ticked:
                joined[option.python_name] = ",".join(ticked)
    return joined


def posted_options(values: Mapping[str, str]) -> dict[str, str | bool]:
    """The API's ``options`` of a posted form: filled-in fields (stripped), ticked flags."""
    chosen: dict[str, str | bool] = {}
    for option in form_options():
        assert option.kind is not None
        value = values.get(option.python_name, "").strip()
        if option.kind.api_type == "flag":
            if value == CHECKED:
                chosen[option.python_name] = True
        elif value:
            chosen[option.python_name] = value
    return chosen
