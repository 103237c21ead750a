"""Job-script templates (Jinja2) and the last step before sbatch.

Every ``{{ value }}`` is shell-quoted (``shlex.quote``) unless it goes through ``|raw``, which
accepts only integers. Template parameters are declared in ``<name>.toml`` next to
``<name>.sh.j2`` and are checked before rendering. Templates render the script body only;
resources always come from the validated JobSpec, as sbatch options on the argv.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal, cast

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from myriagate.domain import values
from myriagate.domain.directives import check_script_text, header_lines, is_directive_line
from myriagate.domain.jobs import GresRequest, JobSpec, RenderedScript
from myriagate.domain.sbatch_options import table as sbatch_table
from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.domain.sent_script import HANDLED_PREFIX
from myriagate.errors import (
    ConfigError,
    FieldError,
    JobSpecInvalid,
    MyriagateError,
    Text,
    UnsafeValue,
    joined,
)
from myriagate.settings import Settings

_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # \t and \n are fine inside quotes
_GRES_PART = re.compile(r"^[A-Za-z0-9_.-]+\Z")


# --- template metadata ------------------------------------------------------------------
class LocalizedText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    en: str
    fr: str


class TemplateParameter(BaseModel):
    """One parameter a template accepts, as declared in its ``.toml`` file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["int", "str", "choice", "path"]
    default: int | str | None = None
    required: bool = False
    min: int | None = None
    max: int | None = None
    max_length: int = Field(default=4096, ge=1)
    choices: tuple[str, ...] = ()
    # What the form calls the field, in both languages (the name when absent: a site's template).
    label: LocalizedText | None = None
    help: LocalizedText

    @model_validator(mode="after")
    def _consistent(self) -> TemplateParameter:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"parameter {self.name}: type choice needs choices")
        if self.required and self.default is not None:
            raise ValueError(f"parameter {self.name}: a required parameter has no default")
        return self


class TemplateMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: LocalizedText
    description: LocalizedText
    parameters: tuple[TemplateParameter, ...] = ()
    # sbatch options the web form fills in when the template is chosen ("array" = "0-9"), by
    # sbatch's long name; the researcher may change them. Resources still come from the
    # submission only: the API and the CLI never apply these.
    sbatch: dict[str, str] = Field(default_factory=dict)
    # Options a submission of this template must give (its script cannot run without them,
    # as the array template without --array): the API and CLI refuse it before anything runs.
    requires: tuple[str, ...] = ()

    @field_validator("requires")
    @classmethod
    def _required_options(cls, given: tuple[str, ...]) -> tuple[str, ...]:
        for name in given:
            if name not in sbatch_table.BY_NAME or sbatch_table.BY_NAME[name].kind is None:
                raise ValueError(f"requires: {name!r} is not an sbatch option the gateway accepts")
        return given

    @field_validator("sbatch")
    @classmethod
    def _form_options(cls, given: dict[str, str]) -> dict[str, str]:
        for name, value in given.items():
            option = sbatch_table.BY_NAME.get(name)
            if option is None or option.kind is None or "form" not in option.surfaces:
                raise ValueError(f"sbatch.{name}: not an option of the submit form")
            try:
                option.kind.read(value, ReadContext())
            except MyriagateError as exc:
                raise ValueError(f"sbatch.{name}: {exc.detail}") from None
        return given


# --- quoting ----------------------------------------------------------------------------
class _Raw(str):
    """A value already known to be safe unquoted (an integer), produced only by ``|raw``."""

    __slots__ = ()


def _raw(value: object) -> _Raw:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsafeValue(f"|raw is only for validated integers, not {type(value).__name__}")
    return _Raw(str(value))


def _quote_everything(value: object) -> str:
    """Jinja ``finalize``: every substituted value leaves as one shell word."""
    if isinstance(value, _Raw):
        return str(value)
    return shlex.quote(str(value))


