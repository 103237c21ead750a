"""`myriagate files put LOCAL... [AREA:]DEST`: local files uploaded into an area, as your own login.

As ``cp``: several files (or a wildcard) go into the directory DEST; one file goes to DEST, or
into it when DEST ends with '/' or is a directory on the cluster. Wildcards the shell left
alone (quoted: ``'runs/*.h5'``) are expanded here, on this machine. Every source is checked
before anything is sent (a directory, a missing file or a link leading nowhere is refused),
and an existing file on the cluster is refused unless ``--force``. Each file is hashed here,
streamed, checked by the cluster against that sha256, then put in place whole
(``client.file_upload``); an interrupted ``put`` run again resumes where it stopped.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.file_targets import RemotePath, locate, needs_roots, parse_remote
from myriagate.cli.files import ClusterOpt, files_app, human_size
from myriagate.cli.output import JsonOpt, guarded, print_json
from myriagate.cli.progress import TransferBar, wanted
from myriagate.client.client import Client
from myriagate.client.file_upload import upload_file
from myriagate.domain.files import FileKind
from myriagate.errors import InvalidRequest, MyriagateError, NotFound

_MAGIC = ("*", "?", "[")


def local_sources(patterns: list[str]) -> list[Path]:
    """The local files named, wildcards expanded here (sorted); refused whole when one names
    no file, a directory or anything but a regular file."""
    found: list[Path] = []
    for pattern in patterns:
        if not Path(pattern).exists() and any(m in pattern for m in _MAGIC):
            matched = sorted(glob.glob(pattern))
            if not matched:
                raise InvalidRequest(f"{pattern!r} matches no local file")
            found += [Path(m) for m in matched]
        else:
            found.append(Path(pattern))
    for source in found:
        if source.is_dir():
            raise InvalidRequest(f"{source} is a directory: files are uploaded one by one (no -r)")
        if not source.is_file():
            raise InvalidRequest(f"{source} is not a regular file here (missing, or a special file)")
    names = [s.name for s in found]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise InvalidRequest(f"several files would land on the same name: {', '.join(doubles)}")
    return found


def _is_remote_dir(client: Client, remote: RemotePath, cluster: str | None) -> bool:
    if not remote.path.strip("/"):
        return True
    try:
        return client.stat_file(remote.area, remote.path, cluster=cluster).type == FileKind.DIRECTORY
    except NotFound:
        return False


def plan(
    client: Client, sources: list[Path], dest: str, cluster: str | None
) -> list[tuple[Path, RemotePath]]:
    """Each local file with the place it goes on the cluster."""
    remote = locate(dest, client.file_areas(cluster)) if needs_roots(dest) else parse_remote(dest)
    into = len(sources) > 1 or dest.endswith("/") or _is_remote_dir(client, remote, cluster)
    if not into:
        return [(sources[0], remote)]
    directory = remote.path.strip("/")
    return [(s, RemotePath(remote.area, f"{directory}/{s.name}" if directory else s.name)) for s in sources]


def _send_all(
    client: Client, targets: list[tuple[Path, RemotePath]], done: list[dict[str, object]], *,
    force: bool, cluster: str | None, bar: bool,
) -> None:  # fmt: skip
    """Each file uploaded in turn, appended to ``done`` once placed."""
    with TransferBar(enabled=bar) as progress:
        for source, target in targets:
            try:
                placed = upload_file(
                    client, target.area, target.path, source,
                    cluster=cluster, overwrite=force, label=f"{source.name} -> {target}", progress=progress,
                )  # fmt: skip
            except MyriagateError as exc:
                if done:  # say what went before the failure, then fail as usual
                    typer.echo(f"({len(done)} of {len(targets)} file(s) uploaded before {source})", err=True)
                exc.detail = f"{source}: {exc.detail}"
                raise
            done.append({"file": str(source), "area": target.area, "path": placed.path,
                         "size_bytes": placed.size_bytes, "sha256": placed.sha256})  # fmt: skip


@files_app.command("put")
@guarded
def put(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(help="Local files (wildcards matched here), then [AREA:]DEST on the cluster."),
    ],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace files that exist on the cluster.")
    ] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Upload files to the cluster: streamed, sha256-checked, placed whole, resumed when interrupted."""
    if len(paths) < 2:
        raise InvalidRequest(
            "give the local file(s), then where they go: myriagate files put FILE... [AREA:]DEST"
        )
    sources = local_sources(paths[:-1])
    done: list[dict[str, object]] = []
    with open_gateway(ctx) as client:
        targets = plan(client, sources, paths[-1], cluster)
        try:
            _send_all(client, targets, done, force=force, cluster=cluster, bar=wanted(quiet=json))
        except KeyboardInterrupt:
            # ^C used to end the command without a word: say what is done and how to go on.
            stopped = targets[len(done)][0]
            typer.echo(
                f"Interrupted: {stopped} was not finished; the part the cluster received is kept "
                f"for a day: run the same command again to go on from there ({len(done)} of "
                f"{len(targets)} file(s) uploaded before it).",
                err=True,
            )
            raise typer.Exit(130) from None
    if json:
        print_json(done)
        return
    for item in done:
        size = item["size_bytes"]
        assert isinstance(size, int)
        typer.echo(f"{item['file']} -> {item['area']}:{item['path']} ({human_size(size)})")
