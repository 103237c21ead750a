"""Which accepted option a written name means, by sbatch's getopt rules and the table."""

from __future__ import annotations

from myriagate.domain.sbatch_options import names, table
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.errors import FieldError, JobSpecInvalid, UnsafeValue


def resolve_option(written: str, *, where: str, loc: tuple[str | int, ...] = ()) -> OptionSpec:
    """The accepted option ``--written`` names (sbatch's getopt reading), or why not."""
    loc = loc or (written,)
    accepted = {o.name for o in table.ACCEPTED}
    try:
        name = names.resolve(written, suggestions=accepted).name
    except names.AmbiguousOption as exc:
        choices = ", ".join(f"--{c}" for c in exc.candidates)
        message = f"--{written} is ambiguous: it could be {choices}"
        raise JobSpecInvalid(f"{where}: {message}", fields=[FieldError(loc, message)]) from None
    except names.UnknownOption as exc:
        hint = f"; did you mean --{exc.suggestion}?" if exc.suggestion else ""
        message = f"--{written} is not an sbatch option{hint}"
        raise UnsafeValue(f"{where}: {message}", fields=[FieldError(loc, message)]) from None
    spec = table.BY_NAME.get(table.ALIASES.get(name, name))
    if spec is None:
        reason = table.not_offered(name).en
        raise UnsafeValue(f"{where}: {reason}", fields=[FieldError(loc, reason)])
    return accepted_or_raise(spec, where=where, loc=loc)


def accepted_or_raise(spec: OptionSpec, *, where: str, loc: tuple[str | int, ...]) -> OptionSpec:
    if spec.policy == "refused":
        reason = spec.reason.en if spec.reason else "refused"
        raise UnsafeValue(
            f"{where}: --{spec.name} is not allowed: {reason}", fields=[FieldError(loc, reason)]
        )
    return spec