# --- renderer ---------------------------------------------------------------------------
def bundled_scripts_dir() -> Path:
    """``templates/scripts`` as shipped in the package (a real directory once installed)."""
    found = resources.files("myriagate._bundled") / "templates" / "scripts"
    if not isinstance(found, Path):
        raise ConfigError("the bundled script templates are not on a file system (zipped install?)")
    return found


class JinjaScriptRenderer:
    """Job-script templates from ``<templates_dir>/scripts`` first, then the bundled ones."""

    # What a template's .toml is read as (interactive apps add their connection rule).
    meta_model: type[TemplateMeta] = TemplateMeta

    def __init__(
        self, settings: Settings | None = None, *, search_dirs: Sequence[Path] | None = None
    ) -> None:
        if search_dirs is None:
            search_dirs = []
            if settings is not None and settings.templates_dir is not None:
                search_dirs.append(settings.templates_dir / "scripts")
            search_dirs.append(bundled_scripts_dir())
        self._dirs = [Path(d) for d in search_dirs]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in self._dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # noqa: S701 -- shell scripts, not HTML; values are shell-quoted instead
            finalize=_quote_everything,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["raw"] = _raw

    def template_names(self) -> list[str]:
        names: set[str] = set()
        for directory in self._dirs:
            if directory.is_dir():
                names.update(p.name.removesuffix(".sh.j2") for p in directory.glob("*.sh.j2"))
        return sorted(n for n in names if _TEMPLATE_NAME.match(n))

    def metadata(self, template: str) -> TemplateMeta:
        self._check_name(template)
        for directory in self._dirs:
            path = directory / f"{template}.toml"
            if path.is_file():
                try:
                    meta = self.meta_model.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
                except (tomllib.TOMLDecodeError, ValidationError) as exc:
                    raise ConfigError(f"{path}: invalid template metadata: {exc}") from exc
                if meta.name != template:
                    raise ConfigError(f"{path}: name = {meta.name!r} but the template is {template!r}")
                return meta
        raise ConfigError(f"template {template!r} has no metadata file {template}.toml")

    def render(self, template: str, params: dict[str, object]) -> str:
        """The script body for ``template`` with ``params`` checked against its metadata."""
        meta = self.metadata(template)
        checked = validate_params(meta, params)
        try:
            text = self._env.get_template(f"{template}.sh.j2").render(**checked)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"template {template!r} uses an undeclared parameter: {exc}") from exc
        except UnsafeValue as exc:
            raise ConfigError(f"template {template!r} misuses |raw: {exc.detail}") from exc
        except jinja2.TemplateError as exc:
            raise ConfigError(f"template {template!r} is broken: {exc}") from exc
        return text

    def _check_name(self, template: str) -> None:
        if not _TEMPLATE_NAME.match(template) or template not in self.template_names():
            raise JobSpecInvalid(
                f"unknown template {template!r}; available: {', '.join(self.template_names())}",
                fields=[FieldError(("template",), "unknown template")],
            )


def validate_params(meta: TemplateMeta, params: Mapping[str, object]) -> dict[str, int | str]:
    """Parameter values converted and checked; every problem listed in one JobSpecInvalid."""
    problems: list[FieldError] = []
    declared = {p.name for p in meta.parameters}
    for key in params:
        if key not in declared:
            valid = ", ".join(sorted(declared)) or Text("none")
            unknown = Text("unknown parameter %(key)s; valid: %(valid)s", key=repr(key), valid=valid)
            problems.append(FieldError(("params", key), unknown))
    checked: dict[str, int | str] = {}
    unsafe = False
    for param in meta.parameters:
        given = params.get(param.name)
        if given is None or given == "":
            if param.required:
                problems.append(
                    FieldError(("params", param.name), Text("%(name)s is required", name=param.name))
                )
                continue
            given = param.default
        if given is None:
            checked[param.name] = ""
            continue
        try:
            checked[param.name] = _check_param(param, given)
        except MyriagateError as exc:
            unsafe = unsafe or isinstance(exc, UnsafeValue)
            problem = Text("%(where)s: %(problem)s", where=param.name, problem=exc.detail)
            problems.append(FieldError(("params", param.name), problem))
    if problems:
        cls = UnsafeValue if unsafe else JobSpecInvalid
        raise cls(joined([p.message for p in problems]), fields=problems)
    return checked


