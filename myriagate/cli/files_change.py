"""`myriagate files mkdir|mv|cp|rm|du`: change your files on the cluster, as your own login.

Paths are ``[AREA:]PATH`` as for ``files ls`` (``home`` unless named; ``~/x`` and an absolute
path under an area's root are placed in their area). A wildcard in the last name
(``scratch:run*/out`` is refused, ``scratch:run1/*.log`` is not) is sent to the gateway and
matched on the cluster against the names the directory holds, inside the area: no shell ever
expands it. A name that is not plain text (a newline, a byte that is not UTF-8) is skipped
with a warning: it cannot be named back yet. ``mv`` and ``cp`` stay within one area.
``rm -r`` counts first and asks before it removes (``--yes`` when not at a terminal).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from myriagate.cli.context import open_gateway
from myriagate.cli.file_targets import RemotePath, pattern_of
from myriagate.cli.files import ClusterOpt, _remote, files_app, human_size
from myriagate.cli.output import JsonOpt, guarded, print_json, print_table, warn
from myriagate.cli.tables import Col
from myriagate.client.client import Client
from myriagate.errors import BackendError, InvalidRequest, NotFound, PermissionDenied
from myriagate.web.api.file_change_schemas import TallyOut

PathsArg = Annotated[
    list[str], typer.Argument(help="[AREA:]PATH on the cluster; the last name may hold * ? [...].")
]
USAGE_COLUMNS = (Col("path", whole=False), Col("on disk", whole=True), Col("size", whole=True),
                 Col("files", whole=True), Col("dirs", whole=True), Col("complete", whole=True))  # fmt: skip


def expand(client: Client, remote: RemotePath, cluster: str | None) -> list[RemotePath]:
    """``remote`` itself, or the entries its wildcard names, matched on the cluster."""
    if pattern_of(remote.path) is None:
        return [remote]
    found = client.glob_files(remote.area, remote.path.rstrip("/"), cluster=cluster)
    out: list[RemotePath] = []
    for entry in found.entries:
        if entry.exact:
            out.append(RemotePath(remote.area, entry.path))
        else:
            warn(f"skipped {remote.area}:{entry.path}: its name is not plain text: it cannot be named yet")
    if found.total > len(found.entries):
        warn(f"{remote} names {found.total} entries: only the first {len(found.entries)} are taken")
    if not found.entries:
        raise NotFound(f"nothing matches {remote} on the cluster")
    if not out:  # every match skipped: nothing was done, which is not a success
        raise NotFound(f"nothing that matches {remote} can be named (see the warnings above)")
    return out


def _sources(client: Client, texts: list[str], cluster: str | None) -> list[RemotePath]:
    return [one for text in texts for one in expand(client, _remote(client, text, cluster), cluster)]


def _number(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _counted(done: TallyOut) -> str:
    """ "12 files, 3 directories, 1 link, 1.2 GiB": what a copy or removal did (or would do)."""
    parts = [_number(done.files, "file", "files"), _number(done.directories, "directory", "directories")]
    if done.links:
        parts.append(_number(done.links, "link", "links"))
    if done.others:
        parts.append(_number(done.others, "other entry", "other entries"))
    return ", ".join(parts) + f", {human_size(done.size_bytes)}"


def _report_failures(done: TallyOut, area: str) -> list[str]:
    for path in done.skipped:
        warn(f"skipped {area}:{path}: not a file, directory or link (a fifo, socket or device)")
    for failed in done.failed:
        warn(f"{area}:{failed.path}: {failed.reason}: {failed.detail}")
    return [f.reason for f in done.failed]


def _fail_if(reasons: list[str], what: str) -> None:
    if not reasons:
        return
    verb = "copy" if what == "cp" else "remove"  # a copy is refused reading, not changing
    if all(r == "permission" for r in reasons):
        entries = _number(len(reasons), "entry", "entries")
        raise PermissionDenied(
            f"{what}: the cluster did not let your login {verb} {entries} (see the warnings)"
        )
    entries = _number(len(reasons), "entry", "entries")
    raise BackendError(f"{what}: {entries} could not be done (see the warnings)")


@files_app.command("mkdir")
@guarded
def mkdir(
    ctx: typer.Context,
    paths: PathsArg,
    parents: Annotated[
        bool, typer.Option("--parents", "-p", help="Make missing parents; no error if it exists.")
    ] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Make directories on the cluster."""
    made = []
    with open_gateway(ctx) as client:
        for text in paths:
            remote = _remote(client, text, cluster)
            made.append(client.make_directory(remote.area, remote.path, parents=parents, cluster=cluster))
    if json:
        print_json([m.model_dump(mode="json") for m in made])
        return
    for m in made:
        for path in m.created:
            typer.echo(f"made {m.area}:{path}")


def _targets(
    client: Client, sources: list[RemotePath], dest: str, cluster: str | None
) -> list[tuple[RemotePath, str]]:
    """(source, its new path) for ``mv``/``cp``: into ``dest`` when it is a directory (or
    must be one: several sources, a trailing '/'), else ``dest`` itself; one area only."""
    target = _remote(client, dest, cluster)
    if pattern_of(target.path) is not None:
        raise InvalidRequest(f"the destination {dest!r} must not hold wildcards")
    for source in sources:
        if source.area != target.area:
            raise InvalidRequest(
                f"{source} and {target} are in different areas: mv and cp stay within one area"
            )
    into = len(sources) > 1 or dest.endswith("/") or not target.path.strip("/")
    if not into:
        try:
            into = client.stat_file(target.area, target.path, cluster=cluster).type == "directory"
        except NotFound:
            into = False
    base = target.path.strip("/")
    if not into:
        return [(sources[0], base)]
    return [(s, f"{base}/{s.path.rstrip('/').rpartition('/')[2]}".lstrip("/")) for s in sources]


