"""``/clusters/{cluster}/files/{area}/…``: the write operations on a researcher's cluster files
(mkdir, rename, copy, remove), disk usage and cluster-side wildcards, as their own login.

Every refusal is problem details (docs/files.md): a read-only area (403), a path that is
unsafe or goes through a link (422), an existing target (409), a directory that is not empty
removed without ``recursive=true`` (409), what the cluster refuses the login (403).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from myriagate.domain.file_changes import DEFAULT_USAGE_ENTRIES, DEFAULT_USAGE_SECONDS, Tally
from myriagate.domain.files import display_name
from myriagate.services.files.changes import FileChanges
from myriagate.web.api.file_change_schemas import (
    CopiedOut,
    CopyIn,
    FailedEntryOut,
    GlobOut,
    MadeDirectoriesOut,
    MakeDirectoryIn,
    RemovedOut,
    RenamedOut,
    RenameIn,
    UsageOut,
)
from myriagate.web.api.files import PathQuery, entry_out
from myriagate.web.deps import CurrentUser
from myriagate.web.problems import problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring_files import file_changes

router = APIRouter(route_class=ReleasingRoute, tags=["files"])
BASE = "/clusters/{cluster}/files/{area}"
_REFUSALS = problem_responses(403, 404, 409, 422, 502, 503)


async def get_file_changes(request: Request) -> FileChanges:
    """The write use cases of the app's gateway (built per request: it opens nothing)."""
    return file_changes(request.app.state.gateway)


ChangesDep = Annotated[FileChanges, Depends(get_file_changes)]


def _tally(done: Tally) -> dict[str, object]:
    return {
        "files": done.files,
        "directories": done.directories,
        "links": done.links,
        "others": done.others,
        "size_bytes": done.size_bytes,
        "skipped": [display_name(p) for p in done.skipped],
        "failed": [FailedEntryOut(path=display_name(p), reason=k, detail=d) for p, k, d in done.failed],
        "complete": not done.failed,
    }


@router.post(f"{BASE}/mkdir", status_code=201, responses=_REFUSALS, summary="Make a directory")
def make_directory(
    cluster: str, area: str, body: MakeDirectoryIn, user: CurrentUser, changes: ChangesDep
) -> MadeDirectoriesOut:
    made = changes.make_directory(user, cluster, area, body.path, parents=body.parents)
    path = made[-1] if made else body.path.encode("utf-8", "surrogateescape")
    return MadeDirectoriesOut(
        cluster=cluster, area=area, path=display_name(path), created=[display_name(p) for p in made]
    )


@router.post(f"{BASE}/rename", responses=_REFUSALS, summary="Rename or move an entry in its area")
def rename(cluster: str, area: str, body: RenameIn, user: CurrentUser, changes: ChangesDep) -> RenamedOut:
    """An existing target is kept (409) unless ``overwrite``; a link is moved as a link."""
    to = changes.rename(user, cluster, area, body.path, body.to, overwrite=body.overwrite)
    return RenamedOut(cluster=cluster, area=area, path=body.path, to=display_name(to))


@router.post(f"{BASE}/copy", status_code=201, responses=_REFUSALS, summary="Copy a file or a directory")
def copy(cluster: str, area: str, body: CopyIn, user: CurrentUser, changes: ChangesDep) -> CopiedOut:
    """A directory with ``recursive`` only, into a new one; links are copied as links, never
    followed; fifos, sockets and devices are skipped and named."""
    done = changes.copy(
        user, cluster, area, body.path, body.to, recursive=body.recursive, overwrite=body.overwrite
    )
    return CopiedOut(cluster=cluster, area=area, path=body.path, to=body.to, **_tally(done))  # type: ignore[arg-type]


@router.delete(f"{BASE}/entry", responses=_REFUSALS, summary="Remove a file, a link or a directory")
def remove(
    cluster: str,
    area: str,
    user: CurrentUser,
    changes: ChangesDep,
    path: PathQuery = None,
    recursive: Annotated[bool, Query(description="Required for a directory that is not empty")] = False,
    dry_run: Annotated[bool, Query(description="Count what would be removed; remove nothing")] = False,
) -> RemovedOut:
    """A link is removed, never what it points to. The answer counts what was removed."""
    done = changes.remove(user, cluster, area, path, recursive=recursive, dry_run=dry_run)
    return RemovedOut(cluster=cluster, area=area, path=path or "", dry_run=dry_run, **_tally(done))  # type: ignore[arg-type]


@router.get(f"{BASE}/usage", responses=_REFUSALS, summary="Disk usage under a directory (bounded)")
def usage(
    cluster: str,
    area: str,
    user: CurrentUser,
    changes: ChangesDep,
    path: PathQuery = None,
    max_entries: Annotated[int, Query(description="Stop after this many entries")] = DEFAULT_USAGE_ENTRIES,
    max_seconds: Annotated[float, Query(description="Stop after this long")] = DEFAULT_USAGE_SECONDS,
) -> UsageOut:
    """What du would say, without following links; ``partial`` with why when it stopped early."""
    found = changes.usage(user, cluster, area, path, max_entries=max_entries, max_seconds=max_seconds)
    return UsageOut(
        cluster=cluster,
        area=area,
        path=display_name(found.path),
        size_bytes_on_disk=found.bytes_on_disk,
        apparent_size_bytes=found.apparent_bytes,
        files=found.files,
        directories=found.directories,
        links=found.links,
        partial=found.partial,
        stopped=found.stopped,
        unreadable=found.unreadable,
        seconds=found.seconds,
    )


@router.get(f"{BASE}/glob", responses=_REFUSALS, summary="Entries a wildcard names, matched on the cluster")
def glob(
    cluster: str,
    area: str,
    user: CurrentUser,
    changes: ChangesDep,
    pattern: Annotated[str, Query(description="A path whose last name holds * ? or [...]")],
) -> GlobOut:
    found = changes.glob(user, cluster, area, pattern)
    return GlobOut(
        cluster=cluster,
        area=area,
        pattern=pattern,
        total=found.total,
        entries=[entry_out(e) for e in found.entries],
    )