def _check_param(param: TemplateParameter, value: object) -> int | str:
    if param.type == "int":
        if isinstance(value, bool):
            raise JobSpecInvalid(Text("must be a whole number"))
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise JobSpecInvalid(Text("must be a whole number"))
        if param.min is not None and value < param.min:
            raise JobSpecInvalid(Text("must be at least %(ge)s", ge=param.min))
        if param.max is not None and value > param.max:
            raise JobSpecInvalid(Text("must be at most %(le)s", le=param.max))
        return value
    if not isinstance(value, str):
        raise JobSpecInvalid(Text("must be text"))
    if param.type == "choice":
        if value not in param.choices:
            raise JobSpecInvalid(
                Text(
                    "%(value)s is not one of %(choices)s", value=repr(value), choices=", ".join(param.choices)
                )
            )
        return value
    if param.type == "path":
        return values.file_pattern(value, param.name)
    if len(value) > param.max_length:
        raise UnsafeValue(Text("longer than %(max_length)s characters", max_length=param.max_length))
    if _TEXT_CONTROL.search(value):
        raise UnsafeValue(Text("contains a control character"))
    return value


# --- the script handed to sbatch --------------------------------------------------------
def prepare_script(script_text: str, spec: JobSpec) -> RenderedScript:
    """The script with its own ``#SBATCH`` lines neutralised, and sbatch options from ``spec``.

    The directives were already read into ``spec`` (``domain.directives``); rewriting them
    here means the script itself can no longer pass any option to sbatch, whatever it holds.
    """
    check_script_text(script_text)
    if not script_text.startswith("#!"):
        raise JobSpecInvalid(
            "the script must start with an interpreter line such as #!/bin/bash",
            fields=[FieldError(("script", 1), "missing #! line")],
        )
    lines = script_text.split("\n")
    for line_no, line in header_lines(script_text):
        if is_directive_line(line) or line.startswith(("#PBS", "#BSUB")):
            lines[line_no - 1] = HANDLED_PREFIX + line[1:]
    return RenderedScript(text="\n".join(lines), sbatch_args=sbatch_args(spec))


def sbatch_args(spec: JobSpec) -> tuple[str, ...]:
    """Long sbatch options for ``spec`` in the option table's order, one argv element each.

    Every value is re-read by its option's reader before it is written, so a JobSpec built
    by hand (not through ``merge``) cannot smuggle anything the table would refuse.
    """
    args: list[str] = []
    context = ReadContext(home=None)
    for option in sbatch_table.ACCEPTED:
        assert option.kind is not None and option.field is not None
        value = getattr(spec, option.field)
        if value is None or value == () or value is False:
            continue
        args.append(_sbatch_arg(option, value, context))
    # sbatch also reads #PBS/#BSUB lines anywhere in the first lines of a script; never.
    args.append("--ignore-pbs")
    return tuple(args)


def _sbatch_arg(option: OptionSpec, value: object, context: ReadContext) -> str:
    assert option.kind is not None
    if option.field == "gres":
        gres = cast("tuple[GresRequest, ...]", value)
        for request in gres:
            for part in (request.name, request.type):
                if part is not None and not _GRES_PART.match(part):
                    raise UnsafeValue(f"gres {part!r} is not a valid GRES name")
        text = ",".join(g.render() for g in gres)
    elif option.kind.bare is not None:  # a flag, or --exclusive's optional value
        if value in (True, "node"):
            return f"--{option.name}"
        option.kind.read(str(value), context)  # "user" or "mcs"; a flag's reader refuses any value
        return f"--{option.name}={value}"
    else:
        text = option.kind.write(value)
    if option.name == "chdir":
        values.file_pattern(text, "chdir")  # already absolute under home or relative
    else:
        option.kind.read(text, context)  # written back the way it was read: re-checked
    return f"--{option.name}={text}"
