"""`myriagate submit --input …`: the input files, uploaded to a new upload before the submission.

Finding the files (directories walked, symlinks leading out refused before anything is sent)
and sending them with their sha256 is ``myriagate.client``'s work (``inputs``, ``transfers``),
shared with scripts; this module turns ``submit``'s staging options into the request's
``staging`` part and draws the transfer on stderr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from myriagate.cli.dataset_refs import resolve_dataset_id
from myriagate.cli.progress import TransferBar, wanted
from myriagate.client.client import Client
from myriagate.client.inputs import InputFile, collect_inputs
from myriagate.client.transfers import upload_files
from myriagate.web.api.staging_schemas import StagingIn
from myriagate.web.api.submit_schemas import JobSubmit

__all__ = ["InputFile", "StagingFlags", "collect_inputs", "upload_inputs", "with_staging"]


def upload_inputs(client: Client, files: Sequence[InputFile], *, show_progress: bool) -> UUID:
    """A new upload holding ``files``; its id for the submission's ``staging.upload_id``."""
    with TransferBar(enabled=show_progress and wanted()) as bar:
        return upload_files(client, files, bar)


@dataclass(frozen=True)
class StagingFlags:
    """`submit`'s staging options as typed."""

    inputs: Sequence[Path] = ()
    input_datasets: Sequence[str] = ()
    results: Sequence[str] = ()
    store: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.input_datasets or self.results or self.store)


def with_staging(
    client: Client,
    request: JobSubmit,
    flags: StagingFlags,
    files: Sequence[InputFile],
    *,
    show_progress: bool,
) -> JobSubmit:
    """The submission with its ``staging`` part; input files are uploaded first (not in a dry run)."""
    if flags.empty:
        return request
    # The ids `datasets list` shows, as every dataset command takes them (cli.dataset_refs).
    dataset_ids = [resolve_dataset_id(client, raw, option="--input-dataset") for raw in flags.input_datasets]
    upload_id = None
    if files and not request.dry_run:
        upload_id = upload_inputs(client, files, show_progress=show_progress)
    staging = StagingIn(
        upload_id=upload_id,
        input_datasets=dataset_ids,
        output_patterns=list(flags.results),
        store=flags.store,
    )
    return request.model_copy(update={"staging": staging})
