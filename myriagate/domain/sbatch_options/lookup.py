"""Which accepted option a written name means, by sbatch's getopt rules and the table."""

from __future__ import annotations

from myriagate.domain.sbatch_options import names, table
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.errors import FieldError, JobSpecInvalid, Text, UnsafeValue


def resolve_option(written: str, *, where: str, loc: tuple[str | int, ...] = ()) -> OptionSpec:
    """The accepted option ``--written`` names (sbatch's getopt reading), or why not."""
    loc = loc or (written,)
    accepted = {o.name for o in table.ACCEPTED}
    try:
        name = names.resolve(written, suggestions=accepted).name
    except names.AmbiguousOption as exc:
        choices = ", ".join(f"--{c}" for c in exc.candidates)
        message = Text(
            "--%(written)s is ambiguous: it could be %(choices)s", written=written, choices=choices
        )
        raise JobSpecInvalid(_at(where, message), fields=[FieldError(loc, message)]) from None
    except names.UnknownOption as exc:
        hint = Text("; did you mean --%(option)s?", option=exc.suggestion) if exc.suggestion else ""
        message = Text("--%(written)s is not an sbatch option%(hint)s", written=written, hint=hint)
        raise UnsafeValue(_at(where, message), fields=[FieldError(loc, message)]) from None
    spec = table.BY_NAME.get(table.ALIASES.get(name, name))
    if spec is None:
        reason = Text(
            "--%(option)s is an sbatch option the gateway does not offer; ask the support team if you "
            "need it",
            option=name,
        )
        raise UnsafeValue(_at(where, reason), fields=[FieldError(loc, reason)])
    return accepted_or_raise(spec, where=where, loc=loc)


def accepted_or_raise(spec: OptionSpec, *, where: str, loc: tuple[str | int, ...]) -> OptionSpec:
    if spec.policy == "refused":
        # The table's reason in English, said in French by the catalogs (web/i18n reads the
        # table's own French for it).
        reason = Text(spec.reason.en) if spec.reason else Text("refused")
        refused = Text(
            "%(where)s: --%(option)s is not allowed: %(reason)s", where=where, option=spec.name, reason=reason
        )
        raise UnsafeValue(refused, fields=[FieldError(loc, reason)])
    return spec


def _at(where: str, message: str) -> Text:
    return Text("%(where)s: %(problem)s", where=where, problem=message)
