"""The body of ``POST /jobs`` from ``Client.submit``'s arguments, shape-checked locally.

Only the shape is checked here (sbatch options through the API's own ``SbatchOptions``
model, so a misspelt one is refused with the valid names before anything is sent); what is
allowed on the cluster is the server's decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from myriagate.errors import FieldError, InvalidRequest, MyriagateError
from myriagate.web.api.staging_schemas import StagingIn
from myriagate.web.api.submit_schemas import JobSubmit, SbatchOptions

Option = str | int | bool
# ``Client.submit``'s keywords that are not sbatch options.
REQUEST_KEYWORDS = frozenset({"template", "params", "cluster", "input_datasets", "results", "store"})


def build_submission(
    script: str | None,
    *,
    dry_run: bool,
    staged: bool = False,
    template: str | None = None,
    params: Mapping[str, str | int] | None = None,
    cluster: str | None = None,
    input_datasets: Sequence[UUID | str] = (),
    results: Sequence[str] = (),
    store: str | None = None,
    options: Mapping[str, Option] | None = None,
    script_name: str | None = None,
) -> JobSubmit:
    """The request; ``staged``: input files will be uploaded (its ``upload_id`` is set then);
    ``script_name``: the file the script was read from, which names the job as in sbatch."""
    try:
        staging = None
        if staged or input_datasets or results or store:
            staging = StagingIn(
                input_datasets=[_dataset_uuid(d) for d in input_datasets],
                output_patterns=list(results),
                store=store,
            )
        return JobSubmit(
            cluster=cluster,
            script=script,
            script_name=script_name,
            template=template,
            params=dict(params or {}),
            options=SbatchOptions(**(options or {})),
            dry_run=dry_run,
            staging=staging,
        )
    except ValidationError as exc:
        raise _invalid(exc) from None


def read_script(path: Path) -> str:
    """A job script's text; a missing, unreadable or non-UTF-8 file is a clear exit-5 error."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InvalidRequest(
            f"no such script: {path}", fields=[FieldError(("script",), "not found")]
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{path} is not UTF-8 text (byte {exc.start}): save the script as UTF-8"
        ) from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None


def _dataset_uuid(value: UUID | str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(value.strip())
    except ValueError:
        raise InvalidRequest(f"--input-dataset {value!r} is not a dataset id (a UUID)") from None


def _invalid(exc: ValidationError) -> MyriagateError:
    fields = [
        FieldError(tuple(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors(include_url=False)
    ]
    summary = "; ".join(f"{'.'.join(map(str, f.loc)) or 'request'}: {f.message}" for f in fields)
    return InvalidRequest(summary, fields=fields)
