"""`myriagate datasets list|show|get`: staged data, where it physically is, and verified copies.

``get`` streams each file to ``<dest>/<path>.part`` while hashing it, compares the sha256 with
the one the gateway recorded at stage-out, and only then renames it into place: a copy that
does not match is removed and the command fails (exit 7).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from myriagate.cli.client import GatewayClient, GatewayUnreachable, error_from_response
from myriagate.cli.context import open_gateway
from myriagate.cli.job_refs import resolve_job_id
from myriagate.cli.output import JsonOpt, WideOpt, console, guarded, print_json, print_table
from myriagate.cli.tables import Col
from myriagate.cli.uploads import CHUNK, auth_headers, progress_bar
from myriagate.domain.staging import relative_path
from myriagate.errors import ChecksumMismatch, FieldError, InvalidRequest, NotFound
from myriagate.web.api.schemas import DatasetDetail, DatasetFileOut, DatasetPage

datasets_app = typer.Typer(
    help="Datasets: staged results and inputs, where they are stored.", no_args_is_help=True
)


def parse_dataset_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a dataset id (a UUID as shown by `myriagate datasets list`)",
            fields=[FieldError(("dataset_id",), "not a UUID")],
        ) from None


# Ids, sizes, dates and checksums whole; on a narrow terminal the place, the owner, the project
# and the file count give way, then each dataset (or file) is shown as lines of its own.
LIST_COLUMNS = (Col("id", whole=True), Col("name", whole=False), Col("owner", whole=True, priority=3),
                Col("account", whole=True, priority=2), Col("files", whole=True, priority=1),
                Col("size", whole=True), Col("stored at", whole=False, priority=4),
                Col("created", whole=True))  # fmt: skip
FILE_COLUMNS = (Col("path", whole=False), Col("size", whole=True), Col("sha256", whole=True))


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
    """Datasets you may see (yours and your projects'), newest first."""
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
            (d.id, d.name, d.owner, d.account, d.file_count, _size(d.size_bytes), d.location.display,
             d.created_at.strftime("%Y-%m-%d %H:%M"))
            for d in page.items
        ],
        wide=wide,
    )  # fmt: skip


def _detail(client: GatewayClient, dataset_id: str) -> DatasetDetail:
    return DatasetDetail.model_validate(client.request("GET", f"/datasets/{dataset_id}").json())


@datasets_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
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
    out.print(f"produced by job: {detail.producer_job_id or '-'}")
    out.print(f"used as input by: {', '.join(str(u.job_id) for u in detail.consumed_by) or '-'}")
    print_table(FILE_COLUMNS, [(f.path, _size(f.size_bytes), f.sha256) for f in detail.files])


@datasets_app.command("get")
@guarded
def get(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    dest: Annotated[Path, typer.Option("--dest", help="Directory to write into (created).")] = Path("."),
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Only this file of the dataset (repeatable).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Download a dataset's files (or some of them), each verified against its recorded sha256."""
    with open_gateway(ctx) as client:
        detail = _detail(client, parse_dataset_id(dataset_id))
        files = _chosen(detail, path or [])
        written: list[dict[str, object]] = []
        with progress_bar(enabled=not json) as bar:
            task = bar.add_task(f"{len(files)} file(s)", total=sum(f.size_bytes for f in files))
            for item in files:
                target = _fetch(client, detail, item, dest, lambda n: bar.advance(task, n))
                written.append({"path": item.path, "file": str(target), "size_bytes": item.size_bytes,
                                "sha256": item.sha256})  # fmt: skip
    if json:
        print_json({"dataset_id": str(detail.id), "files": written})
    else:
        typer.echo(f"{len(written)} file(s) of {detail.id} written to {dest}, checksums verified.")


def _chosen(detail: DatasetDetail, paths: list[str]) -> list[DatasetFileOut]:
    by_path = {f.path: f for f in detail.files}
    if not paths:
        return list(detail.files)
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise NotFound(f"dataset {detail.id} has no file {missing[0]!r}")
    return [by_path[p] for p in dict.fromkeys(paths)]


def _fetch(
    client: GatewayClient,
    detail: DatasetDetail,
    item: DatasetFileOut,
    dest: Path,
    advance: Callable[[int], object],
) -> Path:
    rel = relative_path(item.path, "dataset file")  # never write outside --dest, whatever the server says
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.part"
    digest = hashlib.sha256()
    url = f"{client.base_url}/api/v1/datasets/{detail.id}/files/{quote(rel)}"
    try:
        with client._http.stream("GET", url, headers=auth_headers(client)) as response:
            if response.is_error:
                response.read()
                raise error_from_response(response)
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                    advance(len(chunk))
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise GatewayUnreachable(f"cannot reach {client.base_url}: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != item.sha256:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{rel}: received sha256 {digest.hexdigest()}, the dataset records {item.sha256}"
        )
    os.replace(partial, target)
    return target
