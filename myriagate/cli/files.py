"""`myriagate files areas|ls|get|cat`: your files on the cluster, read as your own login.

Paths are ``[AREA:]PATH`` (``home`` when no area is named; ``myriagate files areas`` lists
them), relative to the area's root; a path copied from a shell, ``~``, ``~/x`` or an absolute
path under an area's root (``/scratch/alice/x``), is placed in that area. File contents
(``cat``) reach the terminal with control characters spelled out (``cli.terminal_text``;
``--raw`` for the text as it is); ``get FILE -`` writes the bytes to stdout, as they are.
Names are shown as the gateway shows them: literally, with control characters, backslashes
and bytes that are not UTF-8 escaped (``\\n``, ``\\\\``, ``\\xff``). ``get`` streams each file
to ``.<name>.part`` and renames it into place once its size is checked; an interrupted ``get``
run again resumes where it stopped.
Wildcards in the last name (``home:results/*.h5``) are matched here against the listing,
never on the cluster.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from myriagate.cli.context import language, open_gateway
from myriagate.cli.file_targets import (
    RemotePath,
    locate,
    match_files,
    needs_roots,
    parse_remote,
    pattern_of,
    target_for,
)
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, RawOpt, WideOpt, guarded, print_json, print_table, warn
from myriagate.cli.progress import TransferBar, wanted
from myriagate.cli.tables import Col
from myriagate.cli.terminal_text import visible
from myriagate.client.client import Client
from myriagate.domain.files import SortKey
from myriagate.errors import AlreadyExists, InvalidRequest
from myriagate.web.api.files_schemas import FileEntryOut

files_app = typer.Typer(
    cls=OneLineHelpGroup,
    help="Your files on the cluster: areas, listings, previews and downloads, as your own login.",
    no_args_is_help=True,
)

ClusterOpt = Annotated[str | None, typer.Option("--cluster", "-M", help="Cluster (default: the gateway's).")]
RemoteArg = Annotated[str, typer.Argument(help="[AREA:]PATH on the cluster (area: home unless named).")]
AREA_COLUMNS = (Col("area", whole=True), Col("label", whole=False), Col("root", whole=False),
                Col("writable", whole=True, priority=1))  # fmt: skip
LONG_COLUMNS = (Col("permissions", whole=True), Col("size", whole=True), Col("modified", whole=True),
                Col("name", whole=False))  # fmt: skip


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@files_app.command("areas")
@guarded
def areas(ctx: typer.Context, cluster: ClusterOpt = None, json: JsonOpt = False) -> None:
    """Your file areas on the cluster (home, scratch, …) and their roots for your login."""
    with open_gateway(ctx) as client:
        found = client.file_areas(cluster)
    if json:
        print_json([a.model_dump(mode="json") for a in found])
        return
    french = language() == "fr"
    rows = [(a.name, a.label_fr if french else a.label, a.root, "yes" if a.writable else "no") for a in found]
    print_table(AREA_COLUMNS, rows)


def _shown_name(entry: FileEntryOut) -> str:
    if entry.link_target is not None:
        return f"{entry.name} -> {entry.link_target}"
    return entry.name


@files_app.command("ls")
@guarded
def ls(
    ctx: typer.Context,
    where: RemoteArg = "",
    long: Annotated[bool, typer.Option("--long", "-l", help="Permissions, size and time too.")] = False,
    sort: Annotated[SortKey, typer.Option("--sort", help="Order by name, size or mtime.")] = SortKey.NAME,
    reverse: Annotated[bool, typer.Option("--reverse", "-r", help="Reverse the order.")] = False,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Names starting with '.' too.")] = False,
    cluster: ClusterOpt = None,
    wide: WideOpt = False,
    json: JsonOpt = False,
) -> None:
    """A directory on the cluster, every entry (directories end with '/' in the short form)."""
    with open_gateway(ctx) as client:
        remote = _remote(client, where, cluster)
        entries = client.list_files(remote.area, remote.path, cluster=cluster, sort=sort, descending=reverse)
    if not all_:
        entries = [e for e in entries if not e.name.startswith(".")]
    if json:
        print_json([e.model_dump(mode="json") for e in entries])
    elif long:
        rows = [
            (e.permissions, human_size(e.size_bytes), e.modified_at.astimezone().strftime("%Y-%m-%d %H:%M"),
             _shown_name(e))
            for e in entries
        ]  # fmt: skip
        print_table(LONG_COLUMNS, rows, wide=wide)
    else:
        for e in entries:
            sys.stdout.write(f"{e.name}/\n" if e.type == "directory" else f"{e.name}\n")


def _remote(client: Client, text: str, cluster: str | None) -> RemotePath:
    """``[AREA:]PATH``, or a path copied from a shell (``~/x``, ``/scratch/alice/x``) placed in
    its area by the roots the gateway gives for this login."""
    return locate(text, client.file_areas(cluster)) if needs_roots(text) else parse_remote(text)


def _to_stdout(client: Client, remote: RemotePath, cluster: str | None) -> None:
    """``files get FILE -``: the one file's bytes on stdout, as they are (as ``cat``, for a pipe)."""
    if pattern_of(remote.path) is not None:
        raise InvalidRequest(f"'-' writes one file to stdout: {remote} may name several (give one name)")
    if not remote.path.rstrip("/"):
        raise InvalidRequest(f"{str(remote)!r} names no file: say which one ({remote.area}:PATH)")
    sys.stdout.flush()
    client.copy_file(remote.area, remote.path, sys.stdout.buffer, cluster=cluster)


