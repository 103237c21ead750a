"""From `myriagate submit`'s arguments to the API's ``JobSubmit`` body.

Only the shape is checked here (a readable UTF-8 script, ``k=v`` parameters, option types
through the API's own ``SbatchOptions`` model); what is allowed on the cluster is the
server's decision, made once for every client.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from myriagate.domain.field_messages import field_message
from myriagate.errors import FieldError, InvalidRequest
from myriagate.web.api.submit_schemas import JobSubmit, SbatchOptions


def read_script(path: Path) -> str:
    """The script's text; a missing, unreadable or non-UTF-8 file is a clear exit-5 error."""
    if str(path) == "-":
        data = sys.stdin.buffer.read()
        where = "standard input"
    else:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidRequest(
                f"no such script: {path}", fields=[FieldError(("script",), "not found")]
            ) from None
        except IsADirectoryError:
            raise InvalidRequest(f"{path} is a directory, not a job script") from None
        except OSError as exc:
            raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
        where = str(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{where} is not UTF-8 text (byte {exc.start}): save the script as UTF-8",
            fields=[FieldError(("script",), "not UTF-8")],
        ) from None


def parse_params(pairs: Sequence[str]) -> dict[str, str | int]:
    """``--param k=v`` pairs; values stay text (the server converts them by the template)."""
    params: dict[str, str | int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(
                f"--param {pair!r}: expected NAME=VALUE",
                fields=[FieldError(("params",), "expected NAME=VALUE")],
            )
        params[key.strip()] = value
    return params


def build_submission(
    script: Path | None,
    options: Mapping[str, str | int | bool],
    *,
    cluster: str | None,
    template: str | None,
    params: Sequence[str],
    dry_run: bool,
) -> JobSubmit:
    """The request body for ``POST /jobs``; ``options`` are the sbatch options given, by
    their Python names (``cpus_per_task``), True for a flag."""
    if script is not None and template is not None:
        raise InvalidRequest("give either a SCRIPT or --template, not both")
    if script is None and template is None:
        raise InvalidRequest("give a job SCRIPT (or `-` for stdin), or --template NAME")
    if params and template is None:
        raise InvalidRequest("--param needs --template")
    try:
        return JobSubmit(
            cluster=cluster,
            script=read_script(script) if script is not None else None,
            # sbatch names a job after its script's file; stdin gives no name.
            script_name=script.name if script is not None and str(script) != "-" else None,
            template=template,
            params=parse_params(params),
            options=sbatch_options(options),
            dry_run=dry_run,
        )
    except ValidationError as exc:
        raise _invalid(exc, lambda loc: ".".join(loc)) from None


def sbatch_options(options: Mapping[str, str | int | bool]) -> SbatchOptions:
    """The API's model of the options; a refused value names the option as it was typed
    (``--ntasks-per-node: …``)."""
    try:
        return SbatchOptions(**options)
    except ValidationError as exc:
        raise _invalid(exc, lambda loc: "--" + "-".join(loc).replace("_", "-"), prefix=("options",)) from None


def _invalid(
    exc: ValidationError, name: Callable[[tuple[str, ...]], str], prefix: tuple[str, ...] = ()
) -> InvalidRequest:
    fields = []
    messages = []
    for err in exc.errors(include_url=False):
        loc = tuple(str(p) for p in err["loc"])
        message = field_message(err)  # people's words, not pydantic's "Input should be …"
        fields.append(FieldError(prefix + loc, message))
        messages.append(f"{name(loc)}: {message}" if loc else message)
    return InvalidRequest("; ".join(messages), fields=fields)
