"""The API's ``SbatchOptions`` model, built from the sbatch option table.

One field per accepted option offered on the "api" surface, named as sbatch's long option with
underscores (``cpus_per_task``), typed by the option's kind and described by its help text, so
adding an option to the table adds it here. Values are checked once, on the server, by the
same readers as ``#SBATCH`` lines (``domain.sbatch_options.merge``); this model only shapes
them. A misspelt field is refused with the list of valid names (``extra="forbid"``).
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from myriagate.domain.sbatch_options import kinds, table
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.web.api.api_model import ApiModel

DOC = (
    "Options named as sbatch's long options (underscores for dashes); they override the "
    "script's #SBATCH directives, as on the command line. A flag is true to set it; false or "
    "null leaves the script's choice. docs/job-scripts.md lists every option."
)


class SbatchOptionsBase(ApiModel):
    # A misspelt option is an error listing the valid names, never silently ignored.
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _known_names(cls, data: Any, handler: ModelWrapValidatorHandler[SbatchOptionsBase]) -> Any:
        """A misspelt option keeps its place (``["options", "partiton"]``) and its message names
        the closest option and every valid one."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            if not any(e["type"] == "extra_forbidden" for e in errors):
                raise
            valid = tuple(cls.model_fields)
            details = [_unknown(e, valid) if e["type"] == "extra_forbidden" else _kept(e) for e in errors]
            raise ValidationError.from_exception_data(exc.title, details) from None


def _unknown(error: ErrorDetails, valid: tuple[str, ...]) -> InitErrorDetails:
    message = unknown_option_message(str(error["loc"][-1]), valid)
    kind = PydanticCustomError("unknown_option", message)
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])


def _kept(error: ErrorDetails) -> InitErrorDetails:
    if "ctx" in error:
        return InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"], ctx=error["ctx"])
    return InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])


def unknown_option_message(name: str, valid: tuple[str, ...]) -> str:
    """``--partiton``-style mistakes: the closest name, then every valid one."""
    close = difflib.get_close_matches(name.strip().lstrip("-").replace("-", "_"), valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{name!r} is not an option here{hint} Valid options: {', '.join(valid)}"


def api_options() -> tuple[OptionSpec, ...]:
    """The options the API takes, in the table's order."""
    return tuple(o for o in table.ACCEPTED if "api" in o.surfaces)


def description(option: OptionSpec) -> str:
    """The option's English help, with its example value when it takes one."""
    assert option.kind is not None
    example = option.kind.example
    if option.kind.api_type == "flag" or not example:
        return option.help.en
    return f"{option.help.en} Example: {example}"


def field_type(option: OptionSpec) -> Any:
    """The Python type of the option's field (always optional: null leaves the script's value)."""
    assert option.kind is not None
    if option.kind is kinds.K_EXCLUSIVE:
        # --exclusive alone (true) is whole nodes; sbatch also takes --exclusive=user|mcs.
        return bool | Literal["user", "mcs"] | None
    return {"int": int | None, "flag": bool | None, "str": str | None}[option.kind.api_type]


def field_of(option: OptionSpec) -> tuple[Any, Any]:
    """``(type, FieldInfo)`` for ``create_model``."""
    assert option.kind is not None
    extra: dict[str, Any] = {}
    if option.kind.api_type == "int":
        # The readers refuse the same values; saying so here puts the bound in the schema.
        extra["ge"] = 0 if option.kind is kinds.K_NON_NEGATIVE else 1
    example = option.kind.example
    if example and option.kind.api_type != "flag":
        extra["examples"] = [int(example) if option.kind.api_type == "int" else example]
    return field_type(option), Field(default=None, description=description(option), **extra)


def build_sbatch_options() -> type[SbatchOptionsBase]:
    fields: dict[str, Any] = {o.python_name: field_of(o) for o in api_options()}
    model: type[SbatchOptionsBase] = create_model(
        "SbatchOptions", __base__=SbatchOptionsBase, __doc__=DOC, __module__=__name__, **fields
    )
    return model