def _sources(
    client: Client, remote: RemotePath, cluster: str | None
) -> tuple[list[FileEntryOut] | None, bool]:
    """The listed files a wildcard names (None for a plain path) and whether it was one."""
    pattern = pattern_of(remote.path)
    if pattern is None:
        return None, False
    listed = client.list_files(remote.area, pattern.directory, cluster=cluster)
    matched = match_files(listed, pattern, remote)
    for entry, why in matched.skipped:
        warn(f"skipped {remote.area}:{entry.path}: {why}")
    return matched.files, True


@files_app.command("get")
@guarded
def get(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="[AREA:]PATH; the last name may hold wildcards (* ? [...]), matched here.")
    ],
    dest: Annotated[
        str, typer.Argument(help="Local file or directory (created for several files); - for stdout.")
    ] = ".",
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace local files that exist.")] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Download files from the cluster, streamed, size checked, resumed when interrupted."""
    with open_gateway(ctx) as client:
        remote = _remote(client, source, cluster)
        if dest == "-":
            _to_stdout(client, remote, cluster)
            return
        files, globbed = _sources(client, remote, cluster)
        into = globbed or dest.endswith(("/", "\\"))
        local = Path(dest)
        if into and local.exists() and not local.is_dir():
            raise InvalidRequest(f"{dest} is not a directory: several files go into a directory")
        if files is None:
            name = remote.path.rstrip("/").rpartition("/")[2]
            if not name:
                raise InvalidRequest(f"{source!r} names no file: say which one ({remote.area}:PATH)")
            plan = [(remote.path, target_for(name, local, into=into))]
        else:
            plan = [(e.path, target_for(e.name, local, into=True)) for e in files]
        existing = [str(t) for _, t in plan if t.exists() or t.is_symlink()]
        if existing and not force:  # refused before any byte moves, whichever file it is
            verb = "already exists" if len(existing) == 1 else "already exist"
            raise AlreadyExists(f"{', '.join(existing)} {verb}: not overwritten (--force to replace)")
        if into:
            local.mkdir(parents=True, exist_ok=True)
        written: list[tuple[str, Path, int]] = []
        try:
            with TransferBar(enabled=wanted(quiet=json)) as bar:
                for path, target in plan:
                    done = client.download_file(
                        remote.area, path, target, cluster=cluster, progress=bar, overwrite=force
                    )
                    written.append((path, done, done.stat().st_size))
        except KeyboardInterrupt:  # ^C ended it without a word: say what is kept and how to go on
            stopped, into_file = plan[len(written)]
            typer.echo(f"Interrupted: {remote.area}:{stopped} was not finished; what arrived is kept "
                       f"beside {into_file}: run the same command again to go on from there "
                       f"({len(written)} of {len(plan)} file(s) fetched before it).", err=True)  # fmt: skip
            raise typer.Exit(130) from None
    if json:
        print_json([{"area": remote.area, "path": p, "file": str(f), "size_bytes": n} for p, f, n in written])
        return
    for path, done, size in written:
        typer.echo(f"{remote.area}:{path} -> {done} ({human_size(size)})")


@files_app.command("cat")
@guarded
def cat(
    ctx: typer.Context,
    where: RemoteArg,
    tail: Annotated[bool, typer.Option("--tail", help="The end of the file instead of its start.")] = False,
    max_bytes: Annotated[
        int, typer.Option("--bytes", "-c", min=1, max=1 << 20, help="Show at most this many bytes.")
    ] = 65536,
    cluster: ClusterOpt = None,
    raw: RawOpt = False,
    json: JsonOpt = False,
) -> None:
    """Print the start (or --tail: the end) of a text file on the cluster, up to 1 MiB.

    Control characters in it (terminal escapes) are shown as ^[ and the like, never obeyed by
    your terminal, even through a pipe; --raw writes the text as it is."""
    with open_gateway(ctx) as client:
        remote = _remote(client, where, cluster)
        shown = client.preview_file(remote.area, remote.path, cluster=cluster, tail=tail, max_bytes=max_bytes)
    if json:
        print_json(shown.model_dump(mode="json"))
        return
    sys.stdout.write(shown.text if raw else visible(shown.text))
    if shown.truncated:
        part = "last" if tail else "first"
        sys.stderr.write(
            f"({part} {len(shown.text.encode())} of {shown.size_bytes} bytes shown: "
            f"`myriagate files get {remote}` for the whole file)\n"
        )


# The write commands (mkdir, mv, cp, rm, du) live in their own module and add themselves to files_app.
from myriagate.cli import files_change as _files_change  # noqa: E402, F401 - registers its commands

# Datasets into and out of file areas (issue #17): a module of their own.
from myriagate.cli.dataset_transfers import save_dataset_command  # noqa: E402  (after files_app: no cycle)

files_app.command("save-dataset")(save_dataset_command)

# Uploads (put) live in their own module and add themselves to files_app.
from myriagate.cli import files_put as _files_put  # noqa: E402, F401 - registers its command
