"""From `myriagate submit`'s arguments to the API's ``JobSubmit`` body.

Only the shape is checked here (a readable UTF-8 script, ``k=v`` parameters, option types);
what is allowed on the cluster is the server's decision, made once for every client.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from myriagate.errors import FieldError, InvalidRequest
from myriagate.web.api.schemas import JobSubmit, SbatchOptions


@dataclass(frozen=True)
class SubmitOptions:
    """sbatch-style options as typed on the command line (None: not given)."""

    partition: str | None = None
    time: str | None = None
    nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    mem_per_cpu: str | None = None
    gres: str | None = None
    array: str | None = None
    job_name: str | None = None
    output: str | None = None
    error: str | None = None
    account: str | None = None
    chdir: str | None = None


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
    options: SubmitOptions,
    *,
    cluster: str | None,
    template: str | None,
    params: Sequence[str],
    dry_run: bool,
) -> JobSubmit:
    """The request body for ``POST /jobs``."""
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
            template=template,
            params=parse_params(params),
            options=SbatchOptions(**{k: v for k, v in asdict(options).items() if v is not None}),
            dry_run=dry_run,
        )
    except ValidationError as exc:
        fields = [
            FieldError(tuple(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors(include_url=False)
        ]
        detail = "; ".join(f"{'.'.join(str(p) for p in f.loc)}: {f.message}" for f in fields)
        raise InvalidRequest(detail, fields=fields) from None