@files_app.command("mv")
@guarded
def mv(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="SOURCE... DEST, as [AREA:]PATH (one area).")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing target.")] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Rename or move entries within an area; an existing target is kept unless --force."""
    if len(paths) < 2:
        raise InvalidRequest("mv needs a SOURCE and a DEST")
    done = []
    with open_gateway(ctx) as client:
        for source, to in _targets(client, _sources(client, paths[:-1], cluster), paths[-1], cluster):
            done.append(client.rename_file(source.area, source.path, to, overwrite=force, cluster=cluster))
            if not json:
                typer.echo(f"{source} -> {source.area}:{to}")
    if json:
        print_json([d.model_dump(mode="json") for d in done])


@files_app.command("cp")
@guarded
def cp(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="SOURCE... DEST, as [AREA:]PATH (one area).")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Copy directories and what they hold.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing file.")] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Copy files (directories with -r) within an area. Links are copied as links, never
    followed; fifos, sockets and devices are skipped."""
    if len(paths) < 2:
        raise InvalidRequest("cp needs a SOURCE and a DEST")
    done, reasons = [], []
    with open_gateway(ctx) as client:
        for source, to in _targets(client, _sources(client, paths[:-1], cluster), paths[-1], cluster):
            copied = client.copy_on_cluster(
                source.area, source.path, to, recursive=recursive, overwrite=force, cluster=cluster
            )
            done.append(copied)
            reasons += _report_failures(copied, source.area)
            if not json:
                typer.echo(f"{source} -> {source.area}:{to} ({_counted(copied)})")
    if json:
        print_json([d.model_dump(mode="json") for d in done])
    _fail_if(reasons, "cp")


def _confirmed(client: Client, target: RemotePath, yes: bool, cluster: str | None) -> bool:
    """Whether to remove ``target`` recursively: counted first, then asked at a terminal."""
    if yes:
        return True
    would = client.remove_file(target.area, target.path, recursive=True, dry_run=True, cluster=cluster)
    if not sys.stdin.isatty():
        raise InvalidRequest(
            f"rm -r {target} would remove {_counted(would)}: not at a terminal to ask, "
            "so nothing was removed "
            "(add --yes to remove without asking)"
        )
    return typer.confirm(f"Remove {target} and everything in it ({_counted(would)})?", default=False)


@files_app.command("rm")
@guarded
def rm(
    ctx: typer.Context,
    paths: PathsArg,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Remove directories and what they hold.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-f", "--force", help="Do not ask before rm -r.")] = False,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove files, links (the link itself) and empty directories; with -r directories and
    what they hold, after saying how much and asking (--yes when not at a terminal)."""
    done, reasons = [], []
    with open_gateway(ctx) as client:
        for target in _sources(client, paths, cluster):
            if recursive and not _confirmed(client, target, yes, cluster):
                warn(f"{target} kept")
                continue
            removed = client.remove_file(target.area, target.path, recursive=recursive, cluster=cluster)
            done.append(removed)
            reasons += _report_failures(removed, target.area)
            if not json:  # what could not go keeps its directories: not "removed"
                said = "removed" if removed.complete else "partly removed (the warnings name what was kept)"
                typer.echo(f"{said} {target} ({_counted(removed)})")
    if json:
        print_json([d.model_dump(mode="json") for d in done])
    _fail_if(reasons, "rm")


@files_app.command("du")
@guarded
def du(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None, typer.Argument(help="[AREA:]PATH (default: each of your areas).")
    ] = None,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", min=0.1, max=120, help="Stop counting after this long.")
    ] = 20.0,
    max_entries: Annotated[
        int, typer.Option("--max-entries", min=1, help="Stop after this many entries.")
    ] = 1_000_000,
    cluster: ClusterOpt = None,
    json: JsonOpt = False,
) -> None:
    """Disk usage on the cluster (links never followed), bounded in time and entries; a figure
    that stopped early says so (partial: time, entries, or unreadable directories)."""
    with open_gateway(ctx) as client:
        if paths:
            targets = [_remote(client, text, cluster) for text in paths]
        else:
            targets = [RemotePath(a.name, "") for a in client.file_areas(cluster)]
        found = [
            client.disk_usage(
                t.area, t.path, max_entries=max_entries, max_seconds=max_seconds, cluster=cluster
            )
            for t in targets
        ]
    if json:
        print_json([u.model_dump(mode="json") for u in found])
        return
    rows = [
        (f"{u.area}:{u.path}", human_size(u.size_bytes_on_disk), human_size(u.apparent_size_bytes), u.files,
         u.directories, "yes" if not u.partial else f"no ({u.stopped})")
        for u in found
    ]  # fmt: skip
    print_table(USAGE_COLUMNS, rows)
    for u in found:
        if u.partial:
            warn(f"{u.area}:{u.path}: partial figure ({u.stopped}): at least this much")
