"""`myriagate datasets list|show|download`: staged data, where it physically is, and verified copies.

``download`` (alias ``get``) streams each file to ``<dest>/.<name>.part`` while hashing it,
compares the sha256 with the one the gateway recorded at stage-out, and only then renames it
into place: a copy that does not match is removed and the command fails (exit 7). The
transfer itself is ``myriagate.client``'s (``Client.download``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.dataset_refs import DATASET_REF_HELP, dataset_ref
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.job_refs import resolve_job_id
from myriagate.cli.output import JsonOpt, WideOpt, console, guarded, print_json, print_table
from myriagate.cli.progress import TransferBar, wanted
from myriagate.cli.tables import Col
from myriagate.client.client import Client
from myriagate.errors import InvalidRequest
from myriagate.web.api.staging_schemas import DatasetDetail, DatasetPage

datasets_app = typer.Typer(
    cls=OneLineHelpGroup,
    help="Datasets: staged results and inputs, where they are stored.",
    no_args_is_help=True,
)


def parse_dataset_id(text: str) -> str:
    """A dataset reference as typed: the full id or the short id `datasets list` shows (the
    gateway says which dataset it names; ``cli.dataset_refs``)."""
    return dataset_ref(text)


# Ids, sizes, dates and checksums whole; on a narrow terminal the place, the owner, the project
# and the file count give way, then each dataset (or file) is shown as lines of its own.
LIST_COLUMNS = (Col("id", whole=True), Col("name", whole=False), Col("owner", whole=True, priority=3),
                Col("account", whole=True, priority=2), Col("files", whole=True, priority=1),
                Col("size", whole=True), Col("stored at", whole=False, priority=4),
                Col("created", whole=True))  # fmt: skip
FILE_COLUMNS = (Col("path", whole=False, folds=False), Col("size", whole=True), Col("sha256", whole=True))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@datasets_app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", "-A", help="Only this project.")] = None,
    job: Annotated[
        str | None, typer.Option("--job", help="Only datasets this job used or produced (any job id).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200, help="At most this many.")] = 50,
    wide: WideOpt = False,
    json: JsonOpt = False,
) -> None:
    """Datasets you may see (yours and your projects'), newest first, by the short id every
    dataset command takes (--wide: full ids)."""
    params = {"account": account, "job": job, "limit": limit}
    with open_gateway(ctx) as client:
        if job is not None:  # a short id or a Slurm id names the job as in `jobs` commands
            params["job"] = str(resolve_job_id(client, job))
        page = DatasetPage.model_validate(client.request("GET", "/datasets", params=params).json())
    if json:
        print_json([d.model_dump(mode="json") for d in page.items])
        return
    print_table(
        LIST_COLUMNS,
        [
            (d.short_id if d.short_id and not wide else d.id, d.name, d.owner, d.account, d.file_count,
             _size(d.size_bytes), d.location.display,
             d.created_at.astimezone().strftime("%Y-%m-%d %H:%M"))  # local, as jobs list
            for d in page.items
        ],
        wide=wide,
    )  # fmt: skip


def _detail(client: Client, dataset_id: str) -> DatasetDetail:
    return client.dataset(dataset_id)


@datasets_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help=DATASET_REF_HELP, show_default=False)],
    json: JsonOpt = False,
) -> None:
    """One dataset: its files with checksums, where it is stored, and the jobs that used it."""
    with open_gateway(ctx) as client:
        detail = _detail(client, parse_dataset_id(dataset_id))
    if json:
        print_json(detail.model_dump(mode="json"))
        return
    out = console()
    loc = detail.location
    out.print(f"{detail.name}  ({detail.id})")
    out.print(f"stored at: {loc.display} — endpoint {loc.endpoint}, operated by {loc.operator}")
    out.print(f"owner: {detail.owner}   project: {detail.account or '-'}   cluster: {detail.cluster}")
    if detail.saved_from:  # a directory saved from a file area (issue #17)
        out.print(f"saved by {detail.owner} from {detail.saved_from}")
    else:
        out.print(f"produced by job: {detail.producer_job_id or '-'}")
    out.print(f"used as input by: {', '.join(str(u.job_id) for u in detail.consumed_by) or '-'}")
    print_table(FILE_COLUMNS, [(f.path, _size(f.size_bytes), f.sha256) for f in detail.files])


@datasets_app.command("download")
@guarded
def download(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help=DATASET_REF_HELP, show_default=False)],
    into: Annotated[
        Path | None, typer.Argument(metavar="[DEST]", help="Directory to write into (created); default '.'.")
    ] = None,
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Directory to write into, as DEST (created).")
    ] = None,
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Only this file of the dataset (repeatable).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Download a dataset's files (or some of them), each verified against its recorded sha256."""
    if into is not None and dest is not None and into != dest:
        raise InvalidRequest(f"two destinations: {str(into)!r} and --dest {str(dest)!r}; give one")
    dest = into or dest or Path(".")
    with open_gateway(ctx) as client:
        detail = _detail(client, parse_dataset_id(dataset_id))
        with TransferBar(enabled=wanted(quiet=json)) as bar:
            targets = client.download(detail, dest, paths=path or (), progress=bar)
    by_path = {f.path: f for f in detail.files}
    chosen = [by_path[p] for p in dict.fromkeys(path)] if path else detail.files  # as download chose
    written = [
        {"path": f.path, "file": str(target), "size_bytes": f.size_bytes, "sha256": f.sha256}
        for f, target in zip(chosen, targets, strict=True)
    ]
    if json:
        print_json({"dataset_id": str(detail.id), "files": written})
    else:
        typer.echo(
            f"{len(written)} file(s) of {detail.short_id or detail.id} written to {dest}, checksums verified."
        )


# `get` as the first version named it; hidden so --help shows one name per command.
datasets_app.command("get", hidden=True, help="Same as `download`.")(download)


# Datasets into and out of file areas (issue #17): a module of their own.
from myriagate.cli.dataset_transfers import copy_to_command  # noqa: E402  (after datasets_app: no cycle)

datasets_app.command("copy-to")(copy_to_command)
