"""`myriagate files save-dataset AREA:PATH --name NAME --store caen` and `myriagate datasets
copy-to DATASET AREA:PATH`: datasets into and out of your file areas (issue #17).

Both are run by the gateway's worker as your own cluster login; the command prints the
transfer's id at once, or with ``--wait`` follows it and exits 0 once completed (7 when it
failed, with its reason). ``AREA:PATH`` is as for the other ``files`` commands (``home`` when
no area is named; ``~/x`` or ``/scratch/alice/x`` placed in their area).
"""

from __future__ import annotations

from typing import Annotated

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.file_targets import RemotePath, locate, needs_roots, parse_remote
from myriagate.cli.output import JsonOpt, guarded, print_json
from myriagate.client.client import Client
from myriagate.errors import StagingError
from myriagate.web.api.transfer_schemas import DatasetTransferOut

ClusterOpt = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow the transfer until it ends.")]


def _remote(client: Client, text: str, cluster: str | None) -> RemotePath:
    return locate(text, client.file_areas(cluster)) if needs_roots(text) else parse_remote(text)


def _report(client: Client, transfer: DatasetTransferOut, *, wait: bool, json: bool) -> None:
    if wait:
        transfer = client.wait_transfer(transfer.id)
    note = transfer.note_said or transfer.note  # the gateway's words in the caller's language
    if json:
        print_json(transfer.model_dump(mode="json"))
    elif transfer.state == "completed":
        typer.echo(f"{note} (dataset {transfer.dataset_id})")
    elif transfer.state != "failed":
        typer.echo(f"{transfer.id} {transfer.state}: run the command with --wait to follow it")
    if transfer.state == "failed":
        raise StagingError(note or "the transfer failed")


def save_dataset(
    ctx: typer.Context,
    where: Annotated[str, typer.Argument(metavar="AREA:PATH", help="The directory to save.")],
    name: Annotated[str, typer.Option("--name", help="The dataset's name.")],
    store: Annotated[str, typer.Option("--store", help="Storage endpoint (see `clusters NAME`).")] = "caen",
    account: Annotated[
        str | None, typer.Option("--account", "-A", help="Its project (default: your only one).")
    ] = None,
    cluster: ClusterOpt = None,
    wait: WaitOpt = False,
    json: JsonOpt = False,
) -> None:
    """Save a directory of a file area as a dataset on a storage endpoint, checksummed."""
    with open_gateway(ctx) as client:
        remote = _remote(client, where, cluster)
        transfer = client.save_dataset(
            remote.area, remote.path, name=name, store=store, account=account, cluster=cluster
        )
        _report(client, transfer, wait=wait, json=json)


def copy_to(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(help="Dataset id.")],
    where: Annotated[str, typer.Argument(metavar="AREA:PATH", help="The directory to copy it into.")],
    replace: Annotated[
        bool, typer.Option("--replace", help="The directory may exist: same-named files are replaced.")
    ] = False,
    wait: WaitOpt = False,
    json: JsonOpt = False,
) -> None:
    """Copy a dataset into a directory of a writable file area, each file's sha256 verified."""
    from myriagate.cli.datasets import parse_dataset_id  # datasets.py registers this command

    with open_gateway(ctx) as client:
        dataset = client.dataset(parse_dataset_id(dataset_id))
        remote = _remote(client, where, dataset.cluster)
        transfer = client.copy_dataset(dataset.id, remote.area, remote.path, replace=replace)
        _report(client, transfer, wait=wait, json=json)


save_dataset_command = guarded(save_dataset)
copy_to_command = guarded(copy_to)
